// The bullmq backend as a Parallel sees it: large arguments through a RedisStore
// (once per run, once per worker process, gone when the run ends), large
// results, preDispatch, and task graphs, on two real skein-worker processes.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Queue } from 'bullmq';
import { Parallel, compute, delayed, task } from 'skein';
import { RedisStore, bullmq, type BatchDoneInfo } from 'skein/distributed';
import { client, keysMatching, redisUrl, suitePrefix } from './redis.js';
import { startWorker, type WorkerProcess } from './workers.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url).href;
const argInfo = task<(x: number, data: Float64Array, ms: number) => { x: number; pid: number; length: number; first: number; last: number; shared: boolean }>(
  tasks,
  'argInfo',
);
const failOdd = task<(x: number) => number>(tasks, 'failOdd');
const busy = task<(x: number, ms: number) => { x: number; pid: number }>(tasks, 'busy');
const bigResult = task<(x: number, n: number) => Float64Array>(tasks, 'bigResult');

const prefix = suitePrefix('scale');
const queue = 'jobs';
const redis = client();
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  workers = await Promise.all([1, 2].map(() => startWorker(['--redis', redisUrl(), '--queue', queue, '--prefix', prefix, '--concurrency', '2'])));
});

afterAll(async () => {
  const codes = await Promise.all(workers.map((w) => w.stop()));
  expect(codes).toEqual([0, 0]);
  await redis.quit();
});

function backend(options: Partial<Parameters<typeof bullmq>[0]> = {}) {
  return bullmq({ connection: redisUrl(), queue, prefix, concurrency: 4, ...options });
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** skein's keys for the queue (offload store entries, batch and result frames) and its jobs. */
async function leftovers(): Promise<string[]> {
  return [...(await keysMatching(redis, `${prefix}:${queue}:skein:*`)), ...(await keysMatching(redis, `${prefix}:${queue}:skein-*`))];
}

/** Bytes of skein's values in Redis now (store entries and frames: all plain strings). */
async function storedBytes(): Promise<number> {
  const keys = await keysMatching(redis, `${prefix}:${queue}:skein:*`);
  const lengths = await Promise.all(keys.map((k) => redis.strlen(k).catch(() => 0)));
  return lengths.reduce((a, b) => a + b, 0);
}

async function usedMemory(): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
}

/** A Float64Array of `n` numbers, `i` at index i. */
function ramp(n: number): Float64Array {
  return new Float64Array(n).map((_, i) => i);
}

