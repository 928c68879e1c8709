import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Parallel, delayed, task } from 'skein';
import { bullmq } from 'skein/distributed';
import { client, keysMatching, redisUrl, suitePrefix } from './redis.js';
import { startWorker, type WorkerProcess } from './workers.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url).href;
const whoami = task<(x: number) => { x: number; pid: number }>(tasks, 'whoami');
const failOdd = task<(x: number) => number>(tasks, 'failOdd');
const busy = task<(x: number, ms: number, dir?: string) => { x: number; pid: number }>(tasks, 'busy');
const exitProcess = task<() => never>(tasks, 'exitProcess');
const busyWith = task<(x: number, data: Float64Array, ms: number) => { x: number; pid: number; length: number }>(tasks, 'busyWith');

const prefix = suitePrefix('backend');
const queue = 'jobs';
const redis = client();
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  workers = await Promise.all([1, 2].map(() => startWorker(['--redis', redisUrl(), '--queue', queue, '--prefix', prefix, '--concurrency', '2'])));
});
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skein-dist-'));
  dirs.push(dir);
  return dir;
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  const codes = await Promise.all(workers.map((w) => w.stop()));
  expect(codes).toEqual([0, 0]);
  await redis.quit();
});

function backend(options: Partial<Parameters<typeof bullmq>[0]> = {}) {
  return bullmq({ connection: redisUrl(), queue, prefix, concurrency: 4, ...options });
}

/** Keys of the queue's jobs and of skein's frames: what a finished run must not leave behind. */
async function leftovers(): Promise<string[]> {
  return [...(await keysMatching(redis, `${prefix}:${queue}:skein:*`)), ...(await keysMatching(redis, `${prefix}:${queue}:skein-*`))];
}

