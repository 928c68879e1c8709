import { describe, expect, test } from '@jest/globals';
import { Parallel, delayed } from 'skein';
import { SharedBufferPool } from '#src/store/offload.js';
import { flagPooledResults, notePooled } from '#src/task/results.js';

// Above the 1 MB offload threshold: sent through shared memory the Parallel reuses.
const LENGTH = (2 * 1024 * 1024) / 8;
const filled = (v: number) => new Float64Array(LENGTH).fill(v);
const touch = (a: Float64Array) => a[0]! + a[a.length - 1]!;

/** A later run on other data of the same size: it copies into whatever shared memory the pool lends it. */
async function anotherRun(par: Parallel): Promise<void> {
  await par.run([delayed(touch)(filled(9)), delayed(touch)(filled(9))]);
}

describe('a result that is (part of) its offloaded argument never changes under the caller', () => {
  test('returned as it is: (a) => a', async () => {
    const par = new Parallel({ nJobs: 2 });
    try {
      const [r] = (await par.run([delayed((a: Float64Array) => a)(filled(1))])) as Float64Array[];
      expect(r![0]).toBe(1);
      // Before: the next run copied its data into the same shared memory.
      await anotherRun(par);
      await par.run([delayed(touch)(filled(3))]);
      expect(r!.every((v) => v === 1)).toBe(true);
    } finally {
      await par.close();
    }
  });

  test('a view of it: a.subarray(0, 4)', async () => {
    const par = new Parallel({ nJobs: 2 });
    try {
      const [r] = (await par.run([delayed((a: Float64Array) => a.subarray(0, 4))(filled(5))])) as Float64Array[];
      await anotherRun(par);
      await par.run([delayed(touch)(filled(6))]);
      expect(Array.from(r!)).toEqual([5, 5, 5, 5]);
    } finally {
      await par.close();
    }
  });

  test('normalised in place and returned, also inside an object, a Map and an error', async () => {
    const par = new Parallel({ nJobs: 2, errors: 'settle' });
    try {
      const normalise = (a: Float64Array) => {
        let max = 0;
        for (let i = 0; i < a.length; i++) max = Math.max(max, a[i]!);
        for (let i = 0; i < a.length; i++) a[i] = a[i]! / max;
        return a;
      };
      const nested = (a: Float64Array) => ({ stats: [{ head: a.subarray(0, 2) }], byName: new Map([['a', a]]) });
      const failing = (a: Float64Array) => {
        throw Object.assign(new Error('rejected'), { data: a.subarray(0, 2) });
      };
      const [n, o, e] = (await par.run([
        delayed(normalise)(filled(4)),
        delayed(nested)(filled(7)),
        delayed(failing)(filled(8)),
      ])) as PromiseSettledResult<unknown>[];
      const normalised = (n as PromiseFulfilledResult<Float64Array>).value;
      const object = (o as PromiseFulfilledResult<ReturnType<typeof nested>>).value;
      const error = (e as PromiseRejectedResult).reason as { data: Float64Array };
      expect(normalised[0]).toBe(1);
      for (let i = 0; i < 3; i++) await par.run([delayed(touch)(filled(2)), delayed(touch)(filled(2)), delayed(touch)(filled(2))]);
      expect(normalised.every((v) => v === 1)).toBe(true);
      expect(Array.from(object.stats[0]!.head)).toEqual([7, 7]);
      expect(object.byName.get('a')!.every((v) => v === 7)).toBe(true);
      expect(Array.from(error.data)).toEqual([8, 8]);
    } finally {
      await par.close();
    }
  });

  test('the result of one run passed into the next', async () => {
    const par = new Parallel({ nJobs: 2 });
    try {
      const [r1] = (await par.run([delayed((a: Float64Array) => a)(filled(1))])) as Float64Array[];
      // r1 is shared memory already: it travels as it is, beside a new array that needs pooled memory.
      const both = (x: Float64Array, y: Float64Array) => [x[0], y[0]];
      const [seen] = await par.run([delayed(both)(r1!, filled(2))]);
      expect(seen).toEqual([1, 2]);
      await par.run([delayed(touch)(filled(3))]);
      expect(r1!.every((v) => v === 1)).toBe(true);
    } finally {
      await par.close();
    }
  });

  test('a worker flags exactly the reused buffers its results show', () => {
    const pool = new SharedBufferPool();
    const returned = pool.take(64)!;
    const cloned = pool.take(64)!;
    const kept = pool.take(64)!;
    for (const buffer of [returned, cloned, kept]) notePooled(new Float64Array(buffer, 0, 8));
    // A clone made in the worker (as error encoding does) is the same memory under another object.
    const clone = structuredClone(new Uint8Array(cloned, 0, 4));
    const lookalike = new SharedArrayBuffer(cloned.byteLength);
    flagPooledResults({ values: [1, { deep: [new Uint8Array(returned, 8, 4)] }, new Map([[clone, new Uint8Array(lookalike)]])], errors: [], durationMs: 0 });
    expect(SharedBufferPool.seen(returned)).toBe(true);
    expect(SharedBufferPool.seen(cloned)).toBe(true);
    expect(SharedBufferPool.seen(kept)).toBe(false);
    pool.giveBack([returned, cloned, kept]);
    expect(pool.size).toBe(1);
    expect(pool.take(64)).toBe(kept);
  });
});
