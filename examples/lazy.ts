/**
 * Lazy task graphs, the `lazy` seed: `npx tsx examples/lazy.ts` (after `npm run build`).
 * Squares run in parallel, a product waits for both, and a sum built on the
 * same squares later runs alone: the squares' results are kept.
 */
import { writeFile } from 'node:fs/promises';
import { Parallel, delayed } from 'skein';

// Each blocks its worker 100 ms, standing for real work (inlined: task functions travel by source, alone).
function Square(x: number): number {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  return x * x;
}
function Mul(x: number, y: number): number {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  return x * y;
}
function Add(x: number, y: number): number {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  return x + y;
}

const par = new Parallel({ nJobs: 2 });
try {
  // Warm the workers up, so the times below are the graph's alone.
  await par.map((x: number) => x, [0, 1]);

  const a = delayed(Square)(2);
  const b = delayed(Square)(3);
  const c = delayed(Mul)(a, b);
  const d = delayed(Add)(a, b);
  console.log('plan for c:', c.plan().map((n) => n.name).join(', '));

  let t = performance.now();
  console.log(`c = ${await c.compute({ parallel: par })} in ${(performance.now() - t).toFixed(0)} ms (squares in parallel: ~200 ms, not ~300)`);
  console.log('plan for d:', d.plan().map((n) => n.name).join(', '));
  t = performance.now();
  console.log(`d = ${await d.compute({ parallel: par })} in ${(performance.now() - t).toFixed(0)} ms (squares kept: ~100 ms)`);

  const file = new URL('./lazy.svg', import.meta.url);
  await writeFile(file, await delayed(Add, { name: 'c + d' })(c, d).toSVG());
  console.log(`graph drawn to ${file.pathname}`);
} finally {
  await par.close();
}
