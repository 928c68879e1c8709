import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  FileStore,
  Parallel,
  SharedMemoryStore,
  TaskTimeoutError,
  delayed,
  parallel,
  shared,
  task,
  wrapNonSerializable,
  type PutOptions,
} from 'skein';
import { parseNbytes } from '#src/store/offload.js';
import { captureStderr } from '../helpers.js';
import { estimateBytes } from '#src/serialize/estimate.js';
import { prepareResults } from '#src/task/results.js';
import { restoreResults } from '#src/task/restore.js';

const fixture = new URL('../fixtures/offload-tasks.mjs', import.meta.url);
const sighting = task<(v: unknown) => 'first' | 'again'>(fixture, 'sighting');
const makeAndKeep = task<(n: number) => Float64Array>(fixture, 'makeAndKeep');
const lastDetached = task<() => boolean | null>(fixture, 'lastDetached');

const MB = 1024 * 1024;
const big = () => Float64Array.from({ length: (2 * MB) / 8 }, (_, i) => i % 7);
const sum = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
};
const bufferKind = (a: ArrayBufferView) => Object.prototype.toString.call(a.buffer);

/** A real SharedMemoryStore that counts what is put into it. */
class CountingStore extends SharedMemoryStore {
  puts = 0;
  override putSync(value: unknown, options?: PutOptions) {
    this.puts++;
    return super.putSync(value, options);
  }
}

const tmp: string[] = [];
afterAll(() => Promise.all(tmp.map((d) => rm(d, { recursive: true, force: true }))));

describe('maxNbytes', () => {
  test('accepts sizes joblib style, null disables, anything else is refused', () => {
    expect(parseNbytes('1M')).toBe(MB);
    expect(parseNbytes('512K')).toBe(512 * 1024);
    expect(parseNbytes('2G')).toBe(2 * 1024 ** 3);
    expect(parseNbytes('1.5MB')).toBe(1.5 * MB);
    expect(parseNbytes(1000)).toBe(1000);
    expect(parseNbytes(null)).toBeNull();
    expect(() => new Parallel({ maxNbytes: 'lots' })).toThrow(/maxNbytes/);
    expect(() => new Parallel({ maxNbytes: -1 })).toThrow(RangeError);
    expect(() => new Parallel({ store: 'redis' as never })).toThrow(/store/);
  });

  test('size estimates are exact for binary data and close for records, strings and maps', () => {
    expect(estimateBytes(new Float64Array(1000))).toBe(8000);
    expect(estimateBytes(new ArrayBuffer(123))).toBe(123);
    const records = Array.from({ length: 10_000 }, (_, i) => ({ id: i, name: `n${i}` }));
    const est = estimateBytes(records);
    expect(est).toBeGreaterThan(10_000 * 20);
    expect(est).toBeLessThan(10_000 * 200);
    expect(estimateBytes('x'.repeat(1000))).toBeGreaterThanOrEqual(1000);
    expect(estimateBytes(new Map(records.map((r) => [r.id, r])))).toBeGreaterThan(10_000 * 20);
  });
});

