/**
 * One cold one-shot run in a fresh process, as a user's script makes it:
 * `tsx cold-child.ts <tasks>`. Times `parallel()` of trivial tasks from the
 * making of the delayed calls to the pool's close (its start included), with
 * nothing learned before; prints one JSON line.
 */
import { delayed, parallel } from 'skein';

const n = Number(process.argv[2] ?? 100_000);
const square = (x: number) => x * x;
const xs = Array.from({ length: n }, (_, i) => i);
const t0 = performance.now();
const out = await parallel(xs.map((x) => delayed(square)(x)), { nJobs: 2 });
const ms = performance.now() - t0;
if (out[n - 1] !== (n - 1) ** 2) throw new Error('wrong result');
console.log(JSON.stringify({ tasks: n, ms }));
