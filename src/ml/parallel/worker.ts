/**
 * Entry of a data-parallel training worker (a worker_thread with its own TensorFlow.js instance).
 * It holds a copy of the model, computes the gradients of its shard of each batch and writes them
 * to shared memory; the main thread combines them, steps the optimizer and publishes the new
 * parameter values. See stepper.ts for the protocol's other side.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parentPort, workerData } from 'node:worker_threads';
import { selectBackend } from '../backend.js';
import { assignParams, createViT } from '../params.js';
import type { ViT } from '../vit.js';
import { flatLayout, type FromWorker, type PhaseMessage, type StepMessage, type ToWorker, type WorkerInit } from './protocol.js';
import { shardGradients } from './shard.js';

const port = parentPort;
if (!port) throw new Error('ml/parallel/worker: not started as a worker thread');
const init = workerData as WorkerInit;
const send = (m: FromWorker): void => port.postMessage(m);

let model: ViT | undefined;
let phase: { trainable: readonly string[]; offsets: Map<string, number>; params: Float32Array; grads: Float32Array; control: Int32Array; paramsVersion: number } | undefined;

function onPhase(m: PhaseMessage): void {
  const values = new Map(Object.entries(m.values));
  if (!model) {
    const built = createViT(init.config, 0, values);
    if (!built.ok) throw new Error(built.error.message);
    model = built.value;
    model.kernels = init.kernels;
    model.checkpointBlocks = init.checkpointBlocks;
  } else {
    const assigned = assignParams(model, values);
    if (!assigned.ok) throw new Error(assigned.error.message);
  }
  model.mode = m.mode;
  const built = model;
  const { offsets } = flatLayout(m.trainable, (n) => built.p(n).size);
  phase = { trainable: m.trainable, offsets, params: new Float32Array(m.params), grads: new Float32Array(m.grads), control: new Int32Array(m.control), paramsVersion: Atomics.load(new Int32Array(m.control), 0) };
}

async function onStep(m: StepMessage): Promise<FromWorker> {
  if (!model || !phase) throw new Error('step before phase');
  const p = phase;
  // Published by the main thread after its last optimizer step.
  if (m.paramsVersion !== p.paramsVersion) {
    const seen = Atomics.load(p.control, 0);
    if (seen !== m.paramsVersion) throw new Error(`parameters version ${seen}, expected ${m.paramsVersion}`);
    for (const name of p.trainable) {
      const v = model.p(name);
      const off = p.offsets.get(name) as number;
      const t = tf.tensor(p.params.subarray(off, off + v.size), v.shape, 'float32');
      v.assign(t);
      t.dispose();
    }
    p.paramsVersion = m.paramsVersion;
  }
  const r = await shardGradients(model, { patches: m.patches, labels: m.labels, count: m.count, dropoutSeed: m.dropoutSeed });
  for (const name of p.trainable) {
    const off = p.offsets.get(name) as number;
    const size = model.p(name).size;
    const g = r.grads.get(name);
    if (g) p.grads.set(g.dataSync() as Float32Array, off);
    else p.grads.fill(0, off, off + size);
  }
  tf.dispose([...r.grads.values()]);
  Atomics.add(p.control, 1, 1);
  return { type: 'step-done', loss: r.loss, predicted: r.predicted };
}

// One message at a time, in order (the main thread waits for each reply anyway).
let queue: Promise<void> = Promise.resolve();
port.on('message', (m: ToWorker) => {
  queue = queue.then(async () => {
    try {
      if (m.type === 'phase') {
        onPhase(m);
        send({ type: 'phase-done' });
      } else {
        send(await onStep(m));
      }
    } catch (e) {
      // The stack too: an error deep in tfjs is unplaceable by its message alone.
      const error = e as Error;
      send({ type: 'failed', message: error.stack ?? error.message });
    }
  });
});

const b = await selectBackend(init.backend);
if (b.ok) send({ type: 'ready' });
else send({ type: 'failed', message: b.error.message });
