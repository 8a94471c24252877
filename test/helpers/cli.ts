import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsxLoader = createRequire(import.meta.url).resolve('tsx');
export const CLI_MAIN = join(root, 'src', 'cli', 'main.ts');

export interface CliResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real `pipeline` command from the sources, in `cwd`, without a TTY. */
export async function runCli(args: readonly string[], cwd: string, env: Record<string, string> = {}): Promise<CliResult> {
  const result = await startCli(args, cwd, env);
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

export function startCli(args: readonly string[], cwd: string, env: Record<string, string> = {}): ResultPromise<{ reject: false; all: true }> {
  return execa(process.execPath, ['--import', tsxLoader, CLI_MAIN, ...args], {
    cwd,
    env: { NO_COLOR: '1', CI: '1', ...env },
    reject: false,
    all: true,
  }) as unknown as ResultPromise<{ reject: false; all: true }>;
}

/** A fresh workspace with the given files (relative path -> content). */
export async function workspace(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vpt-ws-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}
