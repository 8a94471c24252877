// Starts a training worker from the TypeScript sources (tests, benches under tsx): `--import tsx`
// in a worker's execArgv does not reach the worker's module loader on Node 20, so this plain
// module registers tsx's loader in the worker thread, then imports the .ts entry it was given.
// The built package never uses it: dist/ml/parallel/worker.js starts directly.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
