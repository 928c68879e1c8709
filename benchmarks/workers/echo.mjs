// The baselines of the remote scope on one worker: a raw postMessage echo and
// the same call exposed through plain comlink.
import { parentPort } from 'node:worker_threads';
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/umd/node-adapter.js';

parentPort.on('message', (m) => {
  if (typeof m === 'number') parentPort.postMessage(m);
});
expose({ m: (x) => x }, nodeEndpoint(parentPort));
