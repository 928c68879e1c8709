/**
 * Back-to-back warm runs, in a process of their own so that Node's flags can
 * differ: `tsx [--max-semi-space-size=64] young-gen-child.ts <tasks> <runs>`.
 * Times skein's `run()` (making the delayed calls included) and `map()` of
 * trivial tasks on one warmed `Parallel`, one after another as a loop of runs
 * makes them; prints the times as one JSON line.
 */
import { Parallel, delayed } from 'skein';

const n = Number(process.argv[2] ?? 100_000);
const runs = Number(process.argv[3] ?? 15);
const square = (x: number) => x * x;
const xs = Array.from({ length: n }, (_, i) => i);
const par = new Parallel({ nJobs: 2 });
for (let i = 0; i < 5; i++) {
  await par.run(xs.map((x) => delayed(square)(x)));
  await par.map(square, xs);
}
const out = { run: [] as number[], map: [] as number[], execArgv: process.execArgv.filter((a) => a.includes('semi-space')) };
for (let r = 0; r < runs; r++) {
  let t0 = performance.now();
  await par.run(xs.map((x) => delayed(square)(x)));
  out.run.push(performance.now() - t0);
  t0 = performance.now();
  await par.map(square, xs);
  out.map.push(performance.now() - t0);
}
await par.close();
console.log(JSON.stringify(out));
