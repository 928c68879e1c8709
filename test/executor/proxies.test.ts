import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  FileStore,
  Parallel,
  ProxyResolveError,
  SharedMemoryStore,
  type Store,
  delayed,
  isResolved,
  parallel,
  proxy,
  shared,
  task,
  wrapNonSerializable,
} from 'skein';

const fixture = new URL('../fixtures/proxy-tasks.mjs', import.meta.url);
const sumWithStats = task<(p: Float64Array) => { sum: number; hits: number; misses: number }>(fixture, 'sumWithStats');
const overlap = task<(p: Float64Array, n: number) => { resolvedBeforeUse: boolean; first: number; acc: number }>(fixture, 'overlap');
const sum = (xs: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return s;
};
const values = Float64Array.from({ length: 1000 }, (_, i) => i);
const expected = (999 * 1000) / 2;

const par = new Parallel({ nJobs: 2 });
const tmp: string[] = [];
afterAll(async () => {
  await par.close();
  await Promise.all(tmp.map((d) => rm(d, { recursive: true, force: true })));
});

async function fileStore(): Promise<FileStore> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'skein-proxies-'));
  tmp.push(dir);
  return new FileStore({ dir: path.join(dir, 'store') });
}

// Each store class has its own key type; these tests only pass keys back to the store that made them.
type AnyStore = Store<any>;
describe.each<[string, () => Promise<AnyStore>]>([
  ['SharedMemoryStore', async () => new SharedMemoryStore()],
  ['FileStore', fileStore],
])('store proxies in tasks (%s)', (_name, makeStore) => {
  test('only the reference travels: the worker resolves it, the caller\'s proxy stays unresolved', async () => {
    await using store = await makeStore();
    const p = store.proxy(values);
    const out = await par.run([delayed(sum)(p), delayed(sum)(p)]);
    expect(out).toEqual([expected, expected]);
    expect(isResolved(p)).toBe(false);
  });

  test('proxies nested in arrays and plain objects travel too', async () => {
    await using store = await makeStore();
    const p = store.proxy(values);
    const nested = (arg: { data: Float64Array[]; label: string }) => `${arg.label}:${arg.data[0]!.length}:${arg.data[0]![999]}`;
    expect(await par.run([delayed(nested)({ data: [p], label: 'x' })])).toEqual(['x:1000:999']);
    expect(isResolved(p)).toBe(false);
  });

  test('many tasks on one worker using one key resolve it once (per-worker LRU cache)', async () => {
    await using store = await makeStore();
    const p = store.proxy(values);
    const out = await parallel(Array.from({ length: 40 }, () => delayed(sumWithStats)(p)), { nJobs: 2, batchSize: 1 });
    expect(out.every((r) => r.sum === expected)).toBe(true);
    // Each worker's counters only grow: its largest miss count is its total.
    const maxMisses = Math.max(...out.map((r) => r.misses));
    expect(maxMisses).toBe(1);
    expect(Math.max(...out.map((r) => r.hits))).toBeGreaterThan(5);
  });

  test('a missing key fails the task with ProxyResolveError naming key and store', async () => {
    const store = await makeStore();
    const key = await store.put(values);
    const p = store.proxyFromKey<Float64Array>(key);
    await store.evict(key);
    const error = (await par.run([delayed(sum)(p)]).catch((e: unknown) => e)) as ProxyResolveError & { taskIndex: number };
    expect(error).toBeInstanceOf(ProxyResolveError);
    expect(error.message).toContain(store.config().name);
    expect(error.store).toBe(store.config().name);
    expect(error.taskIndex).toBe(0);
    await store.close();
  });

  test('the worker can overlap fetching with compute via resolveAsync', async () => {
    await using store = await makeStore();
    const p = store.proxy(values);
    expect(await par.run([delayed(overlap)(p, 1000)])).toEqual([{ resolvedBeforeUse: true, first: 0, acc: 499500 }]);
  });

  test('proxies captured by wrapNonSerializable travel as references', async () => {
    await using store = await makeStore();
    const table = store.proxy(values);
    const lookup = wrapNonSerializable((i: number) => table[i], { table });
    expect(await par.run([3, 7].map((i) => delayed(lookup)(i)))).toEqual([3, 7]);
    expect(isResolved(table)).toBe(false);
  });
});

test('shared() arrays are shared with the workers, not copied', async () => {
  const counts = shared(Int32Array, 4);
  const bump = (c: Int32Array, i: number) => Atomics.add(c, i, 1);
  await par.run([0, 1, 2, 3, 3].map((i) => delayed(bump)(counts, i)));
  expect(Array.from(counts)).toEqual([1, 1, 1, 2]);
});

test('a proxy of a plain factory cannot travel by reference: its target is sent instead', async () => {
  const p = proxy(() => [1, 2, 3]);
  const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  expect(await par.run([delayed(total)(p)])).toEqual([6]);
});
