/**
 * One contract, every backend: each Store behaviour is checked on the local
 * connector, on real SharedArrayBuffers and on real files.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import {
  FileConnector,
  SharedMemoryConnector,
  connectorContract,
  FileStore,
  InvalidKeyError,
  KeyNotFoundError,
  LocalConnector,
  NonProxiableError,
  ProxyResolveError,
  SerializationError,
  SharedMemoryStore,
  Store,
  StoreClosedError,
  extract,
  getOrCreateStore,
  isProxy,
  isResolved,
  isStoreReference,
  proxyFromReference,
  resolve,
  resolveAsync,
  storeReference,
} from 'skein';
import { thrown } from '../helpers.js';

type AnyStore = Store<unknown>;

// The exported kit, over every built-in connector (async API and sync capability).
connectorContract('local', () => new LocalConnector(), { describe, test, expect, afterEach });
connectorContract('shared-memory', () => new SharedMemoryConnector(), { describe, test, expect, afterEach });
connectorContract('file', () => new FileConnector(), { describe, test, expect, afterEach });

const backends: [string, (options?: { cacheSize?: number; cacheBytes?: number }) => AnyStore][] = [
  ['local', (o) => new Store(new LocalConnector(), o) as AnyStore],
  ['shared-memory', (o) => new SharedMemoryStore(o) as AnyStore],
  ['file', (o) => new FileStore(o) as AnyStore],
];

const open: AnyStore[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe.each(backends)('%s store', (name, make) => {
  const create = (o?: { cacheSize?: number; cacheBytes?: number }): AnyStore => {
    const s = make(o);
    open.push(s);
    return s;
  };

  test('put/get round-trips values of every kind', async () => {
    const store = create();
    const values: unknown[] = [
      { a: 1, nested: { list: [1, 'two', null] } },
      new Map<string, unknown>([['k', new Set([1, 2])]]),
      new Float64Array([1.5, -2, 3e10]),
      new Int16Array([1, -1, 300]),
      new BigInt64Array([1n, -(2n ** 40n)]),
      'a string ✓',
      12345,
      null,
      [1, 2, 3],
      new Date(0),
      Buffer.from('bytes'),
    ];
    for (const value of values) {
      const key = await store.put(value);
      expect(await store.get(key)).toEqual(value);
    }
  });

  test('sync and async paths agree', async () => {
    const store = create();
    const k1 = store.putSync({ v: 1 });
    const k2 = await store.put({ v: 2 });
    expect(store.getSync(k2)).toEqual({ v: 2 });
    expect(await store.get(k1)).toEqual({ v: 1 });
  });

  test('exists and evict; evicting twice is fine; get of an evicted key raises KeyNotFoundError', async () => {
    const store = create();
    const key = await store.put({ x: 1 });
    expect(await store.exists(key)).toBe(true);
    await store.evict(key);
    expect(await store.exists(key)).toBe(false);
    await expect(store.evict(key)).resolves.toBeUndefined();
    const error = await store.get(key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyNotFoundError);
    expect((error as KeyNotFoundError).store).toBe(store.name);
    expect((error as KeyNotFoundError).key).toBe(store.describeKey(key));
  });

  test('the cache returns the same object, counts hits and misses, and forgets evicted keys', async () => {
    const store = create();
    const key = await store.put({ big: 'object' });
    const a = await store.get(key);
    const b = await store.get(key);
    expect(b).toBe(a);
    expect(store.stats()).toMatchObject({ hits: 1, misses: 1, cacheEntries: 1 });
    await store.evict(key);
    expect(store.stats().cacheEntries).toBe(0);
  });

  test('cacheSize bounds the cache (LRU); cacheSize 0 disables it', async () => {
    const small = create({ cacheSize: 2 });
    const keys = await Promise.all([1, 2, 3].map((i) => small.put({ i })));
    for (const k of keys) await small.get(k);
    expect(small.stats().cacheEntries).toBe(2);
    const first = await small.get(keys[0]!); // evicted from the cache as least recently used: a miss
    expect(first).toEqual({ i: 1 });
    expect(small.stats().misses).toBe(4);

    const none = create({ cacheSize: 0 });
    const key = await none.put({ v: 1 });
    expect(await none.get(key)).not.toBe(await none.get(key));
    expect(none.stats().cacheEntries).toBe(0);
  });

  test('cacheBytes bounds the cache by stored size', async () => {
    const store = create({ cacheBytes: 64 * 1024 });
    const k1 = await store.put(new Uint8Array(40 * 1024));
    const k2 = await store.put(new Uint8Array(40 * 1024));
    await store.get(k1);
    await store.get(k2);
    expect(store.stats().cacheEntries).toBe(1);
    expect(store.stats().cacheBytes).toBeLessThanOrEqual(64 * 1024);
  });

  test('custom serializer and deserializer per call; a custom deserializer bypasses the cache', async () => {
    const store = create();
    const encode = (v: unknown) => new TextEncoder().encode(`custom:${JSON.stringify(v)}`);
    const decode = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b.slice()).slice('custom:'.length)) as unknown;
    const key = await store.put({ n: 1 }, { serializer: encode });
    const a = await store.get(key, { deserializer: decode });
    expect(a).toEqual({ n: 1 });
    expect(await store.get(key, { deserializer: decode })).not.toBe(a);
    expect(store.stats().cacheEntries).toBe(0);
    await expect(store.put(1, { serializer: () => 'nope' as unknown as Uint8Array })).rejects.toThrow(SerializationError);
  });

  test('proxy(): lazy, behaves as the value, resolves once through the cache', () => {
    const store = create();
    const p = store.proxy(new Float64Array([1, 2, 3]));
    expect(isProxy(p)).toBe(true);
    expect(isResolved(p)).toBe(false);
    expect(p instanceof Float64Array).toBe(true);
    expect(p[2]).toBe(3);
    expect(Array.from(p)).toEqual([1, 2, 3]);
    expect(isResolved(p)).toBe(true);
    expect(store.stats().misses).toBe(1);

    const list = store.proxy([1, 2, 3]);
    expect(Array.isArray(list)).toBe(true);
    expect(JSON.stringify(list)).toBe('[1,2,3]');
  });

  test('proxy of a primitive raises NonProxiableError unless passthrough', () => {
    const store = create();
    expect(() => store.proxy(42 as unknown as object)).toThrow(NonProxiableError);
    expect(() => store.proxy(null as unknown as object)).toThrow(NonProxiableError);
    expect(store.proxy(42, { passthrough: true })).toBe(42);
    expect(store.stats().entries).toBe(0);
  });

  test('ephemeral proxies: evicted once resolved', async () => {
    const store = create();
    const p = store.proxy({ once: true }, { evict: true });
    const ref = storeReference(p)!;
    expect(ref.evict).toBe(true);
    expect(await store.exists(ref.key)).toBe(true);
    expect(p.once).toBe(true);
    expect(await store.exists(ref.key)).toBe(false);
    expect(p.once).toBe(true); // resolved: the proxy keeps its target
    expect(store.stats().entries).toBe(0);
  });

  test('proxyBatch and proxyFromKey', async () => {
    const store = create();
    const [a, b] = store.proxyBatch([{ i: 1 }, { i: 2 }]);
    expect(a!.i + b!.i).toBe(3);
    const key = await store.put([9, 8]);
    const p = store.proxyFromKey<number[]>(key);
    expect(Array.isArray(p)).toBe(true); // the kind recorded at put time
    expect(p[0]).toBe(9);
  });

  test('a proxy whose key was evicted raises ProxyResolveError naming key and store, on every access', async () => {
    const store = create();
    const p = store.proxy({ gone: 1 });
    const ref = storeReference(p)!;
    await store.evict(ref.key);
    for (let i = 0; i < 2; i++) {
      const error = thrown(() => p.gone) as ProxyResolveError;
      expect(error).toBeInstanceOf(ProxyResolveError);
      expect(error.store).toBe(store.name);
      expect(error.key).toBe(store.describeKey(ref.key));
      expect(error.message).toContain(store.name);
      expect(error.cause).toBeInstanceOf(KeyNotFoundError);
    }
    expect(isResolved(p)).toBe(false);
  });

  test('proxies with a custom deserializer resolve here but refuse to travel', () => {
    const store = create();
    const p = store.proxy(
      { v: 7 },
      {
        serializer: (v) => new TextEncoder().encode(JSON.stringify(v)),
        deserializer: (b) => JSON.parse(new TextDecoder().decode(b.slice())) as { v: number },
      },
    );
    expect(p.v).toBe(7);
    expect(() => storeReference(p)).toThrow(SerializationError);
  });

  test('storeReference is plain cloneable data; proxyFromReference resolves it (here, through the same store)', async () => {
    const store = create();
    const p = store.proxy({ deep: { v: [1, 2] } });
    const ref = storeReference(p)!;
    expect(isResolved(p)).toBe(false); // taking the reference does not resolve
    const cloned = structuredClone(ref);
    expect(isStoreReference(cloned)).toBe(true);
    expect(cloned.storeConfig).toEqual(store.config());
    expect(getOrCreateStore(cloned.storeConfig)).toBe(store);
    const q = proxyFromReference<{ deep: { v: number[] } }>(cloned);
    expect(q.deep.v).toEqual([1, 2]);
    expect(storeReference({})).toBeUndefined();
    expect(() => proxyFromReference({ key: 1 } as never)).toThrow(TypeError);
  });

  test('resolveAsync fetches in the background', async () => {
    const store = create();
    const p = store.proxy({ later: true });
    await resolveAsync(p);
    expect(isResolved(p)).toBe(true);
    expect(p.later).toBe(true);
  });

  test('keys of another store (files: missing, as any key of another directory), and things that are not keys, are refused', async () => {
    const store = create();
    const other = create();
    const key = await other.put({ x: 1 });
    await expect(store.get(key)).rejects.toThrow(name === 'file' ? KeyNotFoundError : InvalidKeyError);
    await expect(store.get('../../etc/passwd' as never)).rejects.toThrow(InvalidKeyError);
    await expect(store.exists({} as never)).rejects.toThrow(InvalidKeyError);
  });

  test('stats account entries and bytes, and release them on evict', async () => {
    const store = create();
    const k1 = await store.put(new Float64Array(1000));
    await store.put(new Float64Array(500));
    const { entries, bytes } = store.stats();
    expect(entries).toBe(2);
    expect(bytes).toBeGreaterThanOrEqual(1500 * 8);
    expect(bytes).toBeLessThan(1500 * 8 + 1024);
    await store.evict(k1);
    expect(store.stats().entries).toBe(1);
    expect(store.stats().bytes).toBeLessThan(500 * 8 + 512);
  });

  test('close frees everything: proxies raise, operations raise StoreClosedError, close is idempotent', async () => {
    const store = make();
    const p = store.proxy({ v: 1 });
    const resolved = store.proxy({ w: 2 });
    resolve(resolved);
    const key = await store.put({ x: 1 });
    await store.close();
    await store.close();
    expect(store.closed).toBe(true);
    expect(store.stats()).toMatchObject({ entries: 0, bytes: 0, cacheEntries: 0 });
    const error = thrown(() => p.v) as ProxyResolveError;
    expect(error).toBeInstanceOf(ProxyResolveError);
    expect(error.cause).toBeInstanceOf(StoreClosedError);
    expect(resolved.w).toBe(2); // already resolved proxies keep their target
    await expect(store.get(key)).rejects.toThrow(StoreClosedError);
    await expect(store.put(1)).rejects.toThrow(StoreClosedError);
    expect(() => store.proxy({})).toThrow(StoreClosedError);
  });

  test('await using closes the store', async () => {
    let key: unknown;
    let config: ReturnType<AnyStore['config']>;
    {
      await using store = make();
      key = await store.put({ scoped: true });
      config = store.config();
    }
    // Rebuilt from config (as a worker would), the key is missing.
    const again = getOrCreateStore(config);
    expect(await again.exists(key)).toBe(false);
    await again.close();
  });
});
