/** A store rebuilt from config in a worker can store, and its owner's close frees what it stored. */
import { afterEach, expect, test } from '@jest/globals';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SharedMemoryStore, Store, type SharedMemoryStoreKey } from 'skein';

const here = path.dirname(fileURLToPath(import.meta.url));
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

test('shared memory: a worker puts through a store rebuilt from config; the owner reads it, and closing frees it everywhere', async () => {
  const owner = new SharedMemoryStore();
  const worker = new Worker(path.join(here, 'fixtures', 'worker-put.mjs'), { workerData: { config: owner.config() } });
  workers.push(worker);
  const [{ key, typed }] = (await once(worker, 'message')) as [{ key: SharedMemoryStoreKey; typed: SharedMemoryStoreKey }];
  expect(await owner.get(key)).toEqual({ from: 'worker' });
  expect(Array.from(owner.getSync<Float64Array>(typed))).toEqual([1, 2, 3]);
  const elsewhere = Store.fromConfig(owner.config());
  expect(await elsewhere.exists(key)).toBe(true);

  await owner.close();
  expect(await elsewhere.exists(key)).toBe(false);
  expect(await elsewhere.exists(typed)).toBe(false);
  worker.postMessage('check');
  const [{ exists }] = (await once(worker, 'message')) as [{ exists: boolean[] }];
  expect(exists).toEqual([false, false]);
  await elsewhere.close();
});
