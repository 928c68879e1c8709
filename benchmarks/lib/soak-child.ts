/**
 * One phase of the soak scope, in a process of its own so its RSS is its
 * own: `node --expose-gc --import tsx soak-child.ts <iter|runs|arrays> [quick]`. Prints one
 * JSON line: RSS samples above the baseline (taken once the pool has started),
 * in MB, and the process's peak RSS above the same baseline.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Parallel, delayed } from 'skein';

const [phase = 'iter', quickArg] = process.argv.slice(2);
const quick = quickArg === 'quick';
const MB = 2 ** 20;
const inc = (x: number) => x + 1;
const sum = (a: Float64Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i += 512) s += a[i]!;
  return s;
};

const rss = () => process.memoryUsage.rss();
/** RSS once freed memory is really returned: V8 frees array buffers on a background thread after a collection. */
async function settledRss(): Promise<number> {
  global.gc!();
  await sleep(100);
  global.gc!();
  await sleep(100);
  return rss();
}

const par = new Parallel({ nJobs: 2 });
await par.run([delayed(inc)(1), delayed(inc)(2)]);
const base = await settledRss();
const samples: { at: number; mb: number }[] = [];
/** After a collection, so that the samples show what is retained rather than when V8 last collected. */
const collected = () => {
  global.gc!();
  return rss();
};
const sample = (at: number, bytes = collected()) => samples.push({ at, mb: (bytes - base) / MB });
const t0 = performance.now();
let sizes: number[] = [];

if (phase === 'iter') {
  // Tasks one by one through iter(), sampled as they come.
  const total = quick ? 100_000 : 1_000_000;
  const step = total / 20;
  function* tasks() {
    for (let i = 0; i < total; i++) yield delayed(inc)(i);
  }
  let done = 0;
  for await (const r of par.iter(tasks())) {
    if (r !== ++done) throw new Error(`result ${r} out of order at ${done}`);
    if (done % step === 0) sample(done);
  }
  sample(total, await settledRss());
} else if (phase === 'runs') {
  const runs = quick ? 40 : 200;
  const xs = Array.from({ length: 1000 }, (_, i) => i);
  for (let r = 1; r <= runs; r++) {
    const out = await par.run(xs.map((x) => delayed(inc)(x)));
    if (out[999] !== 1000) throw new Error('wrong result');
    if (r % 10 === 0) sample(r);
  }
  sample(runs, await settledRss());
} else {
  // New arrays of growing sizes, one per run, as a program loading dataset after dataset.
  const [first, last] = quick ? [32, 96] : [128, 448];
  sizes = Array.from({ length: 8 }, (_, i) => Math.round(first + (i * (last - first)) / 7) * MB);
  for (let r = 0; r < sizes.length; r++) {
    let data: Float64Array | undefined = new Float64Array(sizes[r]! / 8).fill(1);
    const out = await par.run([delayed(sum)(data), delayed(sum)(data)]);
    if (out[0] !== sum(data)) throw new Error('wrong result');
    data = undefined;
    sample(r + 1, await settledRss());
  }
}
const wallMs = performance.now() - t0;
await par.close();
const closed = ((await settledRss()) - base) / MB;
const peakMb = (process.resourceUsage().maxRSS * 1024 - base) / MB;
console.log(JSON.stringify({ phase, samples, closed, peakMb, wallMs, sizes, baseMb: base / MB }));
