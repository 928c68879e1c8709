/**
 * One run of the graph scope's large chain, in a process of its own so its
 * peak RSS is its own: `tsx graph-child.ts <graph|parallel> <bytes>`.
 * Prints one JSON line: wall ms, the calling thread's busy ms (event-loop
 * active time) and peak RSS above the baseline taken once the pool is up.
 */
import { Parallel, compute, delayed } from 'skein';

const [mode = 'graph', bytesArg = String(256 * 2 ** 20)] = process.argv.slice(2);
const n = Number(bytesArg) / 8;

const make = (len: number) => new Float64Array(len).fill(1);
const step = (xs: Float64Array) => {
  for (let i = 0; i < xs.length; i++) xs[i] = xs[i]! * 2;
  return xs;
};
const sum = (xs: Float64Array) => {
  let s = 0;
  for (let i = 0; i < xs.length; i += 1024) s += xs[i]!;
  return s;
};

const par = new Parallel({ nJobs: 2 });
await par.run([delayed((x: number) => x)(1), delayed((x: number) => x)(2)]);
const base = process.memoryUsage().rss;
let peak = base;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
const elu0 = performance.eventLoopUtilization();
const t0 = performance.now();
let total: number | undefined;
if (mode === 'graph') {
  [total] = await compute(delayed(sum)(delayed(step)(delayed(step)(delayed(step)(delayed(make)(n))))), { parallel: par });
} else {
  // The same chain as four parallel() calls: the array comes back to the caller and is sent on each time.
  let [xs] = (await par.run([delayed(make)(n)])) as Float64Array[];
  for (let i = 0; i < 3; i++) [xs] = (await par.run([delayed(step)(xs!)])) as Float64Array[];
  [total] = await par.run([delayed(sum)(xs!)]);
}
const ms = performance.now() - t0;
const busyMs = performance.eventLoopUtilization(elu0).active;
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
await par.close();
console.log(JSON.stringify({ mode, ms, busyMs, peakAboveBase: peak - base, total }));
