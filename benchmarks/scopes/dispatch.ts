/**
 * Dispatch overhead: how many tiny tasks per second each way of running them
 * reaches, per-task overhead with batching off, and speedup on CPU-bound work.
 * Every figure is a ratio against raw Piscina or a sequential loop measured in
 * the same run.
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import Tinypool from 'tinypool';
import workerpool from 'workerpool';
import { Parallel, delayed } from 'skein';
import type { Scope } from '../lib/scope.js';
import { median, timeRepeated } from '../lib/stats.js';
import { renderChart } from '../lib/chart.js';

const squareUrl = new URL('../workers/square.mjs', import.meta.url);
const workerpoolScript = fileURLToPath(new URL('../workers/square-workerpool.cjs', import.meta.url));
const square = (x: number) => x * x;

// About 50 ms of arithmetic on this machine, deterministic (no clock reads).
function busyWork(rounds: number): number {
  let acc = 0;
  for (let i = 0; i < rounds; i++) acc = (acc + Math.sqrt(i) * 1.000001) % 1e9;
  return acc;
}

function calibrate(targetMs: number): number {
  let rounds = 1_000_000;
  for (;;) {
    const t0 = performance.now();
    busyWork(rounds);
    const ms = performance.now() - t0;
    if (ms > 20) return Math.round((rounds * targetMs) / ms);
    rounds *= 2;
  }
}

/** Horizontal bars on a log scale, drawn from 1,000 tasks/s (a log axis has no zero to start bars from). */
export async function throughputChart(throughput: readonly { name: string; tasksPerSec: number }[], n: number, nJobs: number): Promise<void> {
  const values = throughput.filter((t) => !t.name.startsWith('sequential')).map((t) => ({ contender: t.name, tasksPerSec: Math.round(t.tasksPerSec) }));
  await renderChart(
    {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: `${n.toLocaleString('en-US')} trivial tasks on ${nJobs} workers: tasks per second (log scale)`,
      data: { values },
      width: 460,
      height: 28 * values.length,
      mark: { type: 'bar' },
      encoding: {
        y: { field: 'contender', type: 'nominal', sort: '-x', title: null, axis: { labelLimit: 360 } },
        x: { field: 'tasksPerSec', type: 'quantitative', scale: { type: 'log', domainMin: 1000 }, title: 'tasks/s' },
        x2: { datum: 1000 },
        color: { field: 'contender', type: 'nominal', legend: null },
        tooltip: [{ field: 'contender' }, { field: 'tasksPerSec', format: ',' }],
      },
    },
    fileURLToPath(new URL('../results/dispatch-throughput.svg', import.meta.url)),
  );
}