describe('the bullmq backend on two skein-worker processes', () => {
  test('run: results in order, tasks spread over both processes, functions by source and by module', async () => {
    await using b = backend();
    await using par = new Parallel({ backend: b, batchSize: 5 });
    const out = await par.run(Array.from({ length: 200 }, (_, i) => delayed(whoami)(i)));
    expect(out.map((r) => r.x)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(new Set(out.map((r) => r.pid))).toEqual(new Set(workers.map((w) => w.pid)));
    const doubled = await par.run([1, 2, 3].map((x) => delayed((y: number) => ({ y: y * 2, at: new Map([[y, new Float64Array([y])]]) }))(x)));
    expect(doubled).toEqual([1, 2, 3].map((y) => ({ y: y * 2, at: new Map([[y, new Float64Array([y])]]) })));
    expect(await leftovers()).toEqual([]);
  });

  test('a large batch travels as a binary frame in Redis, with only its key in the job', async () => {
    await using b = backend();
    // Offload off: the argument stays in the batch (with it on, it goes to the run's RedisStore: scale-out.test.ts).
    await using par = new Parallel({ backend: b, maxNbytes: null });
    const big = new Float64Array(1 << 18).map((_, i) => i);
    const running = par.run([delayed(busyWith)(0, big, 600)]);
    let jobKey: string | undefined;
    const end = Date.now() + 10000;
    while (jobKey === undefined && Date.now() < end) {
      jobKey = (await keysMatching(redis, `${prefix}:${queue}:skein-*`)).find((k) => !/:(lock|logs)$/.test(k));
      await new Promise((r) => setTimeout(r, 10));
    }
    const data = JSON.parse((await redis.hget(jobKey!, 'data'))!) as { batch: { key?: string } };
    expect(JSON.stringify(data).length).toBeLessThan(300);
    const id = data.batch.key!.split('-')[0]!;
    const [chunk] = await keysMatching(redis, `${prefix}:${queue}:skein:*:${id}:0`);
    // Raw bytes: the frame is about the array's size (8 bytes a number), not a JSON or base64 blow-up.
    expect(await redis.strlen(chunk!)).toBeLessThan(big.byteLength * 1.01);
    expect(await redis.strlen(chunk!)).toBeGreaterThan(big.byteLength);
    expect((await running)[0]).toMatchObject({ x: 0, length: 1 << 18 });
    expect(await leftovers()).toEqual([]);
    const [sum] = await par.run([delayed((xs: Float64Array) => xs.reduce((a, x) => a + x, 0))(big)]);
    expect(sum).toBe(((1 << 18) * ((1 << 18) - 1)) / 2);
    expect(await leftovers()).toEqual([]);
  });

  test('errors keep their class, message, code, fields and the worker stack; settle reports each', async () => {
    await using b = backend();
    await using par = new Parallel({ backend: b, batchSize: 2 });
    await using settling = new Parallel({ backend: b, batchSize: 2, errors: 'settle' });
    const outcomes = await settling.run([0, 1, 2, 3].map((x) => delayed(failOdd)(x)));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    expect(outcomes[2]).toEqual({ status: 'fulfilled', value: 20 });
    const error = (outcomes[1] as PromiseRejectedResult).reason as Error & { code?: string; limit?: unknown };
    expect(error).toBeInstanceOf(RangeError);
    expect(error.name).toBe('QuotaError');
    expect(error.message).toBe('task 1 is odd');
    expect(error.code).toBe('E_QUOTA');
    expect(error.limit).toEqual({ bytes: 10 });
    expect(error.stack).toContain('tasks.mjs');
    await expect(par.run([0, 1].map((x) => delayed(failOdd)(x)))).rejects.toMatchObject({ name: 'QuotaError', message: 'task 1 is odd' });
  });

  test('iter in completion order and map', async () => {
    await using b = backend();
    await using par = new Parallel({ backend: b, batchSize: 1 });
    const seen: number[] = [];
    for await (const r of par.iter([3, 1, 2].map((x) => delayed(busy)(x, x * 50)), { ordered: false })) seen.push(r.x);
    expect(seen.sort()).toEqual([1, 2, 3]);
    expect(await par.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
  });

  test('a task running past `timeout` fails as TaskTimeoutError naming it', async () => {
    await using b = backend();
    await using par = new Parallel({ backend: b, batchSize: 1, timeout: 300 });
    await expect(par.run([delayed(busy)(0, 0), delayed(busy)(1, 5000)])).rejects.toMatchObject({ name: 'TaskTimeoutError', taskIndex: 1, timeout: 300 });
    // The worker's thread was replaced: the next run works.
    expect((await par.run([delayed(busy)(2, 0)]))[0]!.x).toBe(2);
    expect(await leftovers()).toEqual([]);
  });

  test('a task that kills its thread fails as WorkerCrashedError; the worker process goes on', async () => {
    await using b = backend();
    await using par = new Parallel({ backend: b, batchSize: 1 });
    await expect(par.run([delayed(whoami)(0), delayed(exitProcess)()])).rejects.toMatchObject({ name: 'WorkerCrashedError', taskIndex: 1 });
    expect((await par.run([delayed(whoami)(7)]))[0]!.x).toBe(7);
  });

  test('abort removes the waiting jobs and rejects with the reason', async () => {
    await using b = backend({ concurrency: 16 });
    const controller = new AbortController();
    await using par = new Parallel({ backend: b, batchSize: 1, signal: controller.signal });
    const running = par.run(Array.from({ length: 16 }, (_, i) => delayed(busy)(i, 400)));
    setTimeout(() => controller.abort(new Error('stop')), 200);
    await expect(running).rejects.toThrow('stop');
    // Removed, not left waiting for a worker.
    expect(await redis.llen(`${prefix}:${queue}:wait`)).toBe(0);
  });

  test('abort stops the tasks already running on the workers', async () => {
    await using b = backend();
    const controller = new AbortController();
    await using par = new Parallel({ backend: b, batchSize: 1, signal: controller.signal });
    const dir = tempDir();
    // Four tasks of a minute fill all four worker threads.
    const running = par.run([0, 1, 2, 3].map((x) => delayed(busy)(x, 60_000, dir)));
    await until(() => readdirSync(dir).length === 4, 'every task to start');
    controller.abort(new Error('stop'));
    await expect(running).rejects.toThrow('stop');
    // Only possible within the test's time if the minute-long tasks were stopped.
    await using again = new Parallel({ backend: b, batchSize: 1 });
    expect((await again.run([0, 1, 2, 3].map((x) => delayed(whoami)(x)))).map((r) => r.x)).toEqual([0, 1, 2, 3]);
    await until(async () => (await leftovers()).length === 0, 'the stopped jobs to be removed');
  });

  test('after a failure, a batch already running on a worker stops before its next task', async () => {
    await using b = backend();
    await using par = new Parallel({ backend: b, batchSize: 5 });
    const dir = tempDir();
    const tasks = [...[0, 1, 2, 3, 4].map((x) => delayed(busy)(x, 1000, dir)), ...[5, 7, 9, 11, 13].map((x) => delayed(failOdd)(x))];
    const run = par.run(tasks);
    await expect(run).rejects.toMatchObject({ name: 'QuotaError' });
    await until(async () => (await leftovers()).length === 0, 'the first batch to end');
    // It would have run five tasks of a second each; it stopped after the one it was running.
    expect(readdirSync(dir).length).toBeLessThan(5);
  });

  test('a task module missing on the worker machine fails its tasks with an error naming the file', async () => {
    await using b = backend();
    await using par = new Parallel({ backend: b, errors: 'settle' });
    // The module exists here but not where the workers run: written, referenced, then deleted.
    const file = join(tempDir(), 'skein-missing-task.mjs');
    writeFileSync(file, 'export const run = (x) => x;');
    const missing = task<(x: number) => number>(pathToFileURL(file).href, 'run');
    rmSync(file);
    const [outcome] = await par.run([delayed(missing)(1)]);
    expect(outcome!.status).toBe('rejected');
    // Node's own error from the worker, naming the file it looked for (TaskModuleError is raised where `task()` is called).
    expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_MODULE_NOT_FOUND', message: expect.stringContaining(file) });
  });

  test('progress reports every task of a run', async () => {
    const seen: number[] = [];
    await using b = backend();
    await using par = new Parallel({ backend: b, batchSize: 3, progress: (info) => seen.push(info.done) });
    await par.run(Array.from({ length: 9 }, (_, i) => delayed(whoami)(i)));
    expect(seen.at(-1)).toBe(9);
  });
});
