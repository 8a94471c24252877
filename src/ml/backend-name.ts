/**
 * Backend names, without loading TensorFlow.js: what the planner needs to fill in defaults that
 * depend on the backend (train.vit's `workers`) before it fingerprints a stage.
 */
import { createRequire } from 'node:module';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** Tried in this order by `auto`. */
export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

export const BACKEND_ALIASES: Readonly<Record<string, BackendName>> = {
  'tensorflow-gpu': 'tensorflow-gpu', 'tfjs-node-gpu': 'tensorflow-gpu', gpu: 'tensorflow-gpu', 'node-gpu': 'tensorflow-gpu',
  tensorflow: 'tensorflow', 'tfjs-node': 'tensorflow', node: 'tensorflow', native: 'tensorflow',
  wasm: 'wasm', cpu: 'cpu',
};

const NATIVE_PACKAGES: ReadonlyArray<readonly [BackendName, string]> = [
  ['tensorflow-gpu', '@tensorflow/tfjs-node-gpu'],
  ['tensorflow', '@tensorflow/tfjs-node'],
];

/**
 * The backend a stage will ask for: the named one, or for `auto` the first native package that is
 * installed, else wasm (which always loads here). A native package that is installed but cannot
 * start makes `auto` fall through at run time; the stage then runs with the planned defaults.
 */
export function predictBackend(requested: string | undefined): BackendName | undefined {
  const ask = (requested ?? process.env['VPT_BACKEND'] ?? 'auto').trim().toLowerCase() || 'auto';
  if (ask !== 'auto') return BACKEND_ALIASES[ask];
  const require = createRequire(import.meta.url);
  for (const [name, pkg] of NATIVE_PACKAGES) {
    try {
      require.resolve(pkg);
      return name;
    } catch {
      // not installed: the next one
    }
  }
  return 'wasm';
}

/**
 * The default worker count for a backend: 2 on wasm and cpu (one core each), 1 on the native
 * tfjs-node backends, which already use every core. A fixed number, not the machine's core count,
 * so that a stage gives the same bytes on any machine.
 */
export function defaultWorkers(backend: string | undefined): number {
  return backend !== undefined && backend.startsWith('tensorflow') ? 1 : 2;
}
