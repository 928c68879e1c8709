import { describe, expect, test } from '@jest/globals';
import { delayed } from 'skein';
import { BatchSizes, MAX_AUTO_BATCH } from '#src/executor/auto-batch.js';
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