describe('offloaded arguments', () => {
  test('a large typed array reaches the task as a real array in shared memory, with the right contents', async () => {
    const data = big();
    const expected = sum(data);
    const [kind, total, isView] = await parallel([delayed((a: Float64Array) => [Object.prototype.toString.call(a.buffer), (() => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]!; return s; })(), ArrayBuffer.isView(a)])(data)], { nJobs: 2 }).then((r) => r[0]!);
    expect(kind).toBe('[object SharedArrayBuffer]');
    expect(total).toBe(expected);
    expect(isView).toBe(true);
  });

  test('below the threshold, or with maxNbytes: null, arguments are cloned as usual', async () => {
    const store = new CountingStore();
    const small = new Float64Array(100);
    expect(await parallel([delayed(bufferKind)(small)], { nJobs: 2, store })).toEqual(['[object ArrayBuffer]']);
    expect(await parallel([delayed(bufferKind)(big())], { nJobs: 2, store, maxNbytes: null })).toEqual(['[object ArrayBuffer]']);
    expect(store.puts).toBe(0);
    await store.close();
  });

  test('records, nested values and captured values are offloaded and arrive intact', async () => {
    const store = new CountingStore();
    const records = Array.from({ length: 40_000 }, (_, i) => ({ id: i, name: `row ${i}`, score: i / 4 }));
    const nested = { label: 'scores', data: [big()], meta: { small: true } };
    const factor = big();
    const scale = wrapNonSerializable((i: number) => factor[i]! * 10, { factor });
    const countRows = (rs: { id: number; score: number }[]) => rs.length + rs[39_999]!.score;
    const describeNested = (n: typeof nested) => `${n.label}:${n.data[0]!.length}:${n.data[0]![13]}:${n.meta.small}`;
    const out = await parallel([delayed(countRows)(records), delayed(describeNested)(nested), delayed(scale)(13)], { nJobs: 2, store });
    expect(out).toEqual([40_000 + 39_999 / 4, `scores:${(2 * MB) / 8}:6:true`, 60]);
    expect(store.puts).toBe(3);
    // The caller's objects were not touched.
    expect(nested.data[0]).toBeInstanceOf(Float64Array);
    await store.close();
  });

  test('the same object passed to many tasks is stored once and resolved once per worker', async () => {
    const store = new CountingStore();
    const data = big();
    const out = await parallel(Array.from({ length: 16 }, () => delayed(sighting)(data)), { nJobs: 2, batchSize: 1, store });
    expect(store.puts).toBe(1);
    const firsts = out.filter((s) => s === 'first').length;
    expect(firsts).toBeGreaterThanOrEqual(1);
    expect(firsts).toBeLessThanOrEqual(2);
    await store.close();
  });

  test('arrays allocated with shared() pass as they are: no store, no copy', async () => {
    const store = new CountingStore();
    const counts = shared(Int32Array, MB);
    const bump = (c: Int32Array) => Atomics.add(c, 0, 1);
    await parallel([delayed(bump)(counts), delayed(bump)(counts)], { nJobs: 2, store });
    expect(counts[0]).toBe(2);
    expect(store.puts).toBe(0);
    await store.close();
  });

  test('verbose >= 10 reports what was offloaded', async () => {
    const data = big();
    const lines = await captureStderr(() => parallel([delayed(sum)(data), delayed(sum)(data)], { nJobs: 2, verbose: 10 }));
    expect(lines.some((l) => /Offloaded 1 large value \(2\.0 MB\) to store skein-offload/.test(l))).toBe(true);
  });
});

describe('what a run stored is freed when it ends', () => {
  const failing = (a: Float64Array, i: number) => {
    if (i === 1) throw new Error('task failed');
    return a.length;
  };
  const spinning = (a: Float64Array) => {
    for (;;) void a.length;
  };

  test.each([
    ['success', () => ({}), (d: Float64Array) => [delayed(sum)(d), delayed(sum)(d)], undefined],
    ['a task error', () => ({}), (d: Float64Array) => [0, 1, 2].map((i) => delayed(failing)(d, i)), 'task failed'],
    ['a timeout', () => ({ timeout: 300 }), (d: Float64Array) => [delayed(spinning)(d)], TaskTimeoutError],
    ['an abort', () => ({ signal: AbortSignal.timeout(300) }), (d: Float64Array) => [delayed(spinning)(d)], /aborted/],
  ] as const)('after %s', async (_label, options, make, failure) => {
    const store = new CountingStore();
    const par = new Parallel({ nJobs: 2, store, ...options() });
    const running = par.run(make(big()) as never);
    if (failure === undefined) await running;
    else await expect(running).rejects.toThrow(failure as never);
    expect(store.puts).toBe(1);
    expect(store.stats().entries).toBe(0);
    await par.close();
    // A store of yours is yours: the Parallel leaves it open.
    expect(store.closed).toBe(false);
    await store.close();
  });

  test("the Parallel's own shared store holds nothing after a run and is closed with it", async () => {
    const par = new Parallel({ nJobs: 2 });
    await par.run([delayed(sum)(big())]);
    const store = par.offloadStore!;
    expect(store.stats().entries).toBe(0);
    await par.close();
    expect(store.closed).toBe(true);
  });

  test("store: 'file' leaves the temp folder empty after the run and after close()", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'skein-offload-'));
    tmp.push(dir);
    const par = new Parallel({ nJobs: 2, store: 'file', tempFolder: dir });
    const data = big();
    expect(await par.run([delayed(sum)(data), delayed(sum)(data)])).toEqual([sum(data), sum(data)]);
    expect(par.offloadStore).toBeInstanceOf(FileStore);
    expect(await readdir(dir)).toEqual([]);
    await par.close();
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('large results', () => {
  test('a large binary result is moved out of the worker, not copied', async () => {
    const par = new Parallel({ nJobs: 2, batchSize: 1 });
    const [made] = await par.run([delayed(makeAndKeep)(MB / 2)]);
    expect(made!.length).toBe(MB / 2);
    expect(made![7]).toBe(3);
    const detached = await par.run(Array.from({ length: 12 }, () => delayed(lastDetached)()));
    expect(detached).toContain(true);
    expect(detached).not.toContain(false);
    await par.close();
  });

  test("large records as a fresh pool's first results, in both error modes, arrive whole (the serializer loads on demand in the worker)", async () => {
    const records = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i, name: `r${i}`, when: new Date(i) }));
    for (const errors of ['raise', 'settle'] as const) {
      const par = new Parallel({ nJobs: 2, batchSize: 1, errors });
      const out = await par.run([delayed(records)(40_000), delayed(records)(40_001)]);
      const values = errors === 'settle' ? out.map((o) => (o as { value: unknown }).value) : out;
      expect((values[0] as unknown[]).length).toBe(40_000);
      expect((values[1] as unknown[])[40_000]).toEqual({ id: 40_000, name: 'r40000', when: new Date(40_000) });
      await par.close();
    }
  });

  test('with maxNbytes: null results are copied as usual', async () => {
    const par = new Parallel({ nJobs: 2, batchSize: 1, maxNbytes: null });
    await par.run([delayed(makeAndKeep)(MB / 2)]);
    const detached = await par.run(Array.from({ length: 12 }, () => delayed(lastDetached)()));
    expect(detached).toContain(false);
    expect(detached).not.toContain(true);
    await par.close();
  });

  test('large structured results come back as ordinary values', async () => {
    const make = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i, tag: `t${i % 10}`, when: new Date(0) }));
    const [rows] = await parallel([delayed(make)(50_000)], { nJobs: 2 });
    expect(Array.isArray(rows)).toBe(true);
    expect(rows).toHaveLength(50_000);
    expect(rows![49_999]).toEqual({ id: 49_999, tag: 't9', when: new Date(0) });
  });

  test('in the worker, large records are framed by the registry and binary data is listed for transfer', async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `r${i}` }));
    const bytes = new Float64Array(MB / 8);
    const small = { ok: true };
    const result = { values: [rows, bytes, small, { parts: [bytes] }], errors: [], durationMs: 1 };
    // The registry loads with the first result that needs it.
    const transfer = await prepareResults(result, MB / 2);
    expect(transfer).toHaveLength(2);
    expect(transfer).toContain(bytes.buffer);
    expect(result.values[0]).toMatchObject({ __skeinFramedResult: 1 });
    expect(result.values[2]).toBe(small);
    const restored = restoreResults(result.values);
    expect(restored[0]).toEqual(rows);
  });
});

