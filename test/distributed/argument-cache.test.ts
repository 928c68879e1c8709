// The worker process's cache of large arguments, against the real redis-server:
// one fetch per key, shared memory for the threads, gone once the run's key is.
import { afterAll, afterEach, expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import { reviveBatch } from '#src/store/travel.js';
import { ArgumentCache } from '#src/distributed/argument-cache.js';
import { RedisConnector, type RedisConnectorConfig } from '#src/connectors/redis.js';
import { RedisStore } from '#src/distributed/redis-store.js';
import type { BatchWire } from '#src/core/wire.js';
import type { StoreReference } from '#src/store/factory.js';
import { redisUrl, suitePrefix } from './redis.js';

const prefix = suitePrefix('args');
const client = new Redis(redisUrl());
const store = new RedisStore({ connection: redisUrl(), prefix });
const caches: ArgumentCache[] = [];
function cache(maxBytes = 2 ** 30): ArgumentCache {
  const connectors = new Map<string, RedisConnector>();
  const c = new ArgumentCache(maxBytes, (config: RedisConnectorConfig) => {
    let connector = connectors.get(config.namespace);
    if (connector === undefined) connectors.set(config.namespace, (connector = RedisConnector.fromConfig(config, client)));
    return connector;
  });
  caches.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await store.close();
  await client.quit();
});

/** A batch of one task `(data) => …` whose argument is an offloaded value of `store`, as the caller sends it. */
function batchOf(...references: StoreReference[]): BatchWire {
  return {
    fns: [{ fn: { kind: 'source', source: '(data) => data.length', name: 'f' } as never, values: [] }],
    size: references.length,
    args: references.map((r) => [structuredClone(r)]),
    stopOnError: true,
    refs: true,
  };
}

async function offloaded(value: unknown): Promise<StoreReference> {
  return { ...store.referenceOf(await store.put(value)), eager: true };
}

test('a key is fetched once for concurrent and later batches; threads get shared memory', async () => {
  const c = cache();
  const data = new Float64Array(100_000).map((_, i) => i);
  const ref = await offloaded(data);
  const [a, b] = await Promise.all([c.localize(batchOf(ref, ref)), c.localize(batchOf(ref))]);
  expect(a.fetchedBytes + b.fetchedBytes).toBe(data.byteLength);
  const local = a.batch.args![0]![0] as StoreReference;
  expect(local.storeConfig.connector.type).toBe('shared-memory');
  expect(local.eager).toBe(true);
  const revived = (await reviveBatch(a.batch)) as BatchWire;
  const view = revived.args![0]![0] as Float64Array;
  expect(view).toEqual(data);
  expect(Object.prototype.toString.call(view.buffer)).toBe('[object SharedArrayBuffer]');
  a.release();
  b.release();
  const again = await c.localize(batchOf(ref));
  expect(again.fetchedBytes).toBe(0);
  again.release();
  expect(c.size).toBe(1);
  expect(c.bytes).toBe(data.byteLength);
});

test("an entry goes once the run's key is gone, not while a batch uses it", async () => {
  const c = cache();
  const ref = await offloaded({ rows: [1, 2, 3] });
  const held = await c.localize(batchOf(ref));
  await store.evict(ref.key as string);
  await c.sweep();
  expect(c.size).toBe(1);
  held.release();
  await c.sweep();
  expect(c.size).toBe(0);
  expect(c.bytes).toBe(0);
  // Its shared-memory key is evicted in every thread: a late reader fails rather than reading freed memory.
  await expect((async () => reviveBatch(held.batch))()).rejects.toThrow(/Could not resolve proxy of key/);
});

test('beyond maxBytes the least recently used unused entries go', async () => {
  const c = cache(1.5 * 80_000);
  const first = await offloaded(new Float64Array(10_000));
  const second = await offloaded(new Float64Array(10_000));
  (await c.localize(batchOf(first))).release();
  (await c.localize(batchOf(second))).release();
  expect(c.size).toBe(1);
  expect((await c.localize(batchOf(second))).fetchedBytes).toBe(0);
  expect((await c.localize(batchOf(first))).fetchedBytes).toBe(80_000);
});

test('a key no longer in Redis fails the job, naming the key and the store, and is not kept', async () => {
  const c = cache();
  const ref = await offloaded([1, 2, 3]);
  await store.evict(ref.key as string);
  await expect(c.localize(batchOf(ref))).rejects.toMatchObject({
    name: 'UnrecoverableError',
    message: expect.stringMatching(new RegExp(`key \`${String(ref.key)}\` of store \`${store.name}\`.*no longer in Redis`)),
  });
  expect(c.size).toBe(0);
});

test('a batch without references to a Redis store is passed through as it is', async () => {
  const c = cache();
  const batch = batchOf();
  const out = await c.localize(batch);
  expect(out.batch).toBe(batch);
  expect(out.fetchedBytes).toBe(0);
});
