/**
 * One measurement of the transfer scope, in a process of its own so that its
 * peak RSS is its own: `tsx transfer-child.ts <contender> <kind> <bytes> <repeats>`.
 * Prints one JSON line: wall and blocked (event-loop active) ms per repeat, and
 * the peak RSS above the baseline taken once the data and the pool exist.
 */
import { Piscina } from 'piscina';
import { Parallel, delayed, shared } from 'skein';

const [contender = '', kind = 'f64', bytesArg = '1024', repeatsArg = '3'] = process.argv.slice(2);
const bytes = Number(bytesArg);
const repeats = Number(repeatsArg);
const TASKS = 8;
const N_JOBS = 2;
const workerUrl = new URL('../workers/stats.mjs', import.meta.url).href;

// Same work as benchmarks/workers/stats.mjs, shipped by source for skein.
function summarize(data: Float64Array | { score: number }[]) {
  let total = 0;
  if (ArrayBuffer.isView(data)) {
    for (let i = 0; i < data.length; i++) total += data[i]!;
    return { n: data.length, total };
  }
  for (let i = 0; i < data.length; i++) total += data[i]!.score;
  return { n: data.length, total };
}
const touch = (data: Float64Array) => data.length;

function makeData(): Float64Array | { id: number; name: string; score: number }[] {
  if (kind === 'f64') {
    const n = Math.max(1, Math.floor(bytes / 8));
    const a = contender === 'skein-shared-alloc' || contender === 'overhead-shared-alloc' ? shared(Float64Array, n) : new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = i % 1000;
    return a;
  }
  // About 48 bytes of structured-clone payload per record.
  const n = Math.max(1, Math.floor(bytes / 48));
  return Array.from({ length: n }, (_, i) => ({ id: i, name: `r${i % 1000}`, score: i % 100 }));
}

const data = makeData();
const runs: { wallMs: number; blockedMs: number; floorMs?: number }[] = [];
let firstRunPeak = 0;

async function measure(fn: () => Promise<unknown>): Promise<void> {
  for (let r = 0; r < repeats; r++) {
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    await fn();
    const wallMs = performance.now() - t0;
    const elu = performance.eventLoopUtilization(elu0);
    runs.push({ wallMs, blockedMs: elu.active });
    // Peak memory is that of one run: later runs overlap with what earlier ones are still freeing.
    if (r === 0) firstRunPeak = process.resourceUsage().maxRSS * 1024;
  }
}

let baseline = 0;
const markBaseline = () => {
  global.gc?.();
  baseline = process.memoryUsage.rss();
};

if (contender === 'ab') {
  // Offload on vs off for one small value, alternating in one process so machine noise hits both alike.
  const off = new Parallel({ nJobs: N_JOBS, maxNbytes: null });
  const on = new Parallel({ nJobs: N_JOBS });
  const tasks = () => Array.from({ length: TASKS }, () => delayed(summarize)(data));
  for (let w = 0; w < 20; w++) {
    await off.run(tasks());
    await on.run(tasks());
  }
  const ratios: number[] = [];
  const time = async (par: Parallel) => {
    const t0 = performance.now();
    await par.run(tasks());
    return performance.now() - t0;
  };
  for (let r = 0; r < repeats; r++) {
    // Which goes first alternates, so neither always pays for the other's garbage.
    if (r % 2 === 0) {
      const offMs = await time(off);
      ratios.push((await time(on)) / offMs);
    } else {
      const onMs = await time(on);
      ratios.push(onMs / (await time(off)));
    }
  }
  await Promise.all([off.close(), on.close()]);
  console.log(JSON.stringify({ contender, kind, bytes, ratios }));
  process.exit(0);
} else if (contender === 'limit') {
  // The physical limit: one copy of the data, plus the tasks' compute split
  // evenly across the workers, each measured here in this thread.
  markBaseline();
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    const copy = ArrayBuffer.isView(data) ? new Float64Array(data) : structuredClone(data);
    const copyMs = performance.now() - t0;
    const t1 = performance.now();
    for (let t = 0; t < TASKS; t++) summarize(copy);
    const computeMs = performance.now() - t1;
    // The compute floor alone (no copy): what joblib's side is compared against, each above its own.
    runs.push({ wallMs: copyMs + computeMs / N_JOBS, blockedMs: copyMs, floorMs: computeMs / N_JOBS });
    if (r === 0) firstRunPeak = process.resourceUsage().maxRSS * 1024;
  }
} else if (contender.startsWith('piscina')) {
  const pool = new Piscina({ filename: workerUrl, minThreads: N_JOBS, maxThreads: N_JOBS, idleTimeout: Infinity });
  await Promise.all([pool.run(new Float64Array(1)), pool.run(new Float64Array(1))]);
  markBaseline();
  if (contender === 'piscina-clone') {
    await measure(() => Promise.all(Array.from({ length: TASKS }, () => pool.run(data))));
  } else {
    // transferList moves a buffer to one worker: each task needs its own copy to move.
    const f64 = data as Float64Array;
    await measure(() =>
      Promise.all(
        Array.from({ length: TASKS }, () => {
          const copy = f64.slice();
          return pool.run(copy, { transferList: [copy.buffer] });
        }),
      ),
    );
  }
  await pool.destroy();
} else {
  const options =
    contender === 'skein-off'
      ? { maxNbytes: null }
      : contender === 'skein-file'
        ? { store: 'file' as const }
        : {};
  const par = new Parallel({ nJobs: N_JOBS, ...options });
  await par.run([delayed(touch)(new Float64Array(1)), delayed(touch)(new Float64Array(1))]);
  markBaseline();
  const fn = contender === 'overhead-shared-alloc' ? touch : summarize;
  await measure(() => par.run(Array.from({ length: TASKS }, () => delayed(fn as typeof summarize)(data))));
  await par.close();
}

const peakAboveMb = (firstRunPeak - baseline) / 2 ** 20;
console.log(JSON.stringify({ contender, kind, bytes, runs, peakAboveMb }));
