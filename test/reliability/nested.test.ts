import { describe, expect, test } from '@jest/globals';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Parallel, delayed, task } from 'skein';
import { runNode } from '../helpers.js';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);

describe('a Parallel inside a skein worker runs inline', () => {
  test('a task that runs tasks gets their results from the sequential backend, and starts no worker', async () => {
    const nested = task<(n: number) => { out: number[]; backend: string; nJobs: number; threadId: number }>(fixture('nested-tasks.mjs'), 'nested');
    const nextThreadId = task<() => number>(fixture('nested-tasks.mjs'), 'nextThreadId');
    const par = new Parallel({ nJobs: 2, batchSize: 1 });
    const before = (await par.run([delayed(nextThreadId)()]))[0]!;
    const results = await par.run([5, 6, 7].map((n) => delayed(nested)(n)));
    for (const [i, r] of results.entries()) {
      expect(r.out).toEqual(Array.from({ length: 5 + i }, (_, k) => k * k));
      expect(r.backend).toBe('sequential');
      expect(r.nJobs).toBe(1);
      expect(r.threadId).not.toBe(0);
    }
    // Only the probe worker of nextThreadId itself started since.
    expect((await par.run([delayed(nextThreadId)()]))[0]).toBe(before + 1);
    await par.close();
  });

  test("a worker thread of the user's own runs a real pool", async () => {
    const worker = new Worker(fixture('user-worker.mjs'));
    const [message] = (await once(worker, 'message')) as [unknown];
    expect(message).toEqual({ out: [1, 4, 9], backend: 'threads', nJobs: 2 });
    await once(worker, 'exit');
  });
});

// Such a script used to start workers without end: each worker imported it,
// which started a pool, whose workers imported it...
describe('a script that runs its own exported task at top level', () => {
  test('finishes with the right results, starting only its own workers', async () => {
    const result = await runNode([fileURLToPath(fixture('parallel-at-import.mjs'))], 30000);
    expect(result.timedOut).toBe(false);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ out: [1, 4, 9, 16, 25, 36], workersStarted: 2, threadId: 0 });
  });

  test('with a top-level await, fails at once with a TaskModuleError that says how to guard it', async () => {
    const result = await runNode([fileURLToPath(fixture('await-parallel-at-import.mjs'))], 30000);
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('TaskModuleError');
    expect(result.stderr).toContain('runs tasks from itself while it is being imported');
    expect(result.stderr).toContain('if (isMainThread)');
  });
});
