/**
 * Child process for the store's crash tests (spawned with `node --import tsx`): takes the
 * workspace lock, or ingests/restores, printing progress lines the test waits for before it
 * sends SIGKILL. Not a test file itself.
 */
import { acquireWorkspaceLock, Store, type ArtifactRef } from '../src/store/index.js';

const [mode, ws, a, b] = process.argv.slice(2);
if (ws === undefined) throw new Error('usage: store-child <mode> <workspace> ...');

if (mode === 'lock') {
  const lock = await acquireWorkspaceLock(ws, { wait: false, command: 'store-child lock' });
  process.stdout.write(lock.ok ? 'locked\n' : `busy ${lock.error.message}\n`);
  setInterval(() => undefined, 1_000);
} else if (mode === 'ingest' && a !== undefined) {
  const store = await Store.open(ws);
  process.stdout.write('ready\n');
  const r = await store.ingest(a);
  process.stdout.write(r.ok ? `done ${JSON.stringify(r.value)}\n` : `error ${r.error.message}\n`);
} else if (mode === 'restore' && a !== undefined && b !== undefined) {
  const store = await Store.open(ws);
  const ref = JSON.parse(a) as ArtifactRef;
  process.stdout.write('ready\n');
  const r = await store.restore(ref, b);
  process.stdout.write(r.ok ? 'done\n' : `error ${r.error.message}\n`);
} else {
  throw new Error(`unknown mode ${String(mode)}`);
}
