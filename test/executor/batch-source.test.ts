import { describe, expect, test } from '@jest/globals';
import { delayed } from 'skein';
import { BatchSizes, MAX_AUTO_BATCH, MIN_END_BATCH_MS, minBatchTasks, minEndBatchTasks } from '#src/executor/auto-batch.js';
import { BatchSource, type SourceBatch } from '#src/executor/source.js';

const inc = (x: number) => x + 1;

/** Every batch the source gives, read to its end (sync sources only). */
function drain(source: BatchSource): SourceBatch[] {
  const out: SourceBatch[] = [];
  for (let b = source.next(); b !== undefined; b = source.next()) {
    if (b instanceof Promise) throw new Error('expected a synchronous source');
    out.push(b);
  }
  return out;
}

const sizesOf = (batches: readonly SourceBatch[]) => batches.map((b) => b.tasks.length);

describe('BatchSource with sizes kept across runs', () => {
  test('the batch that starts with the task read to name the function is as large as the others', () => {
    const tasks = Array.from({ length: 64_000 }, (_, i) => delayed(inc)(i));
    const sizes = new BatchSizes();
    sizes.of(tasks[0]!.shipped.wire.fn.id).record(1, 0.001);
    expect(sizes.of(tasks[0]!.shipped.wire.fn.id).size).toBe(MAX_AUTO_BATCH);
    const batches = drain(new BatchSource(tasks, { nJobs: 2, batchSize: 'auto', sizes }));
    // 64,000 tasks, at least 8 batches per job: 4,000 each, the first one included.
    expect(sizesOf(batches)).toEqual(Array(16).fill(4000));
    expect(batches.map((b) => b.first)).toEqual(Array.from({ length: 16 }, (_, i) => i * 4000));
  });

  test('an iterator source reads the same batches', () => {
    const tasks = Array.from({ length: 5000 }, (_, i) => delayed(inc)(i));
    const sizes = new BatchSizes();
    const auto = sizes.of(tasks[0]!.shipped.wire.fn.id);
    auto.record(1, 5); // measured ideal: 80 tasks a batch
    const batches = drain(new BatchSource(tasks.values(), { nJobs: 2, batchSize: 'auto', sizes }));
    expect(sizesOf(batches).slice(0, 4)).toEqual([auto.size, auto.size, auto.size, auto.size]);
    expect(sizesOf(batches).reduce((a, b) => a + b, 0)).toBe(5000);
  });
});

