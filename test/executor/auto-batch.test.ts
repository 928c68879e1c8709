import { describe, expect, test } from '@jest/globals';
import { delayed } from 'skein';
import {
  AutoBatchSize,
  BatchSizes,
  JUMP_BELOW_MS,
  MAX_AUTO_BATCH,
  MAX_BATCH_BYTES,
  MIN_IDEAL_BATCH_MS,
  splitSize,
  taskBytes,
} from '#src/executor/auto-batch.js';

const id = (x: unknown) => x;

describe('AutoBatchSize', () => {
  test('grows fast tasks at most twofold per batch, and only from batches of its current size', () => {
    const auto = new AutoBatchSize();
    expect(auto.size).toBe(1);
    auto.record(1, 0.01);
    expect(auto.size).toBe(2);
    auto.record(1, 0.01); // stale: a batch of an older size
    expect(auto.size).toBe(2);
    auto.record(2, 0.01);
    expect(auto.size).toBe(4);
  });

  test('settles once a batch takes about the ideal time, and shrinks batches that run far over', () => {
    const auto = new AutoBatchSize();
    for (let i = 0; i < 6; i++) auto.record(auto.size, 0.01);
    const grown = auto.size;
    expect(grown).toBe(64);
    auto.record(grown, MIN_IDEAL_BATCH_MS * 1.5);
    expect(auto.size).toBe(grown);
    auto.record(grown, 20_000);
    expect(auto.size).toBeLessThan(grown);
    expect(auto.size).toBeGreaterThanOrEqual(1);
  });

  test('never passes the count cap, nor the byte budget that fit() sets', () => {
    const auto = new AutoBatchSize();
    for (let i = 0; i < 40; i++) auto.record(auto.size, 0.001);
    expect(auto.size).toBe(MAX_AUTO_BATCH);
    auto.fit(MAX_BATCH_BYTES / 10);
    expect(auto.size).toBe(10);
    for (let i = 0; i < 10; i++) auto.record(auto.size, 0.001);
    expect(auto.size).toBe(10);
  });
});

describe('AutoBatchSize with jump (loops)', () => {
  test('a batch far under the ideal duration sets the size to its measured ideal at once', () => {
    const auto = new AutoBatchSize({ jump: true });
    auto.record(1, 5);
    expect(auto.size).toBe(Math.floor(MIN_IDEAL_BATCH_MS / 5) * 2);
    const trivial = new AutoBatchSize({ jump: true });
    trivial.record(1, 0.001);
    expect(trivial.size).toBe(MAX_AUTO_BATCH);
  });

  test('near the ideal duration it grows by doubling at most, as without jump', () => {
    const auto = new AutoBatchSize({ jump: true });
    auto.record(1, JUMP_BELOW_MS * 2);
    expect(auto.size).toBe(2);
  });
});

describe('BatchSizes', () => {
  test('one state per function, kept until it falls out of the cache', () => {
    const sizes = new BatchSizes();
    const a = sizes.of('a');
    a.record(1, 0.001);
    expect(sizes.of('a')).toBe(a);
    expect(sizes.of('a').size).toBe(MAX_AUTO_BATCH);
    expect(sizes.of('b').size).toBe(1);
    for (let i = 0; i < 100; i++) sizes.of(`f${i}`);
    expect(sizes.of('a').size).toBe(1);
  });
});

describe('splitSize and taskBytes', () => {
  test('a slice splits one batch per job, ten per job at the end of the input', () => {
    expect(splitSize(64, 4, false)).toBe(16);
    expect(splitSize(400, 4, true)).toBe(10);
    expect(splitSize(3, 4, true)).toBe(1);
  });

  test('counts a task by its arguments, an object shared with the last task once, an offloaded one as a reference', () => {
    const big = new Float64Array(10_000);
    const small = taskBytes([delayed(id)(1)], undefined);
    expect(taskBytes([delayed(id)(big)], undefined)).toBeGreaterThanOrEqual(80_000);
    expect(taskBytes([delayed(id)(big), delayed(id)(big)], undefined)).toBeLessThan(1000);
    expect(taskBytes([delayed(id)(big)], 1000)).toBeLessThan(1000);
    expect(small).toBeLessThan(1000);
  });
});
