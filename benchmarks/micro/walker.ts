/**
 * Micro-benchmarks of the walks over task arguments and results, old vs new
 * in one process: `node --expose-gc --import tsx benchmarks/micro/walker.ts <other dist/src>`
 * (the other build, e.g. main's, compiled elsewhere). Not part of `npm run bench`.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const here = path.resolve('dist/src');
const other = path.resolve(process.argv[2] ?? 'dist/src');
const load = async (root: string, file: string) => import(pathToFileURL(path.join(root, file)).href);

const ROUNDS = 7;

function time(label: string, fn: () => unknown): number {
  const runs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    (globalThis as { gc?: () => void }).gc?.();
    const t = performance.now();
    fn();
    runs.push(performance.now() - t);
  }
  runs.sort((a, b) => a - b);
  return runs[Math.floor(ROUNDS / 2)]!;
}

const records = Array.from({ length: 1e6 }, (_, i) => ({ id: i, name: `n${i}`, x: i * 0.5, ok: i % 2 === 0 }));
const numbers = Array.from({ length: 1e6 }, (_, i) => i * 1.5);
const n = 1e5;

async function suite(root: string) {
  const cloneable = await load(root, 'task/cloneable.js');
  const travel = await load(root, 'store/travel.js');
  const delayedMod = await load(root, 'task/delayed.js');
  const offload = await load(root, 'store/offload.js');
  const storeMod = await load(root, 'store/index.js');
  const results = await load(root, 'task/results.js');
  const estimate = await load(root, 'serialize/estimate.js');
  const store = new storeMod.SharedMemoryStore({ name: 'micro' });
  const proxy = store.proxy({ big: true });
  const f = (a: unknown, b: number) => [a, b];
  const recorder = delayedMod.delayed(f);
  const offloader = new offload.Offloader(1 << 20, store);
  const tasksWithProxy = Array.from({ length: n }, (_, i) => recorder(proxy, i));
  const smallRecords = Array.from({ length: n }, (_, i) => recorder({ id: i, name: 'x' }, i));
  const out: Record<string, number> = {
    'assertCloneable 1e6 records': time('', () => cloneable.assertCloneable(records, 'args[0]')),
    'assertCloneable 1e6 numbers': time('', () => cloneable.assertCloneable(numbers, 'args[0]')),
    'delayed(f)(proxy, i) x1e5': time('', () => {
      for (let i = 0; i < n; i++) recorder(proxy, i);
    }),
    'delayed(f)({id,name}, i) x1e5': time('', () => {
      for (let i = 0; i < n; i++) recorder({ id: i, name: 'x' }, i);
    }),
    'encodeReferences [proxy, i] x1e5': time('', () => {
      for (let i = 0; i < n; i++) travel.encodeReferences([proxy, i]);
    }),
    'encodeReferences 1e6 records': time('', () => travel.encodeReferences(records)),
    'offloader.tasks [proxy, i] x1e5': time('', () => offloader.tasks(tasksWithProxy)),
    'offloader.tasks [{id,name}, i] x1e5': time('', () => offloader.tasks(smallRecords)),
    'estimateBytes 1e6 records': time('', () => estimate.estimateBytes(records)),
    'prepareValues 1e4 small records x100': time('', () => {
      for (let k = 0; k < 100; k++) results.prepareValues(records.slice(0, 1e4), 1 << 20);
    }),
    'flagPooledResults 1e6 records': time('', () => {
      results.notePooled(new Float64Array(new SharedArrayBuffer(64 + 16)));
      results.flagPooledResults({ values: records, errors: [], durationMs: 0 });
    }),
  };
  const values = await load(root, 'core/values.js');
  // The generic walk that the rare paths use, over the same records: why the hot walks keep their own loops.
  out['generic findPart walk 1e6 records'] = values.findPart ? time('', () => values.findPart(records, 'x', () => 0)) : NaN;
  await store.close();
  return out;
}

// Alternate old and new twice, so neither always runs on a colder process.
const a1 = await suite(other);
const b1 = await suite(here);
const a2 = await suite(other);
const b2 = await suite(here);
console.log(`| walk | other (${path.relative(process.cwd(), other)}) ms | this ms | change |`);
console.log('| --- | --- | --- | --- |');
for (const k of Object.keys(a1)) {
  const a = Math.min(a1[k]!, a2[k]!);
  const b = Math.min(b1[k]!, b2[k]!);
  console.log(`| ${k} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(((b - a) / a) * 100).toFixed(1)}% |`);
}
