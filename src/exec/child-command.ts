import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * argv that starts the stage child entry point. From the built package it is plain
 * `node dist/exec/child.js`; from the TypeScript sources (tests, `tsx`) it adds tsx's loader,
 * resolved absolutely because the child's cwd is the workspace, not this project.
 */
export function childEntryArgv(specFile: string): string[] {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    const tsxLoader = createRequire(import.meta.url).resolve('tsx');
    return [process.execPath, '--import', tsxLoader, join(dirname(here), 'child.ts'), specFile];
  }
  return [process.execPath, join(dirname(here), 'child.js'), specFile];
}