describe('shared memory reused across runs', () => {
  test('a Parallel reuses the shared memory of a finished run, and every run sees its own data', async () => {
    const par = new Parallel({ nJobs: 2 });
    const a = big();
    const b = big().map((v) => v * 2);
    expect(await par.run([delayed(sum)(a), delayed(sum)(a)])).toEqual([sum(a), sum(a)]);
    expect(await par.run([delayed(sum)(b), delayed(sum)(b)])).toEqual([sum(b), sum(b)]);
    expect(await par.run([delayed(sum)(a)])).toEqual([sum(a)]);
    await par.close();
  });

  test('the pool lends buffers that fit, takes them back only from settled runs, and keeps no more than the last run used', async () => {
    const { Offloader, SharedBufferPool } = await import('#src/store/offload.js');
    const { Delayed } = await import('#src/task/delayed.js');
    const pool = new SharedBufferPool();
    const store = new SharedMemoryStore();
    const task = (data: Float64Array) => delayed(sum)(data) as unknown as InstanceType<typeof Delayed>;

    const first = new Offloader(MB, store, pool);
    first.tasks([task(big())]);
    await first.free(true);
    expect(pool.size).toBe(1);
    expect(pool.bytes).toBeGreaterThan(2 * MB);

    const failed = new Offloader(MB, store, pool);
    failed.tasks([task(big())]);
    expect(pool.bytes).toBe(0);
    await failed.free(false);
    // A run that ended while tasks may still read its memory gives nothing back.
    expect(pool.bytes).toBe(0);

    // Sizes that grow: a pooled buffer too small for the new value is let go, not kept beside it.
    pool.giveBack([pool.take(MB)!]);
    expect(pool.size).toBe(1);
    const larger = pool.take(4 * MB)!;
    expect(larger.byteLength).toBeGreaterThan(4 * MB);
    expect(pool.size).toBe(0);
    // A run that used less than what is pooled trims the pool to what it used.
    pool.giveBack([larger]);
    pool.giveBack([pool.take(MB)!]);
    expect(pool.size).toBe(1);
    expect(pool.bytes).toBeLessThan(2 * MB);
    // And never more than MAX_BUFFERS buffers.
    pool.giveBack(Array.from({ length: 6 }, () => pool.take(MB)!));
    expect(pool.size).toBe(SharedBufferPool.MAX_BUFFERS);
    expect(pool.take(2 * SharedBufferPool.MAX_BYTES)).toBeUndefined();
    pool.clear();
    expect(pool.bytes).toBe(0);
    await store.close();
  });
});
