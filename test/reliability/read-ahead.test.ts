import { afterAll, describe, expect, test } from '@jest/globals';
import { Parallel, delayed } from 'skein';
import { AutoBatchSize, MAX_AUTO_BATCH, MAX_BATCH_BYTES, taskBytes } from '#src/executor/auto-batch.js';

// How far `iter()` may read past what its consumer took, in batches: those in
// flight (preDispatch, 2 per worker), one slice split but not sent, and the
// results waiting for the consumer (up to 4 × preDispatch batches).
const BATCHES_AHEAD = 4 + 1 + 4 * 4 + 3;

const par = new Parallel({ nJobs: 2 });
afterAll(() => par.close());

/** Consumes `take` results of an endless source of tasks and returns how many tasks it had yielded. */
async function readAhead(make: (i: number) => ReturnType<ReturnType<typeof delayed>>, take: number): Promise<number> {
  let pulled = 0;
  function* endless() {
    for (let i = 0; ; i++) {
      pulled++;
      yield make(i);
    }
  }
  let got = 0;
  for await (const _ of par.iter(endless())) {
    if (++got >= take) break;
  }
  return pulled - got;
}

describe('auto batching stays bounded', () => {
  test('trivial tasks: an endless source is read a few batches past a break, not millions of tasks', async () => {
    const inc = delayed((x: number) => x + 1);
    // Unbounded, batches of trivial tasks doubled to 500k+ here and the source was read 1.6M tasks ahead.
    const extra = await readAhead((i) => inc(i), 1_000_000);
    expect(extra).toBeLessThanOrEqual(BATCHES_AHEAD * MAX_AUTO_BATCH);
  }, 120_000);

  test('tasks with large arguments make small batches: read-ahead is bounded by bytes too', async () => {
    const length = delayed((a: Float64Array) => a.length);
    // 128 KB each: 128 tasks fill a batch's byte budget.
    const perBatch = MAX_BATCH_BYTES / (128 * 1024);
    const extra = await readAhead(() => length(new Float64Array(16 * 1024)), 5_000);
    expect(extra).toBeLessThanOrEqual(BATCHES_AHEAD * perBatch);
  }, 120_000);

  test('the size never passes the count cap, nor the byte budget of the tasks it is fitted to', () => {
    const auto = new AutoBatchSize();
    // Batches that take no time at all ask to grow as fast as allowed.
    for (let i = 0; i < 40; i++) auto.record(auto.size, 0.01);
    expect(auto.size).toBe(MAX_AUTO_BATCH);
    auto.fit(1024 * 1024);
    expect(auto.size).toBe(MAX_BATCH_BYTES / (1024 * 1024));
    for (let i = 0; i < 10; i++) auto.record(auto.size, 0.01);
    expect(auto.size).toBe(MAX_BATCH_BYTES / (1024 * 1024));
    auto.fit(10 * MAX_BATCH_BYTES);
    expect(auto.size).toBe(1);
    auto.fit(8);
    for (let i = 0; i < 40; i++) auto.record(auto.size, 0.01);
    expect(auto.size).toBe(MAX_AUTO_BATCH);
  });

  test('task bytes count a task’s own arguments, not an object all tasks share nor what is offloaded', () => {
    const f = delayed((...args: unknown[]) => args.length);
    const shared = new Float64Array(1024 * 1024);
    const own = () => new Float64Array(1000);
    expect(taskBytes([f(own(), 1), f(own(), 2)], undefined)).toBeGreaterThanOrEqual(8000);
    // The same array in every task is cloned once per batch.
    expect(taskBytes([f(shared, 1), f(shared, 2)], undefined)).toBeLessThan(1000);
    // Above the offload threshold a value travels as a reference.
    expect(taskBytes([f(new Float64Array(1024 * 1024))], 1024 * 1024)).toBeLessThan(1000);
    expect(taskBytes([f(new Float64Array(1024 * 1024))], undefined)).toBeGreaterThanOrEqual(8 * 1024 * 1024);
  });
});
