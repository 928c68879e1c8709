/**
 * Dispatch overhead: how many tiny tasks per second each way of running them
 * reaches, per-task overhead with batching off, and speedup on CPU-bound work.
 * Every figure is a ratio against raw Piscina or a sequential loop measured in
 * the same run.
 */
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import Tinypool from 'tinypool';
import workerpool from 'workerpool';
import { Parallel, delayed, parallel } from 'skein';
import type { Scope } from '../lib/scope.js';
import { median, timeRepeated } from '../lib/stats.js';
import { renderChart } from '../lib/chart.js';
import { joblibPython, runJoblib, type JoblibDispatch } from '../lib/joblib.js';

const squareUrl = new URL('../workers/square.mjs', import.meta.url);
const coldChild = fileURLToPath(new URL('../lib/cold-child.ts', import.meta.url));
const youngGenChild = fileURLToPath(new URL('../lib/young-gen-child.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
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

/** Runs a benchmark child script under tsx, Node started with `flags`, and returns the JSON its last line prints. */
function childJson<T>(script: string, args: string[], flags: string[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [tsx, ...flags, script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`${script} exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1)!) as T);
    });
  });
}

/** A one-shot parallel() of `n` trivial tasks in a fresh process (lib/cold-child.ts): pool start included, nothing learned before. */
const coldProcess = async (n: number): Promise<number> => (await childJson<{ ms: number }>(coldChild, [String(n)])).ms;

/** Median back-to-back warm run() and map() times in a fresh process started with `flags` (lib/young-gen-child.ts). */
async function youngGenProcess(flags: string[], n: number, runs: number): Promise<{ run: number; map: number }> {
  const times = await childJson<{ run: number[]; map: number[] }>(youngGenChild, [String(n), String(runs)], flags);
  return { run: median(times.run), map: median(times.map) };
}

/** Two threads spinning for `ms`: the load of a long run of another contender, without its garbage or its pool. */
function spin(ms: number): Promise<void> {
  const code = `const end = Date.now() + ${ms}; while (Date.now() < end); require('node:worker_threads').parentPort.postMessage(0);`;
  return Promise.all(
    [0, 1].map(
      () =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(code, { eval: true });
          w.once('error', reject);
          w.once('message', () => void w.terminate().then(() => resolve(), reject));
        }),
    ),
  ).then(() => undefined);
}

/** The young generation a user may give Node for runs that hold many calls (see docs/parallel.md). */
const YOUNG_GEN_FLAG = '--max-semi-space-size=64';

const scope: Scope = {
  name: 'dispatch',
  description:
    'Tiny tasks through skein (auto batching) vs raw Piscina (one `run()` per task), tinypool, workerpool and a sequential loop; ' +
    'per-task overhead with `batchSize: 1`; and CPU-bound speedup. Pools are started and warmed before timing. Medians of repeats. ' +
    'Cold runs: the first run of a fresh `Parallel` (warmed with 1,000 tasks), a one-shot `parallel()` with its pool start (in this process, and in a fresh process that learned nothing before), ' +
    '`map()`; completion-order against input-order `iter()` on 1M tasks; and joblib (loky, `n_jobs=2`) cold and warm on the same tasks in its own process, when python3 is available. ' +
    'A warm run() rested and right after two threads spun as long as the paired raw Piscina run (what that protocol costs a short run on this VM). ' +
    'Warm run() and map() back to back in fresh processes, with default flags and with a larger young generation (`--max-semi-space-size=64`), alternating. ' +
    'Every skein figure includes making the delayed calls. The rows marked paired, and the targets, are medians of ratios taken within each repeat ' +
    '(raw Piscina, then each skein figure, then joblib): the load on this shared machine drifts over the minutes between contenders.',
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
      ['skein map()', () => par.map(square, xs)],
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
    const raw = throughput.find((t) => t.name.startsWith('raw Piscina, one'))!;
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

    // The targets' figures, each beside a raw Piscina run of the same tasks in
    // the same repeat (load on this shared machine drifts over minutes: a
    // ratio to a baseline measured earlier would measure the drift), as the
    // median of paired ratios. Cold: a fresh Parallel's first run, after
    // 1,000 tasks that start its workers. One-shot parallel(), its pool
    // started and closed in the call: in this process (where auto batching
    // kept what earlier runs of `square` taught it), and in a fresh process
    // each time (nothing learned, nothing warm).
    // joblib, in a process of its own each repeat: cold (pool start included,
    // as skein's fresh-process one-shot) and then warm.
    const python = await joblibPython(ctx.log);
    const joblibRuns: JoblibDispatch[] = [];
    const pairedRepeats = ctx.quick ? 2 : 5;
    const paired = { raw: [] as number[], warm: [] as number[], map: [] as number[], fresh: [] as number[], oneShot: [] as number[], oneShotFresh: [] as number[] };
    // Each on a collected heap, after a pause: otherwise each pays for what the
    // one before left, here (raw Piscina's 100k promises) and in the worker
    // threads of the pool that ran it, whose collections then take the cores
    // from the next contender (skein's warm run right after raw Piscina read
    // 181 ms against 79 ms alone).
    const once = async (fn: () => Promise<unknown>) => {
      (globalThis as { gc?: () => void }).gc?.();
      await new Promise((resolve) => setTimeout(resolve, 300));
      return (await timeRepeated(fn, 1, 0))[0]!;
    };
    for (let r = 0; r < pairedRepeats; r++) {
      paired.raw.push(await once(() => Promise.all(xs.map((x) => piscina.run(x)))));
      paired.warm.push(await once(() => par.run(xs.map((x) => delayed(square)(x)))));
      paired.map.push(await once(() => par.map(square, xs)));
      const p = new Parallel({ nJobs });
      await p.run(xs.slice(0, 1000).map((x) => delayed(square)(x)));
      paired.fresh.push(await once(() => p.run(xs.map((x) => delayed(square)(x)))));
      await p.close();
      paired.oneShot.push(await once(() => parallel(xs.map((x) => delayed(square)(x)), { nJobs })));
      (globalThis as { gc?: () => void }).gc?.();
      paired.oneShotFresh.push(await coldProcess(n));
      if (python !== undefined) joblibRuns.push(await runJoblib(python, 'dispatch', n, 1));
    }
    const vsPaired = (times: number[]) => median(times.map((t, r) => paired.raw[r]! / t));
    const fresh = paired.fresh;
    const oneShot = paired.oneShot;
    const oneShotFresh = paired.oneShotFresh;
    const ratios = { warm: vsPaired(paired.warm), map: vsPaired(paired.map), fresh: vsPaired(fresh), oneShot: vsPaired(oneShot), oneShotFresh: vsPaired(oneShotFresh) };
    ctx.log(
      `paired with raw Piscina (${median(paired.raw).toFixed(0)} ms): warm ${ratios.warm.toFixed(1)}x, map() ${ratios.map.toFixed(1)}x, fresh Parallel first run ${median(fresh).toFixed(1)} ms ${ratios.fresh.toFixed(1)}x, ` +
        `one-shot ${median(oneShot).toFixed(1)} ms ${ratios.oneShot.toFixed(1)}x, one-shot in a fresh process ${median(oneShotFresh).toFixed(1)} ms ${ratios.oneShotFresh.toFixed(1)}x`,
    );

    // What the paired protocol costs a short run on this VM: raw Piscina's
    // run before it saturates both cores for ~5 s. The same warm run rested,
    // and right after two threads spun as long (no Piscina, no garbage).
    const spinMs = ctx.quick ? 500 : Math.round(median(paired.raw));
    const afterLoad = { spinMs, rested: [] as number[], loaded: [] as number[] };
    for (let r = 0; r < (ctx.quick ? 1 : 3); r++) {
      afterLoad.rested.push(await once(() => par.run(xs.map((x) => delayed(square)(x)))));
      await spin(spinMs);
      afterLoad.loaded.push(await once(() => par.run(xs.map((x) => delayed(square)(x)))));
    }
    const loadRatio = median(afterLoad.loaded.map((t, r) => t / afterLoad.rested[r]!));
    ctx.log(`warm run() rested ${median(afterLoad.rested).toFixed(1)} ms, after ${spinMs} ms of two spinning threads ${median(afterLoad.loaded).toFixed(1)} ms (${loadRatio.toFixed(2)}x)`);

    // Completion order against input order: 1M tasks, alternating, paired ratios.
    const nIter = ctx.quick ? 100_000 : 1_000_000;
    const iterRepeats = ctx.quick ? 1 : 3;
    const drain = async (ordered: boolean) => {
      const tasks = Array.from({ length: nIter }, (_, i) => delayed(square)(i));
      const t0 = performance.now();
      for await (const _ of par.iter(tasks, { ordered }));
      return performance.now() - t0;
    };
    const iterOrdered: number[] = [];
    const iterUnordered: number[] = [];
    const iterRatios: number[] = [];
    for (let r = 0; r < iterRepeats; r++) {
      // Which goes first alternates, so that neither always pays for the other's garbage.
      let o: number;
      let u: number;
      if (r % 2 === 0) {
        o = await drain(true);
        u = await drain(false);
      } else {
        u = await drain(false);
        o = await drain(true);
      }
      iterOrdered.push(o);
      iterUnordered.push(u);
      iterRatios.push(u / o);
    }
    const iterRatio = median(iterRatios);
    ctx.log(`iter() of ${nIter} tasks: ordered ${median(iterOrdered).toFixed(0)} ms, completion order ${median(iterUnordered).toFixed(0)} ms (${iterRatio.toFixed(2)}x)`);

    let joblib: (JoblibDispatch & { cold: number; warm: number; coldRatio: number; warmRatio: number }) | undefined;
    if (joblibRuns.length > 0) {
      const first = joblibRuns[0]!;
      joblib = {
        ...first,
        cold: median(joblibRuns.map((j) => j.coldMs)),
        warm: median(joblibRuns.map((j) => j.warmMs[0]!)),
        coldRatio: median(joblibRuns.map((j, r) => j.coldMs / oneShotFresh[r]!)),
        warmRatio: median(joblibRuns.map((j, r) => j.warmMs[0]! / paired.warm[r]!)),
      };
      ctx.log(`joblib ${first.versions.joblib} (loky, n_jobs=2), ${n} tasks: cold ${joblib.cold.toFixed(0)} ms, warm ${joblib.warm.toFixed(0)} ms`);
    }

    // A warm run() holds its 100,000 delayed calls and results while V8's
    // young generation (16 MB semi-spaces by default) is collected under it,
    // copying them: the same back-to-back runs in processes with default
    // flags and with a larger young generation, alternating.
    const youngRuns = ctx.quick ? 5 : 15;
    const youngGen = { defaults: [] as { run: number; map: number }[], larger: [] as { run: number; map: number }[] };
    for (let r = 0; r < (ctx.quick ? 1 : 3); r++) {
      youngGen.defaults.push(await youngGenProcess([], n, youngRuns));
      youngGen.larger.push(await youngGenProcess([YOUNG_GEN_FLAG], n, youngRuns));
    }
    const young = {
      defaultRun: median(youngGen.defaults.map((t) => t.run)),
      largerRun: median(youngGen.larger.map((t) => t.run)),
      defaultMap: median(youngGen.defaults.map((t) => t.map)),
      largerMap: median(youngGen.larger.map((t) => t.map)),
    };
    ctx.log(`back-to-back warm runs: run() ${young.defaultRun.toFixed(1)} ms, ${young.largerRun.toFixed(1)} ms with ${YOUNG_GEN_FLAG}; map() ${young.defaultMap.toFixed(1)} / ${young.largerMap.toFixed(1)} ms`);

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
          [`paired: raw Piscina, one run() per task`, median(paired.raw).toFixed(1), Math.round(n / (median(paired.raw) / 1000)).toLocaleString('en-US'), '1.00x (the pairs\' baseline)'],
          [`paired: skein warm run()`, median(paired.warm).toFixed(1), Math.round(n / (median(paired.warm) / 1000)).toLocaleString('en-US'), `${ratios.warm.toFixed(2)}x raw Piscina, paired`],
          [`paired: skein map()`, median(paired.map).toFixed(1), Math.round(n / (median(paired.map) / 1000)).toLocaleString('en-US'), `${ratios.map.toFixed(2)}x raw Piscina, paired`],
          [`paired: skein first run of a fresh Parallel (after 1,000 tasks)`, median(fresh).toFixed(1), Math.round(n / (median(fresh) / 1000)).toLocaleString('en-US'), `${ratios.fresh.toFixed(2)}x raw Piscina, paired`],
          [`paired: skein one-shot parallel(), pool start included (this process)`, median(oneShot).toFixed(1), Math.round(n / (median(oneShot) / 1000)).toLocaleString('en-US'), `${ratios.oneShot.toFixed(2)}x raw Piscina, paired`],
          [`paired: skein one-shot parallel(), pool start included (fresh process)`, median(oneShotFresh).toFixed(1), Math.round(n / (median(oneShotFresh) / 1000)).toLocaleString('en-US'), `${ratios.oneShotFresh.toFixed(2)}x raw Piscina, paired`],
          ...(
            [
              ['run()', young.defaultRun, young.largerRun],
              ['map()', young.defaultMap, young.largerMap],
            ] as const
          ).flatMap(([what, defaults, larger]) => [
            [`skein warm ${what}, back to back, fresh process, default flags`, defaults.toFixed(1), Math.round(n / (defaults / 1000)).toLocaleString('en-US'), `${(raw.ms / defaults).toFixed(2)}x raw Piscina`],
            [`skein warm ${what}, back to back, fresh process, ${YOUNG_GEN_FLAG}`, larger.toFixed(1), Math.round(n / (larger / 1000)).toLocaleString('en-US'), `${(raw.ms / larger).toFixed(2)}x raw Piscina; ${(defaults / larger).toFixed(2)}x faster than default flags`],
          ]),
          [`skein warm run(), rested (after a collected heap and a pause)`, median(afterLoad.rested).toFixed(1), Math.round(n / (median(afterLoad.rested) / 1000)).toLocaleString('en-US'), '1.00x'],
          [`skein warm run(), the same, right after ${spinMs} ms of two spinning threads (the load raw Piscina's paired run makes)`, median(afterLoad.loaded).toFixed(1), Math.round(n / (median(afterLoad.loaded) / 1000)).toLocaleString('en-US'), `${loadRatio.toFixed(2)}x the rested time, paired`],
          [`skein iter() in input order (${nIter.toLocaleString('en-US')} tasks)`, median(iterOrdered).toFixed(0), Math.round(nIter / (median(iterOrdered) / 1000)).toLocaleString('en-US'), '1.00x'],
          [`skein iter() in completion order (${nIter.toLocaleString('en-US')} tasks)`, median(iterUnordered).toFixed(0), Math.round(nIter / (median(iterUnordered) / 1000)).toLocaleString('en-US'), `${iterRatio.toFixed(2)}x input order's time`],
          ...(joblib
            ? [
                [`paired: joblib ${joblib.versions.joblib} loky n_jobs=2, cold (fresh process, pool start included)`, joblib.cold.toFixed(1), Math.round(n / (joblib.cold / 1000)).toLocaleString('en-US'), `skein's fresh-process one-shot: ${joblib.coldRatio.toFixed(2)}x its throughput, paired`],
                [`paired: joblib ${joblib.versions.joblib} loky n_jobs=2, warm`, joblib.warm.toFixed(1), Math.round(n / (joblib.warm / 1000)).toLocaleString('en-US'), `skein warm run(): ${joblib.warmRatio.toFixed(2)}x its throughput, paired`],
              ]
            : []),
          [`CPU-bound sequential (${cpuTasks} x 50 ms)`, median(seqTimes).toFixed(0), '', '1.00x'],
          [`CPU-bound skein nJobs=${nJobs}`, median(parTimes).toFixed(0), '', `${speedup.toFixed(2)}x speedup`],
        ],
      },
      data: {
        throughput,
        overhead: { skein: skein1, raw: raw1, ratios: pairs },
        paired: { ...paired, ratios },
        iter: { tasks: nIter, ordered: iterOrdered, unordered: iterUnordered, ratios: iterRatios },
        youngGeneration: { flag: YOUNG_GEN_FLAG, runs: youngRuns, ...youngGen, medians: young },
        afterLoad: { ...afterLoad, ratio: loadRatio },
        joblib: joblibRuns.length > 0 ? { runs: joblibRuns, ...joblib } : 'skipped: no python3 with venv and joblib/numpy',
        cpu: { sequential: seqTimes, skein: parTimes, rounds },
      },
      targets: [
        `throughput ${vsRaw.toFixed(1)}x raw Piscina (target >= 25x): ${vsRaw >= 25 ? 'met' : 'NOT met'}`,
        `warm runs ${ratios.warm.toFixed(1)}x raw Piscina, paired (target >= 100x): ${ratios.warm >= 100 ? 'met' : 'NOT met'}`,
        `map() ${ratios.map.toFixed(1)}x raw Piscina, paired (target >= 150x): ${ratios.map >= 150 ? 'met' : 'NOT met'}`,
        `first run of a fresh Parallel ${ratios.fresh.toFixed(1)}x raw Piscina, paired (target >= 40x): ${ratios.fresh >= 40 ? 'met' : 'NOT met'}`,
        `one-shot parallel() with pool start ${ratios.oneShot.toFixed(1)}x raw Piscina in this process, ${ratios.oneShotFresh.toFixed(1)}x in a fresh process, paired (target >= 10x): ${ratios.oneShotFresh >= 10 ? 'met' : ratios.oneShot >= 10 ? 'met in this process only' : 'NOT met'}`,
        `iter() in completion order at ${iterRatio.toFixed(2)}x the time of input order on ${nIter.toLocaleString('en-US')} tasks (target <= 1.2x): ${iterRatio <= 1.2 ? 'met' : 'NOT met'}`,
        joblib
          ? `cold run, fresh processes, pool start included: skein ${joblib.coldRatio.toFixed(1)}x joblib's throughput, paired (target >= 4x): ${joblib.coldRatio >= 4 ? 'met' : 'NOT met'}; warm, ${joblib.warmRatio.toFixed(1)}x`
          : 'joblib comparison skipped (no python3 with venv and joblib/numpy)',
        `batchSize 1 overhead ${overheadRatio.toFixed(2)}x raw Piscina's time (target <= 1.25x): ${overheadRatio <= 1.25 ? 'met' : 'NOT met'}`,
        `CPU-bound speedup ${speedup.toFixed(2)}x (target >= 1.8x on 2 cores): ${speedup >= 1.8 ? 'met' : 'NOT met'}`,
      ],
      charts,
    };
  },
};

export default scope;
