import { describe, expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { Parallel } from 'skein';
import { runNode } from '../helpers.js';

const script = fileURLToPath(new URL('../fixtures/worker-options.mjs', import.meta.url));
const run = (options: object) => runNode([script, JSON.stringify(options)], 20000);

describe('timeout', () => {
  test('above 2^31-1 ms (what Node timers hold) is refused', () => {
    expect(() => new Parallel({ nJobs: 2, timeout: 2 ** 31 })).toThrow(
      new RangeError('Expected `timeout` to be a positive number of milliseconds up to 2147483647 (about 24.8 days), got `2147483648` (number)'),
    );
    expect(() => new Parallel({ nJobs: 2, timeout: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(new Parallel({ nJobs: 2, timeout: 2 ** 31 - 1 }).nJobs).toBe(2);
  });
});

describe('resourceLimits', () => {
  test.each([
    [{ maxOldGenerationSizeMb: 1 }, 'Expected `resourceLimits.maxOldGenerationSizeMb` to be a number of MB >= 16'],
    [{ maxOldGenerationSizeMb: 15.9 }, 'Expected `resourceLimits.maxOldGenerationSizeMb` to be a number of MB >= 16'],
    [{ stackSizeMb: 0.01 }, 'Expected `resourceLimits.stackSizeMb` to be a number of MB >= 1'],
    [{ stackSizeMb: Number.POSITIVE_INFINITY }, 'Expected `resourceLimits.stackSizeMb` to be a number of MB >= 1'],
    [{ codeRangeSizeMb: 1e8 }, 'Expected `resourceLimits.codeRangeSizeMb` to be a number of MB > 0 and <= 4096'],
    [{ codeRangeSizeMb: 0 }, 'Expected `resourceLimits.codeRangeSizeMb` to be a number of MB > 0 and <= 4096'],
    [{ maxYoungGenerationSizeMb: -1 }, 'Expected `resourceLimits.maxYoungGenerationSizeMb` to be a positive number of MB'],
    [{ maxYoungGenerationSizeMb: Number.NaN }, 'Expected `resourceLimits.maxYoungGenerationSizeMb` to be a positive number of MB'],
    [{ maxOldGenerationSizeMb: '64' }, 'got `"64"` (string)'],
  ])('%p is refused with a RangeError', (limits, message) => {
    expect(() => new Parallel({ nJobs: 2, resourceLimits: limits as never })).toThrow(RangeError);
    expect(() => new Parallel({ nJobs: 2, resourceLimits: limits as never })).toThrow(message);
  });

  test('unknown fields and non-objects are refused with a TypeError', () => {
    expect(() => new Parallel({ nJobs: 2, resourceLimits: { maxOldGenSizeMb: 64 } as never })).toThrow(
      new TypeError('Unknown option `resourceLimits.maxOldGenSizeMb`: did you mean `resourceLimits.maxOldGenerationSizeMb`?'),
    );
    expect(() => new Parallel({ nJobs: 2, resourceLimits: 64 as never })).toThrow(TypeError);
  });

  // Without the check, a worker this small kills the whole process as it starts (exit code 6).
  test('a stack too small for a worker is refused before any worker starts, and the process lives on', async () => {
    const result = await run({ resourceLimits: { stackSizeMb: 0.01 } });
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({
      name: 'RangeError',
      message: expect.stringContaining('Expected `resourceLimits.stackSizeMb` to be a number of MB >= 1'),
    });
  });

  test('workers at the smallest accepted limits start and run tasks', async () => {
    const result = await run({ resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 0.01, codeRangeSizeMb: 0.01, stackSizeMb: 1 } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ out: [1, 4, 9, 16] });
  });
});
