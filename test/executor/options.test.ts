import { describe, expect, test } from '@jest/globals';
import os from 'node:os';
import { Parallel, parallelConfig } from 'skein';
import { resolveNJobs, resolveOptions } from '#src/executor/options.js';

describe('nJobs (joblib semantics)', () => {
  test('negative counts are relative to the cores, never below one', () => {
    expect(resolveNJobs(-1, 8)).toBe(8);
    expect(resolveNJobs(-2, 8)).toBe(7);
    expect(resolveNJobs(-20, 8)).toBe(1);
    expect(resolveNJobs(3, 8)).toBe(3);
  });

  test('default is every core', () => {
    expect(new Parallel().nJobs).toBe(os.availableParallelism());
  });

  test('zero, fractions and non-numbers are refused with a RangeError that says what was given', () => {
    expect(() => new Parallel({ nJobs: 0 })).toThrow(new RangeError('Expected `nJobs` to be a non-zero integer, got `0` (number)'));
    expect(() => new Parallel({ nJobs: 1.5 })).toThrow(RangeError);
    expect(() => new Parallel({ nJobs: '2' as unknown as number })).toThrow(/got `"2"` \(string\)/);
  });

  test('nJobs: 1 runs inline, on the sequential backend', () => {
    expect(new Parallel({ nJobs: 1 }).backendName).toBe('sequential');
    expect(new Parallel({ backend: 'sequential', nJobs: 4 }).nJobs).toBe(1);
  });
});

describe('other options are validated', () => {
  test.each([
    [{ batchSize: 0 }, /batchSize/],
    [{ batchSize: 'big' }, /batchSize/],
    [{ timeout: -1 }, /timeout/],
    [{ preDispatch: 'lots' }, /preDispatch/],
    [{ verbose: -1 }, /verbose/],
    [{ progress: 'yes' }, /progress/],
    [{ errors: 'ignore' }, /errors/],
    [{ backend: 'processes' }, /backend/],
    [{ signal: {} }, /signal/],
  ])('%p', (options, message) => {
    expect(() => new Parallel(options as never)).toThrow(message);
  });

  test('preDispatch accepts numbers and expressions of nJobs', () => {
    expect(resolveOptions({ nJobs: 3, preDispatch: '2*nJobs' }).preDispatch).toBe(6);
    expect(resolveOptions({ nJobs: 3, preDispatch: 'nJobs' }).preDispatch).toBe(3);
    expect(resolveOptions({ nJobs: 3, preDispatch: 5 }).preDispatch).toBe(5);
    expect(resolveOptions({ nJobs: 3, preDispatch: 'all' }).preDispatch).toBe(Number.POSITIVE_INFINITY);
  });

  test("with a backend object, nJobs in preDispatch's expression is the backend's concurrency", () => {
    const backend = { name: 'remote', concurrency: 5, runBatch: () => Promise.reject(new Error('unused')), close: async () => {} };
    expect(resolveOptions({ nJobs: 3, backend, preDispatch: '2*nJobs' }).preDispatch).toBe(10);
    expect(resolveOptions({ nJobs: 3, backend }).preDispatch).toBe(10);
    expect(resolveOptions({ nJobs: 3, backend, preDispatch: 4 }).preDispatch).toBe(4);
  });
});

describe('parallelConfig', () => {
  test('sets defaults for Parallels created inside, across awaits; explicit options win', async () => {
    await parallelConfig({ nJobs: 3, verbose: 2 }, async () => {
      await new Promise((r) => setTimeout(r, 5));
      expect(new Parallel().nJobs).toBe(3);
      expect(new Parallel({ nJobs: 2 }).nJobs).toBe(2);
      expect(resolveOptions({}).verbose).toBe(2);
      await parallelConfig({ nJobs: 5 }, async () => {
        expect(new Parallel().nJobs).toBe(5);
        expect(resolveOptions({}).verbose).toBe(2);
      });
    });
    expect(new Parallel().nJobs).toBe(os.availableParallelism());
  });
});