describe('large arguments go to a RedisStore on the backend connection', () => {
  test('Redis growth back to baseline after a run: a 16 MB argument shared by 8 tasks is uploaded once and fetched once per worker process', async () => {
    const fetched = new Map<number, number>();
    const onBatchDone = (info: BatchDoneInfo): void => void fetched.set(info.worker.pid, (fetched.get(info.worker.pid) ?? 0) + info.fetchedBytes);
    await using b = backend({ onBatchDone });
    await using par = new Parallel({ backend: b, batchSize: 1 });
    const data = ramp(2_100_000); // 16.8 MB
    const baseline = await usedMemory();

    const running = par.run(Array.from({ length: 8 }, (_, i) => delayed(argInfo)(i, data, 250)));
    let peak = 0;
    let settled = false;
    void running.finally(() => (settled = true)).catch(() => {});
    while (!settled) {
      peak = Math.max(peak, await storedBytes());
      await new Promise((r) => setTimeout(r, 20));
    }
    const out = await running;

    expect(out.map((r) => r.x)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const r of out) expect(r).toMatchObject({ length: data.length, first: 0, last: data.length - 1, shared: true });
    expect(new Set(out.map((r) => r.pid))).toEqual(new Set(workers.map((w) => w.pid)));
    // Once in Redis, not once per job: the jobs carry its key.
    expect(peak).toBeGreaterThanOrEqual(data.byteLength);
    expect(peak).toBeLessThan(1.5 * data.byteLength);
    // Each worker process fetched it once, however many of its threads ran tasks on it.
    for (const w of workers) {
      expect(fetched.get(w.pid)).toBeGreaterThanOrEqual(data.byteLength);
      expect(fetched.get(w.pid)).toBeLessThan(1.1 * data.byteLength);
    }

    // Nothing of the run is left, and Redis gave the memory back (UNLINK frees in the background).
    expect(await leftovers()).toEqual([]);
    let now = await usedMemory();
    await until(async () => (now = await usedMemory()) < baseline + 2 * 2 ** 20, `used_memory back near ${baseline} (now ${now})`, 10000);

    // A second run on the same Parallel uploads it again (the first run's key is gone) and is as clean.
    fetched.clear();
    const again = await par.run(Array.from({ length: 4 }, (_, i) => delayed(argInfo)(i, data, 0)));
    expect(again.every((r) => r.length === data.length)).toBe(true);
    expect(await leftovers()).toEqual([]);
  });

  test('a failed run and an aborted run delete their large arguments too', async () => {
    await using b = backend();
    await using par = new Parallel({ backend: b, batchSize: 1 });
    const data = ramp(300_000);
    await expect(
      par.run([...[0, 2, 4].map((x) => delayed(argInfo)(x, data, 100)), delayed(failOdd)(1), delayed(argInfo)(6, data, 100)]),
    ).rejects.toMatchObject({ name: 'QuotaError' });
    await until(async () => (await leftovers()).length === 0, 'the failed run to leave nothing in Redis');

    const controller = new AbortController();
    const aborted = new Parallel({ backend: b, batchSize: 1, signal: controller.signal });
    const running = aborted.run(Array.from({ length: 12 }, (_, i) => delayed(argInfo)(i, data, 2000)));
    await until(async () => (await keysMatching(redis, `${prefix}:${queue}:skein:*`)).length > 0, 'the argument to be in Redis');
    controller.abort(new Error('enough'));
    await expect(running).rejects.toThrow('enough');
    await aborted.close();
    await until(async () => (await leftovers()).length === 0, 'the aborted run to leave nothing in Redis');
  });

  test('a store of your own still wins over the default; a proxy of a RedisStore entry resolves in the task', async () => {
    await using b = backend();
    const store = new RedisStore({ connection: redisUrl(), prefix: `${prefix}-mine` });
    await using par = new Parallel({ backend: b, store });
    const data = ramp(200_000);
    const [first] = await par.run([delayed(argInfo)(0, data, 0)]);
    expect(first).toMatchObject({ length: 200_000, shared: true });
    const key = await store.put(data);
    const [viaProxy] = await par.run([delayed(argInfo)(1, store.proxyFromKey<Float64Array>(key), 0)]);
    expect(viaProxy).toMatchObject({ length: 200_000, last: 199_999 });
    await store.close();
    expect(await keysMatching(redis, `${prefix}-mine:*`)).toEqual([]);
  });
});

test('large results come back through Redis as bytes, and the caller deletes them', async () => {
  await using b = backend();
  await using par = new Parallel({ backend: b, batchSize: 2 });
  const out = await par.run([1, 2, 3, 4].map((x) => delayed(bigResult)(x, 500_000)));
  expect(out.map((r) => [r.length, r[0], r[499_999]])).toEqual([1, 2, 3, 4].map((x) => [500_000, x, x]));
  expect(await leftovers()).toEqual([]);
});

