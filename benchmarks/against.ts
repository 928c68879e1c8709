/**
 * This checkout against another one, in the same process and the same run:
 * `npm run bench:against -- /path/to/other/checkout` (built, with its own
 * dist/). Each case alternates the two sides, repeats, and prints medians
 * and the ratio this/other: a change that must not slow anything down is
 * checked here on one noisy machine, where separate runs cannot be compared.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from './lib/stats.js';

type Skein = typeof import('skein');

const other = process.argv.slice(2).find((a) => !a.startsWith('--'));
if (other === undefined) {
  console.error('usage: npm run bench:against -- /path/to/other/checkout');
  process.exit(2);
}
const quick = process.argv.includes('--quick');
const load = async (root: string): Promise<Skein> => (await import(pathToFileURL(path.join(root, 'dist/src/index.js')).href)) as Skein;
const sides: [string, Skein][] = [
  ['this', await load(process.cwd())],
  ['other', await load(path.resolve(other))],
];

const square = (x: number) => x * x;
const sumEvery = (xs: Float64Array, k: number) => {
  let s = 0;
  for (let i = k; i < xs.length; i += 4096) s += xs[i]!;
  return s;
};

interface Case {
  readonly name: string;
  readonly size: string;
  /** Runs the case once on one side; returns ms. */
  run(skein: Skein, par: InstanceType<Skein['Parallel']>, par1: InstanceType<Skein['Parallel']>): Promise<number>;
}

const n = quick ? 20_000 : 100_000;
const n1 = quick ? 2_000 : 10_000;
const big = new Float64Array((64 * 2 ** 20) / 8).map((_, i) => i % 1000);

const timed = async (fn: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};

const cases: Case[] = [
  { name: 'dispatch: run() of trivial tasks, auto batching', size: `${n.toLocaleString('en-US')} tasks`, run: (s, par) => timed(() => par.run(Array.from({ length: n }, (_, i) => s.delayed(square)(i)))) },
  { name: 'dispatch: batchSize 1', size: `${n1.toLocaleString('en-US')} tasks`, run: (s, _par, par1) => timed(() => par1.run(Array.from({ length: n1 }, (_, i) => s.delayed(square)(i)))) },
  { name: 'dispatch: iter(), completion order', size: `${n.toLocaleString('en-US')} tasks`, run: (s, par) => timed(async () => {
      for await (const _ of par.iter(Array.from({ length: n }, (_, i) => s.delayed(square)(i)), { ordered: false }));
    }) },
  { name: 'transfer: one large argument to 8 tasks (offloaded)', size: '64 MB Float64Array', run: (s, par) => timed(() => par.run(Array.from({ length: 8 }, (_, k) => s.delayed(sumEvery)(big, k)))) },
  { name: 'transfer: 8 large results back', size: '8 x 8 MB Float64Array', run: (s, par) => timed(() => par.run(Array.from({ length: 8 }, (_, k) => s.delayed((m: number) => new Float64Array(m).fill(1))(2 ** 20 + k)))) },
  { name: 'cold: new Parallel, first run, close', size: `${n1.toLocaleString('en-US')} tasks`, run: async (s) => {
      const t0 = performance.now();
      const fresh = new s.Parallel({ nJobs: 2 });
      try {
        await fresh.run(Array.from({ length: n1 }, (_, i) => s.delayed(square)(i)));
      } finally {
        await fresh.close();
      }
      return performance.now() - t0;
    } },
];

const repeats = quick ? 3 : 9;
const pools = new Map(sides.map(([name, s]) => [name, { par: new s.Parallel({ nJobs: 2 }), par1: new s.Parallel({ nJobs: 2, batchSize: 1 }) }]));
const rows: string[][] = [];
try {
  for (const [name, s] of sides) {
    const { par, par1 } = pools.get(name)!;
    for (const c of cases) await c.run(s, par, par1);
  }
  for (const c of cases) {
    const times = new Map<string, number[]>(sides.map(([name]) => [name, []]));
    for (let r = 0; r < repeats; r++) {
      // Alternate which side goes first, so drift in the machine's load favours neither.
      const order = r % 2 === 0 ? sides : [...sides].reverse();
      for (const [name, s] of order) {
        const { par, par1 } = pools.get(name)!;
        times.get(name)!.push(await c.run(s, par, par1));
      }
    }
    const mine = median(times.get('this')!);
    const theirs = median(times.get('other')!);
    rows.push([c.name, c.size, `${mine.toFixed(1)} ms`, `${theirs.toFixed(1)} ms`, `${(mine / theirs).toFixed(3)}x`]);
    console.log(rows.at(-1)!.join(' | '));
  }
} finally {
  for (const { par, par1 } of pools.values()) await Promise.all([par.close(), par1.close()]);
}
console.log(`\nmedians of ${repeats}, sides alternating; this = ${process.cwd()}, other = ${path.resolve(other)}`);
console.log('| case | size | this | other | this/other |\n| --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
