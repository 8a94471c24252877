import { parseMemory } from '../dsl/index.js';

/** `20GiB`, `500MB`, `1024` (MiB, as in `resources.memory`) -> bytes; null when malformed. */
export function parseSize(text: string): number | null {
  const mib = parseMemory(/^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : text);
  return mib.ok ? Math.round(mib.value * 2 ** 20) : null;
}

/** An age for `gc --max-age`: `12h`, `30d`, `2w` -> milliseconds; null when malformed. */
export function parseAge(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(m|h|d|w)\s*$/i.exec(text);
  if (!m) return null;
  const factor: Record<string, number> = { m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 };
  return Number(m[1]) * (factor[(m[2] as string).toLowerCase()] as number);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${i === 0 ? value : value.toFixed(1)} ${units[i]}`;
}
