/**
 * Compute backend selection. Order: tfjs-node-gpu, tfjs-node, wasm (SIMD), cpu. An explicit
 * request (the stage's `--backend`) wins over `VPT_BACKEND`, which wins over the order. Every
 * native import is guarded: the native packages are optional and often absent or half-installed,
 * in which case selection falls through to the next candidate.
 */
import './quiet.js';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone has no gradient functions; the union package registers them like this.
import './gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { cpus } from 'node:os';
import { err, ok, type Result } from '../util/result.js';
import { installWasmKernels } from './wasmKernels.js';
import { BACKEND_ALIASES as ALIASES, BACKEND_ORDER as ORDER, type BackendName } from './backend-name.js';

export type { BackendName } from './backend-name.js';

/** What was chosen and with which flags, for run records (StageRunResult.environment). */
export interface BackendInfo {
  readonly backend: BackendName;
  /** The tfjs backend id actually active (`tensorflow` for both native packages). */
  readonly tfBackend: string;
  readonly tfjsVersion: string;
  readonly simd: boolean;
  readonly threads: number;
  readonly requested: string;
  /** Candidates tried before the chosen one, with why they failed. */
  readonly skipped: readonly string[];
  readonly cpuModel: string;
  readonly cpuCount: number;
}

export type BackendError = { readonly reason: 'unknown-backend' | 'unavailable'; readonly message: string };


let current: BackendInfo | undefined;

/** Backend chosen by the last successful `selectBackend`, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}

/**
 * Initialises a backend. `requested` (e.g. from `ctx.backend`) may be a name, `auto` or undefined;
 * undefined falls back to `VPT_BACKEND`, then `auto`. An explicitly requested backend that cannot
 * start is an error (no silent fallback); `auto` falls through the order.
 */
export async function selectBackend(requested?: string): Promise<Result<BackendInfo, BackendError>> {
  const ask = (requested ?? process.env['VPT_BACKEND'] ?? 'auto').trim().toLowerCase() || 'auto';
  let candidates: readonly BackendName[];
  if (ask === 'auto') candidates = ORDER;
  else {
    const name = ALIASES[ask];
    if (!name) return err({ reason: 'unknown-backend', message: `unknown backend "${ask}"; use one of auto, ${ORDER.join(', ')}` });
    candidates = [name];
  }
  const skipped: string[] = [];
  for (const name of candidates) {
    const started = await tryStart(name);
    if (started.ok) {
      current = {
        backend: name, tfBackend: tf.getBackend(), tfjsVersion: tf.version_core, simd: started.value.simd,
        threads: started.value.threads, requested: ask, skipped, cpuModel: cpus()[0]?.model ?? 'unknown', cpuCount: cpus().length,
      };
      return ok(current);
    }
    skipped.push(`${name}: ${started.error}`);
  }
  return err({ reason: 'unavailable', message: `no backend could start (${skipped.join('; ')})` });
}

/**
 * The stage-log line: which backend runs, with its flags, and why it was chosen (asked for, or
 * the first of the order that started, with what the faster ones said).
 */
export function describeBackend(info: BackendInfo): string {
  const why = info.requested === 'auto'
    ? `the fastest that started${info.skipped.length > 0 ? `; not started: ${info.skipped.join('; ')}` : ''}`
    : `asked for (${info.requested})`;
  return `backend ${info.backend} (tfjs ${info.tfjsVersion}, simd ${info.simd}, threads ${info.threads}): ${why}`;
}

/** The flags as a flat record for StageRunResult.environment. */
export function backendEnvironment(info: BackendInfo): Record<string, string | number | boolean> {
  return {
    backend: info.backend, tfBackend: info.tfBackend, tfjsVersion: info.tfjsVersion, simd: info.simd,
    threads: info.threads, cpuModel: info.cpuModel, cpuCount: info.cpuCount,
    ...(info.skipped.length > 0 ? { skippedBackends: info.skipped.join('; ') } : {}),
  };
}

type Started = { simd: boolean; threads: number };

async function tryStart(name: BackendName): Promise<Result<Started, string>> {
  try {
    switch (name) {
      case 'tensorflow-gpu':
      case 'tensorflow': {
        // Module names in variables so bundlers and tsc do not require the optional packages.
        const pkg = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
        await import(pkg);
        if (!(await tf.setBackend('tensorflow'))) return err('tensorflow backend did not initialise');
        return ok({ simd: false, threads: cpus().length });
      }
      case 'wasm': {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        const require = createRequire(import.meta.url);
        // The .wasm binaries sit next to the package's node entry (dist/).
        wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
        // Node reports no usable wasm threads here and forcing them hangs at start-up.
        tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
        if (!(await tf.setBackend('wasm'))) return err('wasm backend did not initialise');
        await tf.ready();
        installWasmKernels();
        const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
        return ok({ simd, threads: 1 });
      }
      case 'cpu':
        if (!(await tf.setBackend('cpu'))) return err('cpu backend did not initialise');
        return ok({ simd: false, threads: 1 });
    }
  } catch (e) {
    return err((e as Error).message.split('\n')[0] ?? 'import failed');
  }
}
