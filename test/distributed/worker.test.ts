import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parallel, delayed, task } from 'skein';
import { bullmq, runWorker } from 'skein/distributed';
import { runNode } from '../helpers.js';
import { client, keysMatching, redisUrl, suitePrefix } from './redis.js';
import { BIN, startWorker } from './workers.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url).href;
const busy = task<(x: number, ms: number, dir?: string) => { x: number; pid: number }>(tasks, 'busy');
const prefix = suitePrefix('worker');
const redis = client();
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skein-dist-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await redis.quit();
});

/** `<task>-<pid>` for every start of a task noted in `dir` by the `busy` fixture. */
function starts(dir: string): string[] {
  return readdirSync(dir)
    .map((f) => f.split('-').slice(0, 2).join('-'))
    .sort();
}

async function until(check: () => boolean, what: string, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('runWorker', () => {
  test('bad options say what was expected', async () => {
    await expect(runWorker({ connection: redisUrl(), queue: '' })).rejects.toThrow(/Expected `queue` to be a non-empty string/);
    await expect(runWorker({ connection: redisUrl(), queue: 'q', concurrency: 0 })).rejects.toThrow(/Expected `concurrency` to be a positive integer, got `0` \(number\)/);
    await expect(runWorker({ connection: redisUrl(), queue: 'q', cacheBytes: -1 })).rejects.toThrow(/Expected `cacheBytes` to be a non-negative integer, got `-1` \(number\)/);
  });

  test('after a run, closing the worker and the backend lets the process exit by itself', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/exit-after-run.mjs', import.meta.url));
    const result = await runNode([fixture, redisUrl(), `${prefix}-exit`], 30000);
    expect(result).toMatchObject({ code: 0, timedOut: false, stderr: '' });
    expect(JSON.parse(result.stdout)).toEqual([3, 6, 9]);
  });

  test('a CPU-bound task longer than the job lock runs once: the event loop that renews the lock stays free', async () => {
    const queue = 'long';
    const worker = await runWorker({ connection: redisUrl(), queue, prefix, concurrency: 1, lockDuration: 500, stalledInterval: 250 });
    const stalled: string[] = [];
    worker.worker.on('stalled', (id) => stalled.push(id));
    // A second worker whose stalled-job checker would take the job over if the first one's lock lapsed.
    const other = await startWorker(['--redis', redisUrl(), '--queue', queue, '--prefix', prefix, '--concurrency', '1', '--lock-duration', '500', '--stalled-interval', '250']);
    try {
      await using backend = bullmq({ connection: redisUrl(), queue, prefix });
      await using par = new Parallel({ backend, batchSize: 1 });
      const dir = tempDir();
      const out = await par.run([delayed(busy)(0, 2000, dir), delayed(busy)(1, 2000, dir)]);
      expect(out.map((r) => r.x)).toEqual([0, 1]);
      expect(starts(dir)).toEqual([`0-${out[0]!.pid}`, `1-${out[1]!.pid}`]);
      expect(stalled).toEqual([]);
    } finally {
      await worker.close();
      expect(await other.stop()).toBe(0);
    }
  });
});

describe('skein-worker', () => {
  test('missing or bad arguments exit 2 with usage', async () => {
    const none = await runNode([BIN]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('`--redis URL` is required');
    expect(none.stderr).toContain('Usage: skein-worker --redis URL --queue NAME');
    const bad = await runNode([BIN, '--redis', redisUrl(), '--queue', 'q', '--concurrency', 'two']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Expected `--concurrency` to be a positive integer, got `two`');
  });

  test('SIGTERM: stops taking jobs, finishes the running batch, hands in its result, closes and exits 0', async () => {
    const queue = 'graceful';
    const worker = await startWorker(['--redis', redisUrl(), '--queue', queue, '--prefix', prefix, '--concurrency', '1']);
    await using backend = bullmq({ connection: redisUrl(), queue, prefix });
    await using par = new Parallel({ backend, batchSize: 1 });
    const dir = tempDir();
    const running = par.run([delayed(busy)(0, 1500, dir), delayed(busy)(1, 10, dir)]);
    await until(() => readdirSync(dir).length > 0, 'the first task to start');
    const exited = worker.stop('SIGTERM');
    // Not taking the second job: it is still waiting when the worker has gone.
    expect(await exited).toBe(0);
    expect(worker.stderr()).toContain('SIGTERM, finishing running batches');
    expect(starts(dir)).toEqual([`0-${worker.pid}`]);
    expect(await redis.llen(`${prefix}:${queue}:wait`)).toBe(1);
    // A new worker takes the rest; the run completes with both results.
    const next = await startWorker(['--redis', redisUrl(), '--queue', queue, '--prefix', prefix, '--concurrency', '1']);
    try {
      const out = await running;
      expect(out.map((r) => [r.x, r.pid])).toEqual([
        [0, worker.pid],
        [1, next.pid],
      ]);
    } finally {
      expect(await next.stop()).toBe(0);
    }
    expect(await keysMatching(redis, `${prefix}:${queue}:skein-*`)).toEqual([]);
  });
});