describe('BatchSource on a backend whose batches cost a round trip (batchLatencyMs)', () => {
  /** Sizes kept for `inc` as a run of trivial tasks leaves them: measured at a microsecond for 10,000 tasks. */
  function trivialSizes(tasks: readonly ReturnType<ReturnType<typeof delayed>>[], latency: number): BatchSizes {
    const sizes = new BatchSizes();
    const auto = sizes.of(tasks[0]!.shipped.wire.fn.id);
    auto.fit(64, latency);
    auto.record(1, 0.01);
    auto.record(auto.size, 0.01 * auto.size * 0.0001);
    return sizes;
  }

  test('trivial tasks of an array go in one batch per job, not 8 per job: each batch would cost a round trip', () => {
    const tasks = Array.from({ length: 100_000 }, (_, i) => delayed(inc)(i));
    const batches = drain(new BatchSource(tasks, { nJobs: 2, batchSize: 'auto', sizes: trivialSizes(tasks, 5), batchLatencyMs: 5 }));
    expect(sizesOf(batches)).toEqual([50_000, 50_000]);
    // Measured at 1.7 µs a task, 30,000 make ten round trips: as many batches for each job still.
    const sizes = new BatchSizes();
    const auto = sizes.of(tasks[0]!.shipped.wire.fn.id);
    auto.fit(64, 5);
    auto.record(1, 0.0017);
    expect(auto.size).toBe(minBatchTasks(5, undefined));
    auto.record(auto.size, auto.size * 0.0017);
    expect(minBatchTasks(5, auto.taskMs)).toBe(29_412);
    const slower = drain(new BatchSource(tasks, { nJobs: 2, batchSize: 'auto', sizes, batchLatencyMs: 5 }));
    expect(sizesOf(slower)).toEqual([50_000, 50_000]);
    // On threads (no latency), as before: at least 8 batches per job.
    const threads = drain(new BatchSource(tasks, { nJobs: 2, batchSize: 'auto', sizes: trivialSizes(tasks, 0) }));
    expect(sizesOf(threads)).toEqual(Array(16).fill(6250));
  });

  test('the end of the input is not cut into ten small batches per job when its tasks take microseconds', () => {
    // An iterator: its length is unknown, so only its end is split.
    const tasks = Array.from({ length: 30_000 }, (_, i) => delayed(inc)(i));
    const batches = drain(new BatchSource(tasks.values(), { nJobs: 2, batchSize: 'auto', sizes: trivialSizes(tasks, 5), batchLatencyMs: 5 }));
    expect(sizesOf(batches)).toEqual([15_000, 15_000]);
    const threads = drain(new BatchSource(tasks.values(), { nJobs: 2, batchSize: 'auto', sizes: trivialSizes(tasks, 0) }));
    // On threads: not ten batches per job either (1,500 tasks, 1.5 ms at the microsecond a
    // task counts for), but none under MIN_END_BATCH_MS of tasks, as many for every job.
    expect(minEndBatchTasks(0.0001)).toBe(MIN_END_BATCH_MS * 1000);
    expect(sizesOf(threads)).toEqual([...Array(13).fill(2143), 30_000 - 13 * 2143]);
  });

  test('on threads, the end of the input is cut in ten batches per job when each still takes MIN_END_BATCH_MS', () => {
    const tasks = Array.from({ length: 4000 }, (_, i) => delayed(inc)(i));
    const sizes = new BatchSizes();
    const auto = sizes.of(tasks[0]!.shipped.wire.fn.id);
    auto.record(1, 0.5); // half a millisecond a task: 800 a batch next
    expect(minEndBatchTasks(auto.taskMs)).toBe(4);
    // Two slices of a batch per job, then the 800 left, where the input ends: ten batches per job.
    expect(sizesOf(drain(new BatchSource(tasks.values(), { nJobs: 2, batchSize: 'auto', sizes })))).toEqual([...Array(4).fill(800), ...Array(20).fill(40)]);
  });

  test('the end of the input goes in as many batches for every job, each worth ten round trips', () => {
    const tasks = Array.from({ length: 16 }, (_, i) => delayed(inc)(i));
    const run = (records: [number, number][], latency?: number) => {
      const sizes = new BatchSizes();
      const auto = sizes.of(tasks[0]!.shipped.wire.fn.id);
      for (const [size, ms] of records) auto.record(size, ms);
      return sizesOf(drain(new BatchSource(tasks, { nJobs: 2, batchSize: 'auto', sizes, batchLatencyMs: latency })));
    };
    // 8.4 ms a task (46 a batch next: the input ends inside the first slice): 6 tasks make ten
    // round trips, and batches of 6, 6 and 4 would leave one job 10 tasks and the other 6: one batch of 8 each.
    expect(run([[1, 8.4]], 5)).toEqual([8, 8]);
    // On threads: ten batches per job at the end (here of one task).
    expect(run([[1, 8.4]])).toEqual(Array(16).fill(1));
    // 35 ms a task: 2 tasks make ten round trips; four batches per job.
    expect(run([[1, 5], [80, 80 * 35]], 5)).toEqual(Array(8).fill(2));
  });

  test('slow tasks are batched as on threads: a round trip is small against them', () => {
    const tasks = Array.from({ length: 64 }, (_, i) => delayed(inc)(i));
    const make = (latency: number | undefined) => {
      const sizes = new BatchSizes();
      const auto = sizes.of(tasks[0]!.shipped.wire.fn.id);
      auto.record(1, 40); // 40 ms a task: 2 tasks a batch next
      return drain(new BatchSource(tasks, { nJobs: 2, batchSize: 'auto', sizes, batchLatencyMs: latency }));
    };
    expect(sizesOf(make(5))).toEqual(sizesOf(make(undefined)));
    expect(make(5).length).toBeGreaterThan(16);
  });
});
