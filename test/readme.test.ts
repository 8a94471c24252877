/**
 * The README cannot rot: every shell command in its fenced blocks (and in docs/*.md) runs, as
 * written, in order, in one workspace holding a stand-in for vtab-mini (same stage names, shell
 * stages: test/fixtures/readme) and the real paper-scale files (vtab-full.yaml and the studies). `pipeline` is the CLI from the sources.
 * Skipped, by name: the `npm` commands (CI runs the set-up and test ones, `npm run e2e` the main
 * job) and commands marked `# needs: data|gpu|cluster|internet`.
 */
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface DocCommand {
  readonly where: string;
  readonly text: string;
  /** Why it is not run, or undefined. */
  readonly skip: string | undefined;
}

/** The lines of ```sh / ```bash / ```shell blocks, with `\` continuations joined. */
export function shellCommands(markdown: string, file: string): DocCommand[] {
  const out: DocCommand[] = [];
  let inBlock = false;
  let pending: { text: string; line: number } | undefined;
  for (const [i, raw] of markdown.split('\n').entries()) {
    if (/^```/.test(raw)) {
      inBlock = !inBlock && /^```(sh|bash|shell)\s*$/.test(raw);
      continue;
    }
    if (!inBlock) continue;
    const line = raw.trimEnd();
    const start = pending ?? { text: '', line: i + 1 };
    const text = `${start.text}${line.replace(/\\$/, '')}`;
    if (line.endsWith('\\')) {
      pending = { text: `${text} `, line: start.line };
      continue;
    }
    pending = undefined;
    const trimmed = text.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    out.push({ where: `${file}:${start.line}`, text: trimmed, skip: skipReason(trimmed) });
  }
  return out;
}

function skipReason(command: string): string | undefined {
  const marker = /#\s*needs:\s*([a-z, ]+)/.exec(command);
  if (marker) return `needs ${(marker[1] as string).trim()}`;
  if (/^npm /.test(command)) return 'an npm script: .ci/run runs the set-up and test commands, `npm run e2e` the main job';
  return undefined;
}

const docFiles = ['README.md', ...(await readdir(join(root, 'docs'))).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const commands: DocCommand[] = [];
for (const file of docFiles) commands.push(...shellCommands(await readFile(join(root, file), 'utf8'), file));

let ws: string;
let env: Record<string, string>;

beforeAll(async () => {
  ws = await mkdtemp(join(tmpdir(), 'vpt-readme-'));
  await cp(join(root, 'test', 'fixtures', 'readme'), ws, { recursive: true });
  // The real paper-scale files with what they read (params/, include/); vtab-mini stays the stand-in.
  for (const f of ['vtab-full.yaml', 'ablations.yaml', 'data-scale.yaml', 'one-shot.yaml', 'params', 'include']) {
    await cp(join(root, 'pipelines', f), join(ws, 'pipelines', f), { recursive: true });
  }
  // `pipeline` on the PATH, as `npm run setup` puts it there, but running the sources under test.
  const bin = join(ws, '.bin');
  await mkdir(bin);
  const tsx = createRequire(import.meta.url).resolve('tsx');
  await writeFile(join(bin, 'pipeline'), `#!/bin/sh\nexec "${process.execPath}" --import "${tsx}" "${join(root, 'src', 'cli', 'main.ts')}" "$@"\n`);
  await chmod(join(bin, 'pipeline'), 0o755);
  env = { PATH: `${bin}:${process.env['PATH'] ?? ''}`, CI: '1', NO_COLOR: '1' };
});

describe('the README and docs commands, as written', () => {
  it('are found, and most of them run (a marker cannot silently skip them all)', () => {
    const runnable = commands.filter((c) => c.skip === undefined);
    expect(runnable.length).toBeGreaterThanOrEqual(15);
    expect(runnable.filter((c) => c.where.startsWith('README.md')).map((c) => c.text)).toContain('pipeline run pipelines/vtab-mini.yaml                        # run what is out of date');
  });

  for (const command of commands) {
    const name = `${command.where}: ${command.text}`;
    if (command.skip !== undefined) {
      it.skip(`${name} (${command.skip})`, () => undefined);
      continue;
    }
    it(name, async () => {
      const r = await execa('bash', ['-c', command.text], { cwd: ws, env, reject: false, all: true, timeout: 120_000 });
      expect(r.exitCode, `${command.where}\n$ ${command.text}\n${r.all}`).toBe(0);
      expect(r.all).not.toMatch(/internal error|looks like you are running TensorFlow\.js/);
    }, 150_000);
  }
});

describe('.ci/run', () => {
  it('runs exactly the README\'s test command (its second set-up line)', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const setup = shellCommands(readme, 'README.md').slice(0, 2).map((c) => c.text.replace(/\s+#.*$/, ''));
    expect(setup[0]).toMatch(/npm run mini/);
    expect(setup[1]).toMatch(/npm test/);
    const ci = await readFile(join(root, '.ci', 'run'), 'utf8');
    const runs = ci.split('\n').filter((l) => l.includes(setup[1] as string));
    expect(runs, `.ci/run should run \`${setup[1]}\``).toHaveLength(1);
  });
});
