#!/usr/bin/env bash
# Set-up on a fresh machine, and a no-op on a set-up one (each step checks first):
#   npm run setup        what `npm run mini` needs: Debian's Fashion-MNIST, the npm packages, the
#                        build, and `pipeline` on the PATH
#   npm run setup:test   that, plus what `npm test` needs: Python with numpy/scipy (reference FID
#                        values), DejaVu fonts (text in plots), and a one-node Slurm, started
# Only the npm registry and Debian's archive are used. As root on Debian/Ubuntu the system
# packages are installed with apt-get; anyone else is told in one line what to install.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
for_tests=0
case "${1:-}" in
  --for-tests) for_tests=1 ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--for-tests]" >&2; exit 2 ;;
esac
say() { printf 'setup: %s\n' "$*" >&2; }

# --- system packages: each with the check that says it is there -----------------------------
fashion_dir=/usr/share/datasets/fashion-mnist
have_fashion() { [ -s "$fashion_dir/train-images-idx3-ubyte.gz" ] && [ -s "$fashion_dir/t10k-labels-idx1-ubyte.gz" ]; }
have_scipy() { /usr/bin/python3 -c 'import numpy, scipy.linalg' >/dev/null 2>&1; }
have_fonts() { [ -d /usr/share/fonts/truetype/dejavu ]; }
have_slurm() { command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null; }

missing=()
have_fashion || missing+=(dataset-fashion-mnist)
if [ "$for_tests" = 1 ]; then
  have_scipy || missing+=(python3-numpy python3-scipy)
  have_fonts || missing+=(fonts-dejavu-core)
  have_slurm || missing+=(slurmctld slurmd slurm-client munge)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing system packages: as root, run \`apt-get install ${missing[*]}\` (Debian/Ubuntu names; Fashion-MNIST goes to $fashion_dir), then this again"
    exit 1
  fi
fi

# --- npm packages: `npm ci` once per package-lock.json ----------------------------------------
stamp=node_modules/.vpt-setup-lock
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$lock_hash" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
  echo "$lock_hash" >"$stamp"
fi

# --- build, and `pipeline` on the PATH --------------------------------------------------------
npm run --silent build
launcher="$root/bin/pipeline"
on_path="$(command -v pipeline 2>/dev/null || true)"
if [ -n "$on_path" ] && [ "$(readlink -f "$on_path")" = "$(readlink -f "$launcher")" ]; then
  :
elif [ -w "$(npm prefix -g)/bin" ] || [ -w "$(npm prefix -g)" ]; then
  # npm link: the global bin folder (already on the PATH) gets `pipeline`, pointing at this clone.
  npm link --no-audit --no-fund >/dev/null
  say "\`pipeline\` is on the PATH: $(command -v pipeline) -> $launcher"
else
  say "to type \`pipeline\` anywhere, add this clone's bin/ to the PATH: export PATH=\"$root/bin:\$PATH\""
fi

# --- a one-node Slurm for the --executor slurm tests ------------------------------------------
if [ "$for_tests" = 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    scripts/local-slurm.sh start
  else
    say "the Slurm tests need a running cluster: as root, run scripts/local-slurm.sh (outside CI they are skipped without one)"
  fi
fi
say "ready"