describe('preDispatch on the bullmq backend', () => {
  /** The most jobs of the run in the queue (waiting or running) at once. */
  async function peakInQueue(options: { preDispatch?: number | string; concurrency: number }): Promise<number> {
    const q = new Queue(queue, { connection: { url: redisUrl() }, prefix });
    await using b = backend({ concurrency: options.concurrency });
    await using par = new Parallel({ backend: b, batchSize: 1, ...(options.preDispatch === undefined ? {} : { preDispatch: options.preDispatch }) });
    let peak = 0;
    let settled = false;
    const running = par.run(Array.from({ length: 16 }, (_, i) => delayed(busy)(i, 150)));
    void running.finally(() => (settled = true)).catch(() => {});
    while (!settled) {
      const counts = await q.getJobCounts('waiting', 'active', 'prioritized', 'delayed');
      peak = Math.max(peak, Object.values(counts).reduce((a, n) => a + n, 0));
      await new Promise((r) => setTimeout(r, 10));
    }
    expect((await running).map((r) => r.x)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    await q.close();
    return peak;
  }

  test("the default '2*nJobs' keeps twice the backend's concurrency in the queue, no more", async () => {
    // 4 worker threads in all: with 6 in flight, 2 jobs wait in the queue at the peak.
    expect(await peakInQueue({ concurrency: 3 })).toBe(6);
  });

  test('a number is the most batches in the queue at once', async () => {
    expect(await peakInQueue({ concurrency: 3, preDispatch: 2 })).toBe(2);
  });
});

test('task graphs compute on the worker processes', async () => {
  await using b = backend();
  await using par = new Parallel({ backend: b });
  const square = (x: number) => ({ v: x * x, pid: process.pid });
  const add = (a: { v: number }, c: { v: number }) => ({ v: a.v + c.v, pid: process.pid });
  const three = delayed(square)(3);
  const four = delayed(square)(4);
  const sum = delayed(add)(three, four);
  const twice = delayed(add)(sum, four);
  const [s, t, f] = await compute(sum, twice, four, { parallel: par });
  expect([s.v, t.v, f.v]).toEqual([25, 41, 16]);
  const pids = new Set(workers.map((w) => w.pid));
  for (const pid of [s.pid, t.pid, f.pid]) expect(pids.has(pid)).toBe(true);
  expect(await leftovers()).toEqual([]);
});

describe('auto batching on the bullmq backend', () => {
  /** Sizes of the batches of a second run of 40,000 trivial tasks, after a first one taught auto batching the function. */
  async function secondRunBatches(options: { batchLatency?: number } = {}): Promise<number[]> {
    const sizes: number[] = [];
    await using b = backend({ ...options, onBatchDone: (info) => void sizes.push(info.size) });
    await using par = new Parallel({ backend: b });
    const inc = (x: number) => x + 1;
    const xs = Array.from({ length: 40_000 }, (_, i) => i);
    await par.run(xs.map((x) => delayed(inc)(x)));
    sizes.length = 0;
    const out = await par.run(xs.map((x) => delayed(inc)(x)));
    expect(out).toEqual(xs.map(inc));
    return sizes;
  }

  test('trivial tasks go in one batch per job when a round trip is long against them', async () => {
    // A round trip longer than loopback's 5 ms default: on a loaded machine a trivial task is
    // measured at up to ~15 µs (threads waiting for a core), which must still make one batch per job.
    const sizes = await secondRunBatches({ batchLatency: 50 });
    // 4 worker threads: one batch of 10,000 each.
    expect(sizes).toEqual([10_000, 10_000, 10_000, 10_000]);
    expect(sizes.reduce((a, n) => a + n, 0)).toBe(40_000);
    expect(await leftovers()).toEqual([]);
  }, 60_000);

  test('with `batchLatency: 0` the run is cut as on threads: at least 8 batches per job', async () => {
    const sizes = await secondRunBatches({ batchLatency: 0 });
    expect(sizes.length).toBeGreaterThanOrEqual(32);
  }, 60_000);

  test('bad `batchLatency` says what was expected', () => {
    expect(() => backend({ batchLatency: -1 })).toThrow('Expected `batchLatency` to be a non-negative number of ms, got `-1` (number)');
    expect(() => backend({ batchLatency: '5' as unknown as number })).toThrow(/Expected `batchLatency` to be a non-negative number of ms, got/);
  });
});
