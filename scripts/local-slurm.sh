#!/usr/bin/env bash
# A real single-node Slurm (Debian's slurmctld + slurmd, auth/none) on this machine, for the
# `--executor slurm` tests and benchmark. Runs as root, without systemd.
#
#   scripts/local-slurm.sh          start it (idempotent: a second call sees it running), wait until the node is idle
#   scripts/local-slurm.sh stop     stop both daemons
#   scripts/local-slurm.sh status   exit 0 when the controller answers
#
# Everything lives under $VPT_SLURM_DIR (default /var/tmp/vpt-slurm): slurm.conf, state, spool,
# pid and log files. Clients find the cluster through SLURM_CONF=$VPT_SLURM_DIR/slurm.conf; when
# /etc/slurm/slurm.conf does not exist it is linked there too, so plain `sbatch` works in any shell.
# Facts this relies on (Slurm 22.05, Debian 12): auth/none + cred/none need no munge; the host
# name may differ from `localhost`, so slurmd runs as `-N localhost`; without slurmdbd there is
# no accounting (sacct fails), job state comes from squeue/scontrol (kept MinJobAge seconds).
set -euo pipefail

DIR="${VPT_SLURM_DIR:-/var/tmp/vpt-slurm}"
CONF="$DIR/slurm.conf"
export SLURM_CONF="$CONF"
action="${1:-start}"

log() { printf 'local-slurm: %s\n' "$*" >&2; }

# True while the controller answers (a stale conf pointing at a dead controller fails fast).
controller_up() {
  [ -f "$CONF" ] && timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'
}

# pid from a pid file, only if that process is alive and not a zombie (PID 1 here reaps late).
live_pid() {
  local file="$1" pid state
  [ -f "$file" ] || return 1
  pid="$(cat "$file" 2>/dev/null || true)"
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  state="$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f1)"
  [ "$state" != Z ] && [ "$state" != X ] || return 1
  echo "$pid"
}

stop_daemon() {
  local name="$1" file="$2" pid i
  pid="$(live_pid "$file")" || return 0
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    live_pid "$file" >/dev/null || { log "$name stopped"; return 0; }
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  log "$name killed"
}

node_state() {
  scontrol show node localhost 2>/dev/null | sed -n 's/.*State=\([A-Z_+]*\).*/\1/p' | head -n1
}

wait_idle() {
  local i state=
  for i in $(seq 1 100); do
    state="$(node_state || true)"
    case "$state" in
      IDLE*|MIXED*|ALLOCATED*) log "node localhost is $state"; return 0 ;;
      DOWN*|DRAIN*) scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.2
  done
  log "the node did not become idle (state: ${state:-unknown}); see $DIR/slurmd.log and $DIR/slurmctld.log"
  return 1
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null; then return 0; fi
  if [ "$(id -u)" != 0 ]; then log "Slurm is not installed and this is not root: cannot install it"; return 1; fi
  log "installing slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1 || {
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
  }
}

write_conf() {
  local cpus mem_mib
  cpus="$(nproc)"
  mem_mib=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 512 ))
  [ "$mem_mib" -gt 256 ] || mem_mib=256
  mkdir -p "$DIR/state" "$DIR/spool"
  cat >"$CONF.new" <<EOF
# Written by scripts/local-slurm.sh: a single-node test cluster.
ClusterName=vpt
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
SchedulerParameters=sched_interval=2
MinJobAge=300
KillWait=5
NodeName=localhost CPUs=$cpus RealMemory=$mem_mib State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.new" "$CONF"
  if [ ! -e /etc/slurm/slurm.conf ] && [ -w /etc ]; then
    mkdir -p /etc/slurm
    ln -s "$CONF" /etc/slurm/slurm.conf
  fi
}

start() {
  if controller_up && [ -n "$(live_pid "$DIR/slurmd.pid" || true)" ]; then
    log "already running (SLURM_CONF=$CONF)"
    wait_idle
    return
  fi
  install_packages
  if [ "$(id -u)" != 0 ]; then log "starting the daemons needs root"; return 1; fi
  write_conf
  if [ -z "$(live_pid "$DIR/slurmctld.pid" || true)" ]; then
    # -c: a clean start; old job state from an earlier cluster is not wanted in tests.
    slurmctld -c -f "$CONF"
  fi
  local i
  for i in $(seq 1 50); do controller_up && break; sleep 0.1; done
  controller_up || { log "slurmctld did not come up; see $DIR/slurmctld.log"; tail -n 20 "$DIR/slurmctld.log" >&2 || true; return 1; }
  if [ -z "$(live_pid "$DIR/slurmd.pid" || true)" ]; then
    slurmd -N localhost -f "$CONF"
  fi
  wait_idle
  log "running (SLURM_CONF=$CONF)"
}

case "$action" in
  start) start ;;
  stop)
    stop_daemon slurmd "$DIR/slurmd.pid"
    stop_daemon slurmctld "$DIR/slurmctld.pid"
    ;;
  status) controller_up ;;
  *) log "usage: $0 [start|stop|status]"; exit 2 ;;
esac
