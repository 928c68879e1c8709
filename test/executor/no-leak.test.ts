import { describe, expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers.js';

const script = fileURLToPath(new URL('../fixtures/exit-check.mjs', import.meta.url));

describe('no leaked workers: the process exits on its own', () => {
  test.each(['close', 'one-shot', 'one-shot-threads-end', 'error', 'timeout', 'dispose', 'break'])('after %s', async (scenario) => {
    const result = await runNode([script, scenario], 20000);
    expect(result.stderr).toBe('');
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('done');
  });
});

describe('TypeScript task modules', () => {
  test('work without a build step when the caller runs under tsx', async () => {
    const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
    const script = fileURLToPath(new URL('../fixtures/run-ts-task.ts', import.meta.url));
    const result = await runNode([tsx, script], 30000);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual(['A:0cc175', 'B:92eb5f']);
  });
});
