/** Memory sizes and durations as written in pipeline files. */
import { err, ok, type Result } from '../util/result.js';

const MEMORY_UNITS: Record<string, number> = {
  b: 1 / (1024 * 1024),
  kib: 1 / 1024,
  mib: 1,
  gib: 1024,
  tib: 1024 * 1024,
  kb: 1000 / (1024 * 1024),
  mb: 1e6 / (1024 * 1024),
  gb: 1e9 / (1024 * 1024),
  tb: 1e12 / (1024 * 1024),
};

/** Memory in MiB: a number is MiB; strings like `512MiB`, `4GiB`, `1.5GB`. */
export function parseMemory(v: unknown): Result<number, string> {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? ok(v) : err(`memory must be >= 0 MiB, got ${v}`);
  if (typeof v !== 'string') return err(`memory must be a number of MiB or a string like \`4GiB\``);
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$/.exec(v);
  const factor = m ? MEMORY_UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || factor === undefined) {
    return err(`bad memory size \`${v}\`: use a number of MiB or a string like \`512MiB\` or \`4GiB\` (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)`);
  }
  return ok(Math.ceil(Number(m[1]) * factor));
}

/** Timeout in seconds: a number is seconds; strings like `90s`, `30m`, `2h`, `1h30m`. */
export function parseDuration(v: unknown): Result<number, string> {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? ok(v) : err(`timeout must be > 0 seconds, got ${v}`);
  if (typeof v !== 'string') return err('timeout must be a number of seconds or a string like `30m`');
  const s = v.trim();
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$/.exec(s.replace(/\s+/g, ''));
  if (!m || s === '' || (m[1] === undefined && m[2] === undefined && m[3] === undefined)) {
    return err(`bad timeout \`${v}\`: use seconds or a string like \`90s\`, \`30m\`, \`2h\`, \`1h30m\``);
  }
  const seconds = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  if (!(seconds > 0)) return err(`timeout must be > 0, got \`${v}\``);
  return ok(seconds);
}
