/**
 * Large arguments, in plain JavaScript: 8 statistics over one 200 MB dataset,
 * with and without auto-offload. `npm run build`, then
 * `node examples/large-argument.mjs` (or `node examples/large-argument.mjs 50`
 * for a 50 MB dataset). The same as large-args.ts, without TypeScript.
 *
 * Each mode runs in a process of its own, so its peak memory is its own.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Parallel, delayed, shared } from 'skein';

// `node large-argument.mjs [megabytes]`; each mode's process also gets its mode.
const [megabytes = '200', mode] = process.argv.slice(2);
const N = Math.round((Number(megabytes) * 1e6) / 8); // 200 MB: 25M float64
if (!(N > 0)) throw new RangeError(`Expected the dataset size in megabytes, e.g. 50, got \`${megabytes}\``);

// Eight statistics; each makes its own pass over the data, as separate jobs would.
const mean = (x) => x.reduce((a, b) => a + b, 0) / x.length;
const std = (x) => {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < x.length; i++) {
    s += x[i];
    s2 += x[i] * x[i];
  }
  const m = s / x.length;
  return Math.sqrt(s2 / x.length - m * m);
};
const min = (x) => x.reduce((a, b) => (b < a ? b : a), Infinity);
const max = (x) => x.reduce((a, b) => (b > a ? b : a), -Infinity);
const above = (x, t) => x.reduce((n, v) => (v > t ? n + 1 : n), 0);
const lag1 = (x) => {
  let s = 0;
  for (let i = 1; i < x.length; i++) s += x[i] * x[i - 1];
  return s / (x.length - 1);
};
const median = (x) => {
  // A histogram median: one pass, no sort, no copy.
  const bins = new Float64Array(4096);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  const w = (hi - lo) / bins.length || 1;
  for (let i = 0; i < x.length; i++) bins[Math.min(bins.length - 1, Math.floor((x[i] - lo) / w))]++;
  let seen = 0;
  for (let b = 0; b < bins.length; b++) {
    seen += bins[b];
    if (seen >= x.length / 2) return lo + (b + 0.5) * w;
  }
  return hi;
};
const zeroCrossings = (x) => {
  let n = 0;
  for (let i = 1; i < x.length; i++) if (x[i - 1] < 0 !== x[i] < 0) n++;
  return n;
};

function makeData(inShared) {
  const x = inShared ? shared(Float64Array, N) : new Float64Array(N);
  let state = 1;
  for (let i = 0; i < N; i++) {
    state = (state * 48271) % 2147483647;
    x[i] = Math.sin(i / 1000) + (state / 2147483647 - 0.5);
  }
  return x;
}

async function runMode(mode) {
  const data = makeData(mode === 'shared()');
  // Plain JavaScript on Node 20 has no `await using`: close in `finally`.
  const par = new Parallel({ nJobs: 2, ...(mode === 'clone (maxNbytes: null)' ? { maxNbytes: null } : {}) });
  try {
    await par.run([delayed(mean)(new Float64Array(8)), delayed(mean)(new Float64Array(8))]); // start the workers
    global.gc?.();
    const baseline = process.memoryUsage.rss();
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    const stats = await par.run([
      delayed(mean)(data),
      delayed(std)(data),
      delayed(min)(data),
      delayed(max)(data),
      delayed(median)(data),
      delayed(above)(data, 1),
      delayed(lag1)(data),
      delayed(zeroCrossings)(data),
    ]);
    const ms = performance.now() - t0;
    const busy = performance.eventLoopUtilization(elu0).active;
    const peak = (process.resourceUsage().maxRSS * 1024 - baseline) / 2 ** 20;
    console.log(JSON.stringify({ mode, ms, busy, peak, stats }));
  } finally {
    await par.close();
  }
}

if (mode !== undefined) {
  await runMode(mode);
} else {
  console.log(`8 statistics over one ${(N * 8) / 1e6} MB Float64Array (${N.toLocaleString("en-US")} values), 2 workers\n`);
  const results = ['clone (maxNbytes: null)', 'offload (default)', 'shared()'].map((m) => {
    const child = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), megabytes, m], { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(child.stderr);
    return JSON.parse(child.stdout.trim().split('\n').at(-1));
  });
  console.log('mode                       wall      caller busy   peak RSS above baseline');
  for (const r of results) {
    console.log(`${r.mode.padEnd(26)} ${r.ms.toFixed(0).padStart(6)} ms ${r.busy.toFixed(0).padStart(8)} ms ${r.peak.toFixed(0).padStart(10)} MB`);
  }
  const [clone, offload] = results;
  console.log(`\noffload vs clone: ${(clone.ms / offload.ms).toFixed(1)}x faster, ${(clone.peak / Math.max(offload.peak, 1)).toFixed(1)}x less memory`);
  const names = ['mean', 'std', 'min', 'max', 'median', 'count > 1', 'lag-1 product', 'zero crossings'];
  console.log('same statistics in every mode:', results.every((r) => JSON.stringify(r.stats) === JSON.stringify(clone.stats)));
  console.log(Object.fromEntries(names.map((n, i) => [n, Number(offload.stats[i].toFixed(4))])));
}
