import { describe, expect, test } from '@jest/globals';
import { delayed } from 'skein';
import {
  AutoBatchSize,
  BatchSizes,
  JUMP_BELOW_MS,
  LATENCY_FACTOR,
  MAX_AUTO_BATCH,
  MAX_BATCH_BYTES,
  MIN_IDEAL_BATCH_MS,
  MIN_TASK_MS,
  evenSplit,
  minBatchTasks,
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

describe('AutoBatchSize: what later batches learn from', () => {
  test('a smaller batch that ran far under the ideal duration raises the size to its own ideal', () => {
    // A short first run cuts its batches below the size it reached (by the spread, by its end):
    // without this, the next run of the function starts from the size a cold first batch gave.
    const auto = new AutoBatchSize({ jump: true });
    auto.record(1, 10); // a cold first batch: 40 tasks a batch
    expect(auto.size).toBe(40);
    auto.record(20, 0.05);
    expect(auto.size).toBe(MAX_AUTO_BATCH);
    // Only ever up: a slow smaller batch is stale as before.
    auto.record(20, 5000);
    expect(auto.size).toBe(MAX_AUTO_BATCH);
    const plain = new AutoBatchSize();
    plain.record(1, 0.01);
    plain.record(1, 0.01);
    expect(plain.size).toBe(2);
  });

  test('the time of a task weighs each batch by its size', () => {
    const auto = new AutoBatchSize({ jump: true });
    expect(auto.taskMs).toBeUndefined();
    auto.record(1, 8); // compiling the function, on a cold worker
    expect(auto.taskMs).toBe(8);
    auto.record(10_000, 10);
    expect(auto.taskMs).toBeLessThan(0.002);
  });
});

describe('AutoBatchSize on a backend whose batches cost a round trip', () => {
  test('minBatchTasks: tasks that take LATENCY_FACTOR round trips; one without latency', () => {
    expect(minBatchTasks(0, undefined)).toBe(1);
    expect(minBatchTasks(0, 0.000_01)).toBe(1);
    expect(minBatchTasks(5, 1)).toBe(LATENCY_FACTOR * 5);
    expect(minBatchTasks(5, 100)).toBe(1);
    // A trivial task still costs the run about MIN_TASK_MS.
    expect(minBatchTasks(5, 0)).toBe(Math.ceil((LATENCY_FACTOR * 5) / MIN_TASK_MS));
    expect(minBatchTasks(5, undefined)).toBe(minBatchTasks(5, 0));
  });

  test('fit() with latency raises the count cap for trivial tasks, within the byte budget', () => {
    const auto = new AutoBatchSize({ jump: true });
    auto.fit(64, 5);
    auto.record(1, 0.001);
    expect(auto.size).toBe(minBatchTasks(5, undefined));
    expect(auto.size).toBeGreaterThan(MAX_AUTO_BATCH);
    auto.fit(MAX_BATCH_BYTES / 100, 5);
    expect(auto.size).toBe(100);
    // Back on threads: the count cap again.
    auto.fit(64, 0);
    auto.record(100, 0.001);
    expect(auto.size).toBe(MAX_AUTO_BATCH);
  });

  test('fit() with a long round trip makes batches longer: the ideal duration is LATENCY_FACTOR round trips', () => {
    const latency = 100; // ideal batch: 1 s
    const auto = new AutoBatchSize({ jump: true });
    auto.fit(64, latency);
    auto.record(1, 150); // not far enough under 1 s to jump: doubles
    expect(auto.size).toBe(2);
    auto.record(2, 90); // jumps: 90 ms is under a tenth of 1 s
    expect(auto.size).toBe(Math.floor((2 * LATENCY_FACTOR * latency) / 90) * 2);
    const threads = new AutoBatchSize({ jump: true });
    threads.fit(64, 0);
    threads.record(1, 150);
    threads.record(2, 90); // past a tenth of the 200 ms ideal: doubles
    expect(threads.size).toBe(4);
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

describe('evenSplit', () => {
  test('as many batches for every job, none under the least size, one per job when that is too many', () => {
    expect(evenSplit(16, 2, 6)).toBe(8);
    expect(evenSplit(16, 2, 2)).toBe(2);
    expect(evenSplit(100_000, 2, 30_000)).toBe(50_000);
    expect(evenSplit(100_000, 2, 20_000)).toBe(25_000);
    expect(evenSplit(3, 4, 100)).toBe(1);
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
