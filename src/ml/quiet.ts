/**
 * Under Node, TensorFlow.js's cpu backend greets its first tensor with a banner ("Hi, looks like
 * you are running TensorFlow.js in Node.js ... install our node backend"). Backend selection
 * already logs which backend ran and why the faster ones did not start, so the banner is noise.
 * TF.js routes all its console warnings through one switch, production mode; it changes no
 * kernel or numeric behaviour (only `warn`/`log` read the flag). Imported first by backend.ts.
 */
import { env } from '@tensorflow/tfjs-core';

env().set('PROD', true);
