import { afterEach, describe, expect, test } from '@jest/globals';
import { Parallel, delayed } from 'skein';
import { ThreadsBackend } from '#src/backends/threads/backend.js';

// Workers that die as they start: a heap limit of 1 MB is too little for a
// worker to load anything. `Parallel` refuses such limits up front (see
// options.test.ts), so the real threads backend is built here directly.
const backends: ThreadsBackend[] = [];
function starved(nJobs = 2): ThreadsBackend {
  const backend = new ThreadsBackend({ nJobs, resourceLimits: { maxOldGenerationSizeMb: 1 } });
  backends.push(backend);
  return backend;
}

afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()));
});

const square = (x: number) => x * x;
const tasks = (n: number) => Array.from({ length: n }, (_, i) => delayed(square)(i));
const START_CODES = ['ERR_SKEIN_WORKER_CRASHED', 'ERR_SKEIN_WORKER_START'];

describe('workers that die at start-up', () => {
  test.each([2, 8])("errors: 'settle' settles with a rejected record for every task (nJobs %i)", async (nJobs) => {
    const par = new Parallel({ backend: starved(nJobs), errors: 'settle' });
    const records = await par.run(tasks(30));
    expect(records).toHaveLength(30);
    for (const record of records) {
      expect(record.status).toBe('rejected');
      expect(START_CODES).toContain((record as PromiseRejectedResult).reason.code);
    }
    // Tasks that never reached a worker say why, naming the limit to raise.
    const start = records.map((r) => (r as PromiseRejectedResult).reason).find((e) => e.code === 'ERR_SKEIN_WORKER_START');
    expect(start.name).toBe('WorkerStartError');
    expect(start.message).toMatch(/No worker could start/);
    expect(start.message).toContain('`resourceLimits` {"maxOldGenerationSizeMb":1}');
    expect(start.cause.code).toBe('ERR_WORKER_OUT_OF_MEMORY');
    await par.close();
  });

  test("errors: 'raise' rejects this run and the next ones on the same Parallel", async () => {
    const par = new Parallel({ backend: starved() });
    const first = (await par.run(tasks(20)).catch((e: unknown) => e)) as { code: string };
    expect(START_CODES).toContain(first.code);
    for (let i = 0; i < 2; i++) {
      const next = (await par.run(tasks(20)).catch((e: unknown) => e)) as { name: string; code: string };
      expect(next.name).toBe('WorkerStartError');
      expect(next.code).toBe('ERR_SKEIN_WORKER_START');
    }
    await par.close();
  });

  test('iter() ends with the error too, run after run', async () => {
    const par = new Parallel({ backend: starved() });
    const drain = async (): Promise<{ seen: unknown[]; error: unknown }> => {
      const seen: unknown[] = [];
      try {
        for await (const value of par.iter(tasks(10))) seen.push(value);
      } catch (error) {
        return { seen, error };
      }
      return { seen, error: undefined };
    };
    const first = await drain();
    expect(first.seen).toEqual([]);
    expect(START_CODES).toContain((first.error as { code: string }).code);
    const second = await drain();
    expect(second.seen).toEqual([]);
    expect((second.error as { code: string }).code).toBe('ERR_SKEIN_WORKER_START');
    await par.close();
  });
});
