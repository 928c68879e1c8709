/**
 * The payload checksum of stored frames: on by default where the bytes
 * touch a disk (FileStore), off in memory (shared memory, local), and
 * overridden per store and per call.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FileStore, LocalConnector, SharedMemoryStore, Store, inspectFrame, type StoreConfig } from 'skein';

const dist = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/src/index.js')).href;

type AnyStore = Store<unknown>;
type Options = { checksum?: boolean };

const backends: [string, (o?: Options) => AnyStore, boolean][] = [
  ['file', (o) => new FileStore(o) as AnyStore, true],
  ['shared-memory', (o) => new SharedMemoryStore(o) as AnyStore, false],
  ['local', (o) => new Store(new LocalConnector(), o) as AnyStore, false],
];

const open: AnyStore[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

const records = Array.from({ length: 50 }, (_, i) => ({ id: i, name: `user${i}`, tags: ['a'] }));

/** Whether the frame stored under `key` carries a payload CRC (a custom deserializer gets the stored bytes as they are). */
async function stored(store: AnyStore, key: unknown): Promise<boolean> {
  const bytes = await store.get(key, { deserializer: (b) => b });
  return inspectFrame(bytes).checksum;
}

describe.each(backends)('%s store', (_name, make, byDefault) => {
  const create = (o?: Options): AnyStore => {
    const s = make(o);
    open.push(s);
    return s;
  };

  test(`checksums payloads by default: ${byDefault}`, async () => {
    const store = create();
    expect(await stored(store, await store.put(records))).toBe(byDefault);
    expect(await stored(store, store.putSync({ a: 1 }))).toBe(byDefault);
    expect(store.config().checksum).toBe(byDefault);
  });

  test('a per-store option overrides the default, and a per-call one overrides both', async () => {
    for (const checksum of [true, false]) {
      const store = create({ checksum });
      expect(await stored(store, await store.put(records))).toBe(checksum);
      expect(await stored(store, await store.put(records, { checksum: !checksum }))).toBe(!checksum);
      expect(await store.get(await store.put(records, { checksum: !checksum }))).toEqual(records);
    }
  });

  test('refuses a checksum option that is not a boolean', async () => {
    expect(() => make({ checksum: 'yes' as unknown as boolean })).toThrow(/Expected `checksum` to be a boolean, got/);
    const store = create();
    await expect(store.put(1, { checksum: 1 as unknown as boolean })).rejects.toThrow(/Expected `checksum` to be a boolean/);
  });
});

describe('a FileStore rebuilt from its config in a worker', () => {
  // (A shared-memory store rebuilt from config only reads.)
  test('writes frames with the owner’s per-store setting', async () => {
    for (const checksum of [true, false]) {
      const store = new FileStore({ checksum }) as AnyStore;
      open.push(store);
      // The worker puts through the store it rebuilds from config; the key comes back and is read here.
      const key = await new Promise<unknown>((resolve, reject) => {
        const worker = new Worker(
          `const { parentPort, workerData } = require('node:worker_threads');
           import(workerData.dist).then(({ getOrCreateStore }) => {
             parentPort.postMessage(getOrCreateStore(workerData.config).putSync({ from: 'worker', xs: [1, 2, 3] }));
           });`,
          { eval: true, workerData: { dist, config: store.config() satisfies StoreConfig } },
        );
        worker.once('message', (k) => void worker.terminate().then(() => resolve(k)));
        worker.once('error', reject);
      });
      expect(await stored(store, key)).toBe(checksum);
      expect(await store.get(key)).toEqual({ from: 'worker', xs: [1, 2, 3] });
      await store.evict(key); // the worker's entry: the owner's close() removes only its own
    }
  });
});