const scope: Scope = {
  name: 'dispatch',
  description:
    'Tiny tasks through skein (auto batching) vs raw Piscina (one `run()` per task), tinypool, workerpool and a sequential loop; ' +
    'per-task overhead with `batchSize: 1`; and CPU-bound speedup. Pools are started and warmed before timing. Medians of repeats.',
  async run(ctx) {
    const nJobs = 2;
    const n = ctx.quick ? 10_000 : 100_000;
    const nOverhead = ctx.quick ? 5_000 : 20_000;
    const repeats = ctx.quick ? 1 : 5;
    const xs = Array.from({ length: n }, (_, i) => i);

    const piscina = new Piscina({ filename: squareUrl.href, minThreads: nJobs, maxThreads: nJobs, idleTimeout: Infinity });
    const tinypool = new Tinypool({ filename: squareUrl.href, minThreads: nJobs, maxThreads: nJobs, isolateWorkers: false });
    const wpool = workerpool.pool(workerpoolScript, { minWorkers: nJobs, maxWorkers: nJobs, workerType: 'thread' });
    const par = new Parallel({ nJobs });
    const par1 = new Parallel({ nJobs, batchSize: 1 });
    const warm = async () => {
      await Promise.all(Array.from({ length: 20 }, (_, i) => piscina.run(i)));
      await Promise.all(Array.from({ length: 20 }, (_, i) => tinypool.run(i)));
      await Promise.all(Array.from({ length: 20 }, (_, i) => wpool.exec('square', [i])));
      await par.run(xs.slice(0, 1000).map((x) => delayed(square)(x)));
      await par1.run(xs.slice(0, 100).map((x) => delayed(square)(x)));
    };
    await warm();

    const contenders: [string, () => Promise<unknown>][] = [
      ['skein (auto batching)', () => par.run(xs.map((x) => delayed(square)(x)))],
      ['raw Piscina, one run() per task', () => Promise.all(xs.map((x) => piscina.run(x)))],
      ['raw Piscina, hand-batched by 1000', () => Promise.all(Array.from({ length: n / 1000 }, (_, b) => piscina.run(xs.slice(b * 1000, (b + 1) * 1000), { name: 'squareBatch' })))],
      ['tinypool, one run() per task', () => Promise.all(xs.map((x) => tinypool.run(x)))],
      ['workerpool, one exec() per task', () => Promise.all(xs.map((x) => wpool.exec('square', [x])))],
      ['sequential loop (this thread)', async () => xs.map(square)],
    ];
    const throughput: { name: string; ms: number; tasksPerSec: number }[] = [];
    for (const [name, fn] of contenders) {
      const times = await timeRepeated(fn, repeats, 0);
      const ms = median(times);
      throughput.push({ name, ms, tasksPerSec: n / (ms / 1000) });
      ctx.log(`${name}: ${ms.toFixed(1)} ms (${Math.round(n / (ms / 1000)).toLocaleString('en-US')} tasks/s)`);
    }
    const raw = throughput[1]!;
    const skein = throughput[0]!;

    // Per-task overhead without batching: every task is one message, as with raw Piscina.
    const overheadXs = xs.slice(0, nOverhead);
    const pairs: number[] = [];
    const skein1: number[] = [];
    const raw1: number[] = [];
    for (let r = 0; r < repeats; r++) {
      // Alternate the order so drift in machine load hits both sides alike.
      const a = await timeRepeated(() => par1.run(overheadXs.map((x) => delayed(square)(x))), 1, 0);
      const b = await timeRepeated(() => Promise.all(overheadXs.map((x) => piscina.run(x))), 1, 0);
      skein1.push(a[0]!);
      raw1.push(b[0]!);
      pairs.push(a[0]! / b[0]!);
    }
    const overheadRatio = median(pairs);
    ctx.log(`batchSize 1: skein ${median(skein1).toFixed(1)} ms vs raw Piscina ${median(raw1).toFixed(1)} ms, ratio ${overheadRatio.toFixed(2)}`);

    // CPU-bound: 32 tasks of ~50 ms each.
    const rounds = calibrate(50);
    const cpuTasks = ctx.quick ? 8 : 32;
    const seqTimes = await timeRepeated(async () => {
      for (let i = 0; i < cpuTasks; i++) busyWork(rounds);
    }, Math.min(repeats, 3), 0);
    const parTimes = await timeRepeated(() => par.run(Array.from({ length: cpuTasks }, () => delayed(busyWork)(rounds))), Math.min(repeats, 3), 0);
    const speedup = median(seqTimes) / median(parTimes);
    ctx.log(`CPU-bound: sequential ${median(seqTimes).toFixed(0)} ms, skein ${median(parTimes).toFixed(0)} ms, speedup ${speedup.toFixed(2)}x`);

    await Promise.all([par.close(), par1.close(), piscina.destroy(), tinypool.destroy(), wpool.terminate()]);

    const charts: string[] = [];
    if (!ctx.quick) {
      await throughputChart(throughput, n, nJobs);
      charts.push('results/dispatch-throughput.svg');
    }

    const vsRaw = skein.tasksPerSec / raw.tasksPerSec;
    return {
      parameters: { nJobs, trivialTasks: n, overheadTasks: nOverhead, cpuTasks, cpuTaskMs: 50, repeats },
      table: {
        columns: ['measurement', 'median ms', 'tasks/s', 'ratio'],
        rows: [
          ...throughput.map((t) => [t.name, t.ms.toFixed(1), Math.round(t.tasksPerSec).toLocaleString('en-US'), `${(t.tasksPerSec / raw.tasksPerSec).toFixed(2)}x raw Piscina`]),
          [`skein batchSize 1 (${nOverhead} tasks)`, median(skein1).toFixed(1), Math.round(nOverhead / (median(skein1) / 1000)).toLocaleString('en-US'), `${overheadRatio.toFixed(2)}x raw Piscina's time`],
          [`raw Piscina (${nOverhead} tasks)`, median(raw1).toFixed(1), Math.round(nOverhead / (median(raw1) / 1000)).toLocaleString('en-US'), '1.00x'],
          [`CPU-bound sequential (${cpuTasks} x 50 ms)`, median(seqTimes).toFixed(0), '', '1.00x'],
          [`CPU-bound skein nJobs=${nJobs}`, median(parTimes).toFixed(0), '', `${speedup.toFixed(2)}x speedup`],
        ],
      },
      data: { throughput, overhead: { skein: skein1, raw: raw1, ratios: pairs }, cpu: { sequential: seqTimes, skein: parTimes, rounds } },
      targets: [
        `throughput ${vsRaw.toFixed(1)}x raw Piscina (target >= 25x): ${vsRaw >= 25 ? 'met' : 'NOT met'}`,
        `batchSize 1 overhead ${overheadRatio.toFixed(2)}x raw Piscina's time (target <= 1.25x): ${overheadRatio <= 1.25 ? 'met' : 'NOT met'}`,
        `CPU-bound speedup ${speedup.toFixed(2)}x (target >= 1.8x on 2 cores): ${speedup >= 1.8 ? 'met' : 'NOT met'}`,
      ],
      charts,
    };
  },
};

export default scope;
