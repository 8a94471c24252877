/**
 * The malformed-pipeline corpus: every test/fixtures/malformed/NN-name.yaml states its own
 * expected diagnostics in leading `# expect:` lines:
 *   # expect: [file:]line:col reason "message substring" [did you mean "suggestion"]
 * (file is relative to the corpus folder, for problems found in an included file). The file
 * must produce exactly those diagnostics: no more, no fewer.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatDiagnostics, loadPipeline, type Diagnostic } from '../src/dsl/index.js';
import { testKinds } from './fixtures/dsl/kinds.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'malformed');
const files = readdirSync(dir)
  .filter((f) => /^\d\d-.*\.yaml$/.test(f))
  .sort();

interface Expectation {
  file: string;
  line: number;
  column: number;
  reason: string;
  message: string;
  suggestion: string | undefined;
}

const EXPECT = /^# expect: (?:(\S+\.ya?ml):)?(\d+):(\d+) ([a-z-]+) "([^"]*)"(?: did you mean "([^"]*)")?\s*$/;

function expectations(file: string): Expectation[] {
  const out: Expectation[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('# expect:')) break;
    const m = EXPECT.exec(line);
    if (!m) throw new Error(`${path.basename(file)}: malformed expect line: ${line}`);
    out.push({
      file: m[1] ? path.join(dir, m[1]) : file,
      line: Number(m[2]),
      column: Number(m[3]),
      reason: m[4] as string,
      message: m[5] as string,
      suggestion: m[6],
    });
  }
  return out;
}

describe('malformed pipeline corpus', () => {
  it('has at least 30 cases, each with expectations', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
    for (const f of files) expect(expectations(path.join(dir, f)).length, f).toBeGreaterThan(0);
  });

  const kinds = testKinds();
  for (const f of files) {
    it(f, async () => {
      const file = path.join(dir, f);
      const wanted = expectations(file);
      const r = await loadPipeline(file, { kinds });
      expect(r.ok, `${f} should fail to load`).toBe(false);
      if (r.ok) return;
      const got: readonly Diagnostic[] = r.error;
      const shown = formatDiagnostics(got, { color: false });
      expect(got.length, `all and only the expected diagnostics:\n${shown}`).toBe(wanted.length);
      for (const w of wanted) {
        const match = got.find(
          (d) =>
            d.location?.start.file === w.file &&
            d.location.start.line === w.line &&
            d.location.start.column === w.column &&
            d.reason === w.reason &&
            d.message.includes(w.message) &&
            (w.suggestion === undefined || d.hint === `did you mean \`${w.suggestion}\`?`),
        );
        expect(match, `expected ${w.line}:${w.column} ${w.reason} "${w.message}"${w.suggestion ? ` (did you mean ${w.suggestion})` : ''}\ngot:\n${shown}`).toBeDefined();
      }
      // Diagnostics come sorted by file and position.
      const keys = got.map((d) => `${d.location?.start.file ?? ''}\u0000${String(d.location?.start.offset ?? -1).padStart(8, '0')}`);
      expect([...keys].sort()).toEqual(keys);
    });
  }
});
