import { describe, expect, test } from '@jest/globals';
import { delayed, encodeBatch, runBatch, decodeOutcome, task } from 'skein';

const add = (a: number, b: number) => a + b;
const twice = (x: number) => 2 * x;
const boom = (x: number) => {
  throw new TypeError(`bad ${x}`);
};
const slow = async (x: number) => {
  await new Promise((r) => setTimeout(r, 1));
  return x;
};

describe('encodeBatch → runBatch → decodeOutcome', () => {
  // Auto batching sizes batches from it: a module's import is paid once, not by each task.
  test("a batch's time is its tasks', not the import of their module", async () => {
    const one = task<() => number>(new URL('../fixtures/slow-import-task.mjs', import.meta.url), 'one');
    const t0 = performance.now();
    const result = await runBatch(encodeBatch([delayed(one)()], true));
    const elapsed = performance.now() - t0;
    expect(decodeOutcome(structuredClone(result)).values).toEqual([1]);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(result.durationMs).toBeLessThan(elapsed / 2);
  });

  test('same-arity calls travel by column; results come back by offset', () => {
    const wire = encodeBatch([delayed(add)(1, 2), delayed(add)(3, 4)], true);
    expect(wire.size).toBe(2);
    expect(wire.columns).toEqual([
      [1, 3],
      [2, 4],
    ]);
    expect(wire.fnIndex).toBeUndefined();
    const result = runBatch(structuredClone(wire));
    expect(result).not.toBeInstanceOf(Promise);
    expect(decodeOutcome(structuredClone(result as Awaited<typeof result>)).values).toEqual([3, 7]);
  });

  test('different functions share one list and an index per call', async () => {
    const wire = encodeBatch([delayed(add)(1, 2), delayed(twice)(5), delayed(add)(0, 1)], false);
    expect(wire.fns).toHaveLength(2);
    expect(wire.fnIndex).toEqual([0, 1, 0]);
    expect(wire.args).toEqual([[1, 2], [5], [0, 1]]);
    const out = decodeOutcome(structuredClone(await runBatch(structuredClone(wire))));
    expect(out.values).toEqual([3, 10, 1]);
  });

  test('stopOnError stops at the first error; otherwise every task runs', async () => {
    const tasks = [delayed(twice)(1), delayed(boom)(2), delayed(twice)(3)];
    const fast = decodeOutcome(structuredClone(await runBatch(encodeBatch(tasks, true))));
    expect(fast.values).toEqual([2]);
    expect(fast.errors.map((e) => e.offset)).toEqual([1]);
    const error = fast.errors[0]!.error as Error;
    expect(error.name).toBe('TypeError');
    expect(error.message).toBe('bad 2');
    const all = decodeOutcome(structuredClone(await runBatch(encodeBatch(tasks, false))));
    expect(all.values[2]).toBe(6);
    expect(all.errors.map((e) => e.offset)).toEqual([1]);
  });

  test('onTaskStart sees each offset, async tasks included, and returning false stops the batch', async () => {
    const started: number[] = [];
    const out = await runBatch(encodeBatch([1, 2, 3].map((x) => delayed(slow)(x)), false), { onTaskStart: (i) => void started.push(i) });
    expect(started).toEqual([0, 1, 2]);
    expect(out.values).toEqual([1, 2, 3]);
    const stopped = await runBatch(encodeBatch([1, 2, 3].map((x) => delayed(twice)(x)), false), { onTaskStart: (i) => i < 2 });
    expect(stopped.cancelled).toBe(true);
    expect(stopped.values).toEqual([2, 4]);
  });

  test('gathered outcomes (settle mode) leave in chunks once everyMs has passed, the rest come in the result from `from` on', async () => {
    const tasks = [0, 1, 2, 3, 4].map((x) => (x === 2 ? delayed(boom)(x) : delayed(twice)(x)));
    const chunks: { from: number; values: unknown[]; offsets: number[] }[] = [];
    const send = (from: number, values: unknown[], errors: { offset: number }[]) => void chunks.push({ from, values: [...values], offsets: errors.map((e) => e.offset) });
    // Nothing waits: a chunk after each task but the last, whose outcome goes with the result.
    const each = await runBatch(encodeBatch(tasks, false), { gather: { everyMs: 0, send } });
    expect(chunks).toEqual([
      { from: 0, values: [0], offsets: [] },
      { from: 1, values: [2], offsets: [] },
      { from: 2, values: [undefined], offsets: [2] },
      { from: 3, values: [6], offsets: [] },
    ]);
    expect(each).toMatchObject({ from: 4, values: [8], errors: [], published: 4 });
    // Quick tasks within the delay: one message for the whole batch, the result.
    chunks.length = 0;
    const once = await runBatch(encodeBatch(tasks, false), { gather: { everyMs: 60_000, send } });
    expect(chunks).toEqual([]);
    expect(once).toMatchObject({ from: 0, values: [0, 2, undefined, 6, 8], published: 0 });
    expect(once.errors.map((e) => e.offset)).toEqual([2]);
  });
});
