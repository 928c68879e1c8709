import { describe, expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers.js';

const script = fileURLToPath(new URL('../fixtures/memory-sequence.mjs', import.meta.url));

interface Sequence {
  readonly sizes: number[];
  /** RSS above the baseline after each run, once the caller dropped its array and collected. */
  readonly after: number[];
  readonly closed: number;
  /** Peak RSS of the whole process above the baseline. */
  readonly maxRss: number;
}

describe('memory does not pile up run after run', () => {
  test('new large arrays of growing sizes: what stays allocated is about one array, not the sum of them', async () => {
    // 8 runs, 64 MB to 224 MB, in a process of its own: RSS is the subject.
    const result = await runNode(['--expose-gc', script, '64,224,8'], 120_000);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { sizes, after, closed, maxRss } = JSON.parse(result.stdout) as Sequence;
    const largest = Math.max(...sizes);
    const total = sizes.reduce((a, b) => a + b, 0);
    // Before: the pool kept up to 1 GiB of earlier runs' buffers and workers
    // kept theirs until their next batch: 5x the largest array after the 8th run.
    expect(Math.max(...after)).toBeLessThan(2.5 * largest);
    // Even at its peak, within a run, the process holds less than the arrays added up.
    expect(maxRss).toBeLessThan(total);
    expect(closed).toBeLessThan(0.25 * largest);
  }, 150_000);
});

describe('a long run does not hold what it is done with', () => {
  test('iter() over a long generator lets the delayed calls of tasks it has yielded go', async () => {
    // Before: every batch's task list stayed reachable until the run ended (for
    // errors escaping its tasks later), so memory grew with the length of the run.
    const fixture = fileURLToPath(new URL('../fixtures/iter-retention.mjs', import.meta.url));
    const result = await runNode(['--expose-gc', fixture, '200000'], 60_000);
    expect(result.stderr).toBe('');
    const { watched, alive, done } = JSON.parse(result.stdout) as { watched: number; alive: number; done: number };
    expect(done).toBe(200_000);
    expect(watched).toBe(1000);
    expect(alive).toBe(0);
  }, 70_000);
});
