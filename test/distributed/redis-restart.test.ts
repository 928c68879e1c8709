import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Parallel, delayed, task } from 'skein';
import { bullmq } from 'skein/distributed';
import { startWorker, type WorkerProcess } from './workers.js';

// These tests stop and restart Redis, so they use servers of their own, not the run's shared one.
const tasks = new URL('./fixtures/tasks.mjs', import.meta.url).href;
const busy = task<(x: number, ms: number, dir?: string) => { x: number; pid: number }>(tasks, 'busy');
const dirs: string[] = [];
const servers: ChildProcess[] = [];
const workers: WorkerProcess[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skein-dist-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await Promise.all(servers.map(stopServer));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startServer(port: number): Promise<ChildProcess> {
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tempDir()], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d) => (out += d) && out.includes('Ready to accept connections') && resolve());
    server.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
  });
  return server;
}

function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  server.kill('SIGKILL');
  return exited;
}

async function until(check: () => boolean, what: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('Redis going away mid-run never leaves the run hanging', () => {
  test('Redis restarted without persistence: the run fails with QueueLostError', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const first = await startServer(port);
    workers.push(await startWorker(['--redis', url, '--queue', 'q', '--concurrency', '1']));
    await using backend = bullmq({ connection: url, queue: 'q', reconnectGrace: 60_000 });
    await using par = new Parallel({ backend, batchSize: 1 });
    const dir = tempDir();
    const running = par.run([delayed(busy)(0, 3000, dir)]);
    await until(() => readdirSync(dir).length === 1, 'the task to start');
    await stopServer(first);
    await startServer(port);
    await expect(running).rejects.toMatchObject({ name: 'QueueLostError', code: 'ERR_SKEIN_QUEUE_LOST', message: expect.stringContaining('no longer has its job') });
  });

  test('Redis gone for longer than reconnectGrace: the run fails with QueueLostError', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const server = await startServer(port);
    workers.push(await startWorker(['--redis', url, '--queue', 'q', '--concurrency', '1']));
    await using backend = bullmq({ connection: url, queue: 'q', reconnectGrace: 500 });
    await using par = new Parallel({ backend, batchSize: 1 });
    const dir = tempDir();
    const running = par.run([delayed(busy)(0, 3000, dir)]);
    await until(() => readdirSync(dir).length === 1, 'the task to start');
    await stopServer(server);
    await expect(running).rejects.toMatchObject({ name: 'QueueLostError', message: expect.stringContaining('unreachable for 500 ms') });
  });
});
