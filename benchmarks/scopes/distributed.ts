/**
 * Scale-out on BullMQ and Redis, in one run on loopback: a throwaway
 * redis-server, two skein-worker processes (one thread each) standing in for
 * two machines. Throughput of trivial tasks with batching; per-task overhead
 * with batchSize 1 against plain BullMQ (add + Worker, two processes);
 * CPU-bound speedup against a sequential loop; a 128 MB argument to 8 tasks
 * through the run's RedisStore against inside every job.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { Parallel, delayed } from 'skein';
import { bullmq, type BatchDoneInfo } from 'skein/distributed';
import { ensureRedisServer } from '../../scripts/redis-server.mjs';
import type { Scope } from '../lib/scope.js';
import { formatBytes, median } from '../lib/stats.js';

const KEEPER = fileURLToPath(new URL('../../test/distributed/redis-keeper.mjs', import.meta.url));
const BIN = fileURLToPath(new URL('../../dist/src/distributed/bin.js', import.meta.url));
const RAW = fileURLToPath(new URL('../workers/bullmq-raw.mjs', import.meta.url));

/** Spawns `args` and resolves once it prints `text`; rejects if it exits first. */
async function startChild(args: string[], text: string | RegExp): Promise<{ child: ChildProcess; out: string }> {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (typeof text === 'string' ? out.includes(text) : text.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code} before it was ready`)));
  });
  child.removeAllListeners('exit');
  return { child, out };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  return exited;
}

/** Counts primes below `limit` by trial division, and says how long it took where it ran. */
function timedPrimes(limit: number): { count: number; ms: number } {
  const start = performance.now();
  let count = 0;
  for (let n = 2; n < limit; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return { count, ms: performance.now() - start };
}

const inc = (x: number): number => x + 1;

function sumOf(xs: Float64Array, part: number): number {
  let s = 0;
  for (let i = part; i < xs.length; i += 8) s += xs[i]!;
  return s;
}

/** Samples Redis's `used_memory` while `work` runs; resolves with its result and the highest sample. */
async function withPeakMemory<T>(redis: Redis, work: () => Promise<T>): Promise<{ value: T; peak: number }> {
  const used = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  let peak = await used();
  let done = false;
  const sampling = (async () => {
    while (!done) {
      peak = Math.max(peak, await used());
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  try {
    return { value: await work(), peak };
  } finally {
    done = true;
    await sampling;
  }
}

const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

const scope: Scope = {
  name: 'distributed',
  description:
    'Scale-out on BullMQ and Redis, on loopback: a throwaway `redis-server` and two `skein-worker` processes (`--concurrency 1`: one thread each) ' +
    'standing in for two machines, the caller in this process. Trivial tasks (`x + 1`) with auto batching (after a warm-up run of 1,000: sizes ' +
    'are kept by function across runs, and sized for the queue\'s round trip, the backend\'s `batchLatency`) and with a fixed batch size; the per-task cost with `batchSize: 1` ' +
    '(`preDispatch: \'all\'`) against plain BullMQ (`queue.add` per job, all at once, a `Worker` whose processor is the task, two processes, ' +
    'jobs removed on completion as skein does); ' +
    'a CPU-bound loop (prime counting) on the two workers against the same loop run sequentially here, one job per task (`batchSize: 1`) and ' +
    'with auto batching (the default), with the threads backend (2 threads, the same batch sizes) as a ' +
    'control and each task\'s own time summed (on a busy machine two workers do not get two cores); and a 128 MB Float64Array passed to 8 tasks, ' +
    'through the run\'s RedisStore (auto-offload, the default) against inside every job (`maxNbytes: null`, `batchSize: 1`), with Redis\'s peak ' +
    '`used_memory` above its idle level. Medians. The machine is shared with other work: the load average at start and end is in the parameters.',
  async run(ctx) {
    const trivialTasks = ctx.quick ? 20_000 : 100_000;
    const overheadTasks = ctx.quick ? 300 : 2000;
    const repeats = ctx.quick ? 1 : 3;
    const cpuTasks = ctx.quick ? 4 : 16;
    const primesLimit = ctx.quick ? 150_000 : 400_000;
    const bigBytes = (ctx.quick ? 16 : 128) * 2 ** 20;
    const loadAtStart = load();
    ctx.log(`load average ${loadAtStart}`);

    const dir = mkdtempSync(join(tmpdir(), 'skein-bench-redis-'));
    const keeper = await startChild([KEEPER, ensureRedisServer(), dir], /ready \d+/);
    const url = `redis://127.0.0.1:${/ready (\d+)/.exec(keeper.out)![1]}`;
    const redis = new Redis(url);
    const children: ChildProcess[] = [];
    try {
      const workers = await Promise.all([1, 2].map(() => startChild([BIN, '--redis', url, '--queue', 'skein', '--concurrency', '1'], ' ready: ')));
      children.push(...workers.map((w) => w.child));
      const pids = new Set<number>();
      const fetched: number[] = [];
      let batches = 0;
      const onBatchDone = (info: BatchDoneInfo): void => {
        batches++;
        pids.add(info.worker.pid);
        fetched.push(info.fetchedBytes);
      };
      await using backend = bullmq({ connection: url, queue: 'skein', concurrency: 2, onBatchDone });

      // 1. Throughput of trivial tasks: auto batching (ramps up from 1 task a batch in every run), and batches of a fixed size.
      const xs = Array.from({ length: trivialTasks }, (_, i) => i);
      const fixedBatch = trivialTasks / 8;
      const throughput: Record<'auto' | 'fixed', number[]> = { auto: [], fixed: [] };
      for (const mode of ['auto', 'fixed'] as const) {
        await using par = new Parallel({ backend, batchSize: mode === 'auto' ? 'auto' : fixedBatch });
        await par.run(xs.slice(0, 1000).map((x) => delayed(inc)(x))); // each worker compiles `inc` once
        for (let r = 0; r < repeats; r++) {
          pids.clear();
          batches = 0;
          const t0 = performance.now();
          const out = await par.run(xs.map((x) => delayed(inc)(x)));
          const wall = performance.now() - t0;
          if (out[trivialTasks - 1] !== trivialTasks) throw new Error('wrong result');
          throughput[mode].push(trivialTasks / (wall / 1000));
          ctx.log(`${trivialTasks} trivial tasks, batchSize ${mode === 'auto' ? 'auto' : fixedBatch}: ${ms(wall)} ms, ${Math.round(throughput[mode].at(-1)!)} tasks/s, ${batches} batches on ${pids.size} processes`);
        }
      }

      // 2. Per-task cost with batchSize 1, against plain BullMQ; interleaved.
      const skeinPerTask: number[] = [];
      const rawPerTask: number[] = [];
      const raw = await Promise.all([1, 2].map(() => startChild([RAW, url, 'raw', '1'], 'ready')));
      children.push(...raw.map((w) => w.child));
      const queue = new Queue('raw', { connection: { url } });
      const events = new QueueEvents('raw', { connection: { url } });
      await events.waitUntilReady();
      const rawRun = async (n: number): Promise<number> => {
        let completed = 0;
        const all = new Promise<void>((resolve) => {
          const onDone = (): void => {
            if (++completed === n) {
              events.off('completed', onDone);
              resolve();
            }
          };
          events.on('completed', onDone);
        });
        const t0 = performance.now();
        await Promise.all(Array.from({ length: n }, (_, x) => queue.add('t', { x }, { removeOnComplete: true, removeOnFail: true })));
        await all;
        return performance.now() - t0;
      };
      {
        // Every job queued at once, as the plain BullMQ caller does: the cost of a job, not of keeping few in flight.
        await using par = new Parallel({ backend, batchSize: 1, preDispatch: 'all' });
        await par.run(xs.slice(0, 50).map((x) => delayed(inc)(x)));
        await rawRun(50);
        for (let r = 0; r < repeats; r++) {
          const t0 = performance.now();
          await par.run(xs.slice(0, overheadTasks).map((x) => delayed(inc)(x)));
          skeinPerTask.push((performance.now() - t0) / overheadTasks);
          rawPerTask.push((await rawRun(overheadTasks)) / overheadTasks);
          ctx.log(`batchSize 1: skein ${(skeinPerTask.at(-1)! * 1000).toFixed(0)} µs/task, plain BullMQ ${(rawPerTask.at(-1)! * 1000).toFixed(0)} µs/task`);
        }
      }
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
      await Promise.all(raw.map((w) => stop(w.child)));

      // 3. CPU-bound speedup: 2 worker processes against a sequential loop here, and the threads backend (2 threads of this
      // process) as the control: on a shared machine, what two threads get of the CPU bounds any speedup.
      const limits = Array.from({ length: cpuTasks }, (_, i) => primesLimit + i * 1000);
      const sequential: number[] = [];
      const distributed: number[] = [];
      const threaded: number[] = [];
      const distributedAuto: number[] = [];
      const threadedAuto: number[] = [];
      /** CPU time per task (ms, summed over the tasks) where it ran: here, on the workers, on the threads. */
      const taskMs = { sequential: [] as number[], distributed: [] as number[], threaded: [] as number[] };
      {
        await using par = new Parallel({ backend, batchSize: 1 });
        await using threads = new Parallel({ nJobs: 2, batchSize: 1 });
        await using parAuto = new Parallel({ backend });
        await using threadsAuto = new Parallel({ nJobs: 2 });
        limits.slice(0, 2).map(timedPrimes);
        for (const p of [par, threads, parAuto, threadsAuto]) await p.run(limits.slice(0, 4).map((n) => delayed(timedPrimes)(n / 4)));
        const total = (xs: readonly { ms: number }[]): number => xs.reduce((a, x) => a + x.ms, 0);
        /** Runs the CPU-bound tasks on `p`, adding its wall time to `into`. */
        const timedRun = async (p: Parallel, into: number[]) => {
          const t0 = performance.now();
          const out = await p.run(limits.map((n) => delayed(timedPrimes)(n)));
          into.push(performance.now() - t0);
          return out;
        };
        for (let r = 0; r < repeats; r++) {
          const t0 = performance.now();
          const expected = limits.map(timedPrimes);
          sequential.push(performance.now() - t0);
          const got = await timedRun(par, distributed);
          const local = await timedRun(threads, threaded);
          const gotAuto = await timedRun(parAuto, distributedAuto);
          const localAuto = await timedRun(threadsAuto, threadedAuto);
          for (const out of [got, local, gotAuto, localAuto]) {
            if (JSON.stringify(out.map((o) => o.count)) !== JSON.stringify(expected.map((o) => o.count))) throw new Error('CPU-bound results differ');
          }
          taskMs.sequential.push(total(expected));
          taskMs.distributed.push(total(got));
          taskMs.threaded.push(total(local));
          ctx.log(
            `CPU-bound: sequential ${ms(sequential.at(-1)!)} ms, 2 worker processes ${ms(distributed.at(-1)!)} ms, threads backend ${ms(threaded.at(-1)!)} ms; ` +
              `task time summed: ${ms(total(expected))} / ${ms(total(got))} / ${ms(total(local))} ms; ` +
              `auto batching: 2 worker processes ${ms(distributedAuto.at(-1)!)} ms, threads backend ${ms(threadedAuto.at(-1)!)} ms; load ${load()}`,
          );
        }
      }

      // 4. A 128 MB argument to 8 tasks: the run's RedisStore against inside every job.
      const big = new Float64Array(bigBytes / 8).map((_, i) => i % 1024);
      const expectedSum = Array.from({ length: 8 }, (_, p) => sumOf(big, p));
      const viaStore: { ms: number; peak: number; fetched: number }[] = [];
      const inJobs: { ms: number; peak: number }[] = [];
      const idle = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
      for (let r = 0; r < repeats; r++) {
        for (const mode of ['store', 'jobs'] as const) {
          await using par = new Parallel({ backend, batchSize: 1, ...(mode === 'jobs' ? { maxNbytes: null } : {}) });
          fetched.length = 0;
          const t0 = performance.now();
          const { value, peak } = await withPeakMemory(redis, () => par.run(Array.from({ length: 8 }, (_, p) => delayed(sumOf)(big, p))));
          const wall = performance.now() - t0;
          if (JSON.stringify(value) !== JSON.stringify(expectedSum)) throw new Error(`large-argument results differ (${mode})`);
          if (mode === 'store') viaStore.push({ ms: wall, peak: peak - idle, fetched: fetched.reduce((a, b) => a + b, 0) });
          else inJobs.push({ ms: wall, peak: peak - idle });
          ctx.log(`${formatBytes(bigBytes)} to 8 tasks ${mode === 'store' ? 'through RedisStore' : 'inside every job'}: ${ms(wall)} ms, Redis peak +${formatBytes(peak - idle)}`);
        }
      }
      const left = await redis.keys('bull:skein:skein*');
      ctx.log(`skein keys left in Redis after the runs: ${left.length}`);
      if (left.length > 0) throw new Error(`keys left behind: ${left.slice(0, 5).join(', ')}`);

      const tput = median(throughput.auto);
      const tputFixed = median(throughput.fixed);
      const skeinUs = median(skeinPerTask) * 1000;
      const rawUs = median(rawPerTask) * 1000;
      const seq = median(sequential);
      const dist = median(distributed);
      const thr = median(threaded);
      const distAuto = median(distributedAuto);
      const thrAuto = median(threadedAuto);
      const speedupAuto = seq / distAuto;
      const speedup = seq / dist;
      const slowdown = median(taskMs.distributed) / median(taskMs.sequential);
      const store = { ms: median(viaStore.map((v) => v.ms)), peak: median(viaStore.map((v) => v.peak)), fetched: median(viaStore.map((v) => v.fetched)) };
      const jobs = { ms: median(inJobs.map((v) => v.ms)), peak: median(inJobs.map((v) => v.peak)) };
      const loadAtEnd = load();
      const big128 = formatBytes(bigBytes);
      return {
        parameters: { trivialTasks, fixedBatch, overheadTasks, cpuTasks, primesLimit, argument: big128, repeats, workerProcesses: 2, threadsPerWorker: 1, backendConcurrency: 2, loadAtStart, loadAtEnd },
        data: { throughput, skeinPerTask, rawPerTask, sequential, distributed, threaded, distributedAuto, threadedAuto, taskMs, viaStore, inJobs },
        table: {
          columns: ['measure', 'skein', 'baseline', 'ratio'],
          rows: [
            [`${trivialTasks.toLocaleString('en')} trivial tasks, auto batching`, `${Math.round(tput).toLocaleString('en')} tasks/s`, '—', '—'],
            [`${trivialTasks.toLocaleString('en')} trivial tasks, batchSize ${fixedBatch.toLocaleString('en')}`, `${Math.round(tputFixed).toLocaleString('en')} tasks/s`, '—', '—'],
            ['per task, batchSize 1 (one job each)', `${skeinUs.toFixed(0)} µs`, `${rawUs.toFixed(0)} µs (plain BullMQ add + Worker)`, `${(skeinUs / rawUs).toFixed(2)}x`],
            [`CPU-bound, ${cpuTasks} tasks, batchSize 1`, `${ms(dist)} ms (2 worker processes)`, `${ms(seq)} ms (sequential, here)`, `${speedup.toFixed(2)}x speedup`],
            [`CPU-bound, ${cpuTasks} tasks, batchSize 1: control`, `${ms(thr)} ms (threads backend, nJobs 2)`, `${ms(seq)} ms (sequential, here)`, `${(seq / thr).toFixed(2)}x speedup`],
            [`CPU-bound, ${cpuTasks} tasks, auto batching`, `${ms(distAuto)} ms (2 worker processes)`, `${ms(seq)} ms (sequential, here)`, `${speedupAuto.toFixed(2)}x speedup`],
            [`CPU-bound, ${cpuTasks} tasks, auto batching: control`, `${ms(thrAuto)} ms (threads backend, nJobs 2)`, `${ms(seq)} ms (sequential, here)`, `${(seq / thrAuto).toFixed(2)}x speedup`],
            [
              `CPU-bound, ${cpuTasks} tasks, batchSize 1: task time summed where they ran`,
              `${ms(median(taskMs.distributed))} ms (worker processes)`,
              `${ms(median(taskMs.sequential))} ms (sequential, here)`,
              `${slowdown.toFixed(2)}x (above 1: the two workers did not each get a core)`,
            ],
            [`${big128} argument to 8 tasks: time`, `${ms(store.ms)} ms (RedisStore, once)`, `${ms(jobs.ms)} ms (inside every job)`, `${(store.ms / jobs.ms).toFixed(2)}x`],
            [`${big128} argument to 8 tasks: Redis peak memory`, `+${formatBytes(store.peak)}`, `+${formatBytes(jobs.peak)}`, `${(store.peak / jobs.peak).toFixed(2)}x`],
            [`${big128} argument to 8 tasks: fetched by the workers`, formatBytes(store.fetched), `${formatBytes(8 * bigBytes)} (8 job frames)`, `${(store.fetched / (8 * bigBytes)).toFixed(2)}x`],
          ],
        },
        targets: [
          `${Math.round(tput).toLocaleString('en')} trivial tasks/s through 2 worker processes with auto batching (target >= 200,000/s): ${tput >= 200_000 ? 'met' : 'missed'}`,
          `${Math.round(tputFixed).toLocaleString('en')} trivial tasks/s through 2 worker processes with batchSize ${fixedBatch.toLocaleString('en')} (target >= 200,000/s): ${tputFixed >= 200_000 ? 'met' : 'missed'}`,
          `CPU-bound speedup ${speedup.toFixed(2)}x with 2 worker processes, batchSize 1 (target >= 1.8x): ${speedup >= 1.8 ? 'met' : 'missed'}; ` +
            `the threads backend got ${(seq / thr).toFixed(2)}x in the same run, and each task took ${slowdown.toFixed(2)}x its sequential time on the workers`,
          `CPU-bound speedup ${speedupAuto.toFixed(2)}x with 2 worker processes, auto batching (target >= 1.8x): ${speedupAuto >= 1.8 ? 'met' : 'missed'}; ` +
            `the threads backend got ${(seq / thrAuto).toFixed(2)}x in the same run`,
        ],
      };
    } finally {
      await Promise.all(children.map(stop));
      await redis.quit().catch(() => redis.disconnect());
      keeper.child.stdin!.end();
      await new Promise<void>((resolve) => (keeper.child.exitCode !== null ? resolve() : keeper.child.once('exit', () => resolve())));
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default scope;
