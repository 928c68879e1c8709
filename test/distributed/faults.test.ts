import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parallel, delayed, task } from 'skein';
import { bullmq } from 'skein/distributed';
import { client, keysMatching, redisUrl, suitePrefix } from './redis.js';
import { startWorker, type WorkerProcess } from './workers.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url).href;
const busy = task<(x: number, ms: number, dir?: string) => { x: number; pid: number }>(tasks, 'busy');
const prefix = suitePrefix('faults');
const redis = client();
const dirs: string[] = [];
const started: WorkerProcess[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skein-dist-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(started.map((w) => w.stop('SIGKILL')));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await redis.quit();
});

// Short locks so a dead worker's job is found stalled within a second.
async function workers(queue: string, n: number): Promise<WorkerProcess[]> {
  const list = await Promise.all(
    Array.from({ length: n }, () =>
      startWorker(['--redis', redisUrl(), '--queue', queue, '--prefix', prefix, '--concurrency', '1', '--lock-duration', '1000', '--stalled-interval', '500']),
    ),
  );
  started.push(...list);
  return list;
}

/** `<task>-<pid>` for every start of a task noted in `dir` by the `busy` fixture. */
function starts(dir: string): string[] {
  return readdirSync(dir)
    .map((f) => f.split('-').slice(0, 2).join('-'))
    .sort();
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('faults with real worker processes', () => {
  test('a worker SIGKILLed mid-job: another worker takes the job over and every result reaches the caller exactly once', async () => {
    const queue = 'kill';
    const [a, b] = await workers(queue, 2);
    const deliveries = new Map<number, number>();
    await using backend = bullmq({
      connection: redisUrl(),
      queue,
      prefix,
      onBatchDone: ({ firstIndex }) => deliveries.set(firstIndex, (deliveries.get(firstIndex) ?? 0) + 1),
    });
    await using par = new Parallel({ backend, batchSize: 1 });
    const dir = tempDir();
    const running = par.run([0, 1, 2, 3].map((x) => delayed(busy)(x, 1200, dir)));
    await until(() => starts(dir).some((s) => s.endsWith(`-${a!.pid}`)), 'worker A to start a task');
    const killed = starts(dir).find((s) => s.endsWith(`-${a!.pid}`))!.split('-')[0]!;
    a!.child.kill('SIGKILL');
    const out = await running;
    expect(out.map((r) => r.x)).toEqual([0, 1, 2, 3]);
    // The task A was running when it died ran again on B, and its result is B's.
    expect(out[Number(killed)]!.pid).toBe(b!.pid);
    expect(starts(dir)).toContain(`${killed}-${b!.pid}`);
    expect([...deliveries.entries()].sort((x, y) => x[0] - y[0])).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    expect(await keysMatching(redis, `${prefix}:${queue}:skein-*`)).toEqual([]);
  });

  test('the caller dying leaves no jobs behind, and its store entries and frames in Redis go with their TTL', async () => {
    const queue = 'orphan';
    await workers(queue, 1);
    const dir = tempDir();
    const fixture = fileURLToPath(new URL('./fixtures/caller-dies.mjs', import.meta.url));
    const caller = spawn(process.execPath, [fixture, redisUrl(), prefix, queue, tasks, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      caller.stdout.on('data', (d: Buffer) => d.toString().includes('submitted') && resolve());
      caller.once('exit', (code) => reject(new Error(`the caller exited (${code}) before submitting`)));
    });
    // The offloaded argument: a header and a chunk under the run's store namespace.
    let frames: string[] = [];
    await until(async () => (frames = await keysMatching(redis, `${prefix}:${queue}:skein:*`)).length >= 2, 'the large argument to be stored');
    const jobs = async (): Promise<string[]> => (await keysMatching(redis, `${prefix}:${queue}:skein-*`)).filter((k) => !/:(lock|logs)$/.test(k));
    await until(async () => (await jobs()).length === 2, 'both jobs to be in the queue');
    caller.kill('SIGKILL');
    await until(async () => (await keysMatching(redis, `${prefix}:${queue}:skein-*`)).length === 0, 'the orphaned jobs to be run and removed');
    await until(async () => (await redis.exists(...frames)) === 0, 'the frames to expire');
    expect(starts(dir)).toHaveLength(2);
  });
});
