// How a batch frame should ride in a BullMQ job: inline as base64 in the job's
// JSON data, or as raw bytes in Redis with only the key in the job. Round trip
// of one job (add, a worker reads the frame, completes, the caller hears of it)
// per frame size, medians. Needs a redis-server: REDIS_URL, or one is started.
// Run: npm run build && tsx benchmarks/distributed/frames.ts
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { ensureRedisServer } from '../../scripts/redis-server.mjs';

async function startRedis(): Promise<{ url: string; stop(): void }> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop() {} };
  const dir = mkdtempSync(join(tmpdir(), 'skein-bench-redis-'));
  const keeper = spawn(process.execPath, [new URL('../../test/distributed/redis-keeper.mjs', import.meta.url).pathname, ensureRedisServer(), dir], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) => keeper.stdout.on('data', (d: Buffer) => /ready (\d+)/.test(String(d)) && resolve(Number(/ready (\d+)/.exec(String(d))![1]))));
  return { url: `redis://127.0.0.1:${port}`, stop: () => { keeper.stdin.end(); rmSync(dir, { recursive: true, force: true }); } };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const redis = await startRedis();
const connection = { url: redis.url };
const client = new Redis(redis.url);
const queue = new Queue('bench', { connection });
const events = new QueueEvents('bench', { connection });
await events.waitUntilReady();
const worker = new Worker(
  'bench',
  async (job) => {
    const data = job.data as { inline?: string; key?: string };
    const bytes = data.inline !== undefined ? Buffer.from(data.inline, 'base64') : await client.getBuffer(data.key!);
    return bytes!.length;
  },
  { connection, concurrency: 1 },
);
await worker.waitUntilReady();

const rows: string[] = ['| frame | inline base64 ms | key in Redis ms | key / inline |', '| --- | --- | --- | --- |'];
for (const size of [1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 8 << 20]) {
  const frame = Buffer.alloc(size, 7);
  const repeats = size >= 1 << 20 ? 9 : 41;
  const time = async (inline: boolean): Promise<number> => {
    const start = performance.now();
    let data: { inline?: string; key?: string };
    if (inline) data = { inline: frame.toString('base64') };
    else {
      await client.set('bench-frame', frame, 'PX', 60000);
      data = { key: 'bench-frame' };
    }
    const job = await queue.add('b', data);
    await job.waitUntilFinished(events);
    if (!inline) await client.del('bench-frame');
    return performance.now() - start;
  };
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < repeats; i++) {
    a.push(await time(true));
    b.push(await time(false));
  }
  rows.push(`| ${size >= 1 << 20 ? `${size >> 20} MB` : `${size >> 10} KB`} | ${median(a).toFixed(2)} | ${median(b).toFixed(2)} | ${(median(b) / median(a)).toFixed(2)}x |`);
}
console.log(rows.join('\n'));
await worker.close();
await events.close();
await queue.obliterate({ force: true });
await queue.close();
await client.quit();
redis.stop();
