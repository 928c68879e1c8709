/**
 * What keeping results safe from reused shared memory costs. A Parallel
 * copies large typed arrays into shared memory it reuses run after run; a
 * buffer a task returned (part of) is never reused, since the caller holds
 * it. Measured: a run over a new 128 MB array when the previous run's memory
 * came back to the pool, against one when it could not (the result kept it),
 * alternating between two Parallels; and the worker-side search of a batch's
 * results for reused memory, against structured clone of the same results.
 */
import { Parallel, delayed } from 'skein';
import { flagPooledResults, notePooled } from '#src/task/results.js';
import { SharedBufferPool } from '#src/store/offload.js';
import type { Scope } from '../lib/scope.js';
import { median } from '../lib/stats.js';

const MB = 2 ** 20;
const first = (a: Float64Array) => a[0];
const itself = (a: Float64Array) => a;

function timeUs(fn: () => unknown, rounds: number): number {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    fn();
    times.push((performance.now() - t0) * 1000);
  }
  return median(times);
}

const scope: Scope = {
  name: 'pool',
  description:
    'Shared memory reuse and results that alias it. A run of 2 tasks over a new Float64Array (2 workers): after a run whose memory ' +
    'went back to the pool (tasks return a number), and after a run whose result kept it (tasks return their argument, so the next ' +
    'run needs fresh memory); the two alternate, each on its own Parallel, medians. Then the search a worker makes of a batch’s results ' +
    'when the batch was given reused memory, against `structuredClone` of the same results (what sending them costs anyway).',
  async run(ctx) {
    const bytes = (ctx.quick ? 32 : 128) * MB;
    const rounds = ctx.quick ? 4 : 15;
    const reusing = new Parallel({ nJobs: 2 });
    const fresh = new Parallel({ nJobs: 2 });
    const array = () => new Float64Array(bytes / 8).fill(1);
    const run = async (par: Parallel, fn: (a: Float64Array) => unknown) => {
      const a = array();
      const t0 = performance.now();
      await par.run([delayed(fn)(a), delayed(fn)(a)]);
      return performance.now() - t0;
    };
    // Warm-up: both pools and both paths once.
    await run(reusing, first);
    await run(fresh, itself);
    const reused: number[] = [];
    const notReused: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // Which goes first alternates, so neither always pays for the other's garbage.
      if (r % 2 === 0) {
        reused.push(await run(reusing, first));
        notReused.push(await run(fresh, itself));
      } else {
        notReused.push(await run(fresh, itself));
        reused.push(await run(reusing, first));
      }
      global.gc?.();
    }
    await Promise.all([reusing.close(), fresh.close()]);
    const reuseMs = median(reused);
    const freshMs = median(notReused);
    ctx.log(`${bytes / MB} MB: memory reused ${reuseMs.toFixed(1)} ms, fresh memory ${freshMs.toFixed(1)} ms`);

    // The search, in this thread: a pooled buffer noted as a worker notes it, then results without it.
    const pool = new SharedBufferPool();
    const buffer = pool.take(MB)!;
    const shapes: [string, () => unknown[]][] = [
      ['16,384 numbers', () => Array.from({ length: 16_384 }, (_, i) => i * 1.5)],
      ['1,000 records { id, name, score }', () => Array.from({ length: 1000 }, (_, i) => ({ id: i, name: `r${i}`, score: i % 100 }))],
      ['100 results of 100-number arrays', () => Array.from({ length: 100 }, () => Array.from({ length: 100 }, (_, i) => i))],
    ];
    const search: { shape: string; searchUs: number; cloneUs: number }[] = [];
    for (const [shape, make] of shapes) {
      const values = make();
      const searchUs = timeUs(() => {
        notePooled(new Float64Array(buffer, 0, 8));
        flagPooledResults({ values, errors: [], durationMs: 0 });
      }, ctx.quick ? 20 : 200);
      const cloneUs = timeUs(() => structuredClone(values), ctx.quick ? 20 : 200);
      search.push({ shape, searchUs, cloneUs });
      ctx.log(`${shape}: search ${searchUs.toFixed(1)} µs, structuredClone ${cloneUs.toFixed(1)} µs`);
    }

    return {
      parameters: { nJobs: 2, arrayMb: bytes / MB, rounds },
      table: {
        columns: ['measurement', 'median', 'ratio'],
        rows: [
          [`run over a new ${bytes / MB} MB array, memory reused`, `${reuseMs.toFixed(1)} ms`, '1.00x'],
          [`same, fresh memory (the last result kept the pooled buffer)`, `${freshMs.toFixed(1)} ms`, `${(freshMs / reuseMs).toFixed(2)}x`],
          ...search.map((s) => [`search of a batch of ${s.shape} for reused memory`, `${s.searchUs.toFixed(1)} µs`, `${(s.searchUs / s.cloneUs).toFixed(2)}x its structuredClone (${s.cloneUs.toFixed(1)} µs)`]),
        ],
      },
      data: { reused, notReused, search },
    };
  },
};

export default scope;
