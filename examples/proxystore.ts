/**
 * ProxyStore's "Proxies" and "Stores" pages, told in skein.
 *
 *   npm run build && npx tsx examples/proxystore.ts
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  FileStore,
  SharedMemoryStore,
  extract,
  isProxy,
  isResolved,
  proxy,
  resolve,
  resolveAsync,
  shared,
  storeReference,
  delayed,
  parallel,
  task,
} from 'skein';

// ---------------------------------------------------------------- Proxies
// A proxy is a lazy stand-in made from a factory: nothing runs until the
// proxy is first used, then it behaves as the object the factory made.

let calls = 0;
const factory = (): Float64Array => {
  calls++;
  return Float64Array.from({ length: 1_000 }, (_, i) => i);
};

const p = proxy(factory);
assert.equal(isProxy(p), true);
assert.equal(isResolved(p), false); // the factory has not run yet
assert.equal(calls, 0);

// First use resolves it: `instanceof`, properties and methods all see the array.
assert.ok(p instanceof Float64Array);
console.log('sum of the first ten:', p.subarray(0, 10).reduce((a, b) => a + b, 0));
assert.equal(isResolved(p), true);
assert.equal(calls, 1); // and it never runs again

// `extract` hands over the real object (use it in hot loops: a proxy traps every access).
const xs = extract(p);
assert.ok(!isProxy(xs) && xs instanceof Float64Array);

// `resolve` forces resolution now, e.g. before a timed section.
const q = proxy(() => new Map([['answer', 42]]));
resolve(q);
console.log('map through a proxy:', q.get('answer'));

// ----------------------------------------------------------------- Stores
// A store = connector (moves bytes) + serializer + per-thread LRU cache.
// Its proxies carry only { key, storeConfig }: that is what travels to workers.

const dir = await mkdtemp(path.join(tmpdir(), 'proxystore-example-'));
{
  await using store = new FileStore({ dir, cacheSize: 16 });

  const key = await store.put({ hello: 'world' });
  console.log('get:', await store.get(key), 'exists:', await store.exists(key));
  await store.evict(key);
  console.log('after evict, exists:', await store.exists(key));

  // A custom serializer for one put, and its deserializer for the get.
  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }
  const toBytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
  const toPoint = (b: Uint8Array): Point => {
    const { x, y } = JSON.parse(new TextDecoder().decode(b)) as Point;
    return new Point(x, y);
  };
  const pk = await store.put(new Point(1, 2), { serializer: toBytes });
  const point = await store.get(pk, { deserializer: toPoint });
  assert.ok(point instanceof Point);
  console.log('custom serializer:', point);

  // Proxies from a store: lazy, and resolved through the cache.
  const weights = store.proxy(new Float32Array([0.5, 0.25, 0.125]));
  assert.equal(isResolved(weights), false);
  console.log('store proxy:', weights instanceof Float32Array, Array.from(weights));

  // What would travel to a worker: plain data, structured-cloneable.
  console.log('reference:', storeReference(store.proxy({ big: 'object' })));

  // Ephemeral proxies are evicted from the store as soon as they resolve.
  const once = store.proxy({ use: 'once' }, { evict: true });
  const ref = storeReference(once)!;
  void once.use;
  console.log('ephemeral entry still stored:', await store.exists(ref.key as string));

  // Proxies of many objects at once.
  const batch = store.proxyBatch([{ i: 1 }, { i: 2 }, { i: 3 }]);
  console.log('batch:', batch.map((b) => b.i));

  // `resolveAsync` starts reading the file in the background (fs.promises),
  // so the first access does not block on I/O.
  const later = store.proxy({ prefetched: true });
  const pending = resolveAsync(later);
  // ... other work here ...
  await pending;
  console.log('prefetched:', isResolved(later), later.prefetched);

  console.log('stats:', store.stats());
} // `await using`: the store is closed here and deletes the files it wrote
await rm(dir, { recursive: true, force: true });

// Shared memory: workers read the bytes in place; `shared()` allocates there
// from the start, so the array is never copied at all.
{
  await using store = new SharedMemoryStore();
  const big = shared(Float64Array, 1_000_000);
  big.fill(1);
  const sp = store.proxy(big);
  assert.equal(extract(sp).buffer, big.buffer); // the same memory, not a copy
  console.log('shared-memory stats:', store.stats());
}

// -------------------------------------------------------- Proxies in tasks
// A proxy passed to delayed(fn)(...) travels as its reference; each worker
// resolves it through its own cache. A task module (by reference, so it can
// import skein) starts `resolveAsync` first and computes while the bytes load.
{
  await using store = new SharedMemoryStore();
  const data = store.proxy(Float64Array.from({ length: 100_000 }, (_, i) => i % 10));
  const workDir = await mkdtemp(path.join(tmpdir(), 'proxystore-task-'));
  const moduleFile = path.join(workDir, 'work.mjs');
  await writeFile(
    moduleFile,
    `import { resolveAsync } from ${JSON.stringify(import.meta.resolve('skein'))};
export async function work(p, offset) {
  const fetching = resolveAsync(p);   // start fetching now...
  const table = Array.from({ length: 1000 }, (_, i) => i * offset); // ...while setting up
  await fetching;
  let s = 0;
  for (let i = 0; i < p.length; i++) s += p[i];
  return s + table[1];
}
`,
  );
  const work = task<(p: Float64Array, offset: number) => number>(moduleFile, 'work');
  const sums = await parallel([1, 2, 3].map((k) => delayed(work)(data, k)), { nJobs: 2 });
  console.log('resolveAsync in tasks:', sums, '— caller proxy still unresolved:', !isResolved(data));
  await rm(workDir, { recursive: true, force: true });
}
