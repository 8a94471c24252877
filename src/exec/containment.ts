import { realpath } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';

/**
 * The DSL refuses output paths that escape the workspace by their text; this checks the real
 * filesystem too, so a symlinked folder cannot carry a stage's output out of the workspace.
 * Returns an error message, or undefined when the path stays inside.
 */
export async function escapesWorkspace(workspace: string, workspaceRelative: string): Promise<string | undefined> {
  const root = await realpath(workspace);
  let probe = dirname(resolve(workspace, workspaceRelative));
  // The nearest existing ancestor decides: what does not exist yet is created inside it.
  for (;;) {
    try {
      const real = await realpath(probe);
      const rel = relative(root, real);
      if (rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep))) return undefined;
      return `output ${workspaceRelative} resolves to ${real}, outside the workspace ${root} (through a symbolic link)`;
    } catch {
      const parent = dirname(probe);
      if (parent === probe) return undefined;
      probe = parent;
    }
  }
}
