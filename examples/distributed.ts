/**
 * Scale-out in one file: `npm run build && tsx examples/distributed.ts`.
 * Starts a throwaway redis-server (or uses REDIS_URL), two `skein-worker`
 * processes standing in for two machines, then runs a CPU-bound job and a
 * large-argument job through the `bullmq` backend, printing which process ran
 * what and the speedup over a sequential loop in this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parallel, delayed } from 'skein';
import { bullmq, type BatchDoneInfo } from 'skein/distributed';
import { ensureRedisServer } from '../scripts/redis-server.mjs';

function countPrimes(limit: number): number {
  let count = 0;
  for (let n = 2; n < limit; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once the child prints `text` on stdout. */
function waitFor(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => (out += d) && out.includes(text) && resolve());
    child.once('exit', (code) => reject(new Error(`${child.spawnargs.join(' ')} exited with ${code}`)));
  });
}

const children: ChildProcess[] = [];
let redisUrl = process.env.REDIS_URL;
let redisDir: string | undefined;
if (redisUrl === undefined) {
  redisDir = mkdtempSync(join(tmpdir(), 'skein-example-redis-'));
  const port = await freePort();
  const server = spawn(ensureRedisServer(), ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(server);
  await waitFor(server, 'Ready to accept connections');
  redisUrl = `redis://127.0.0.1:${port}`;
  console.log(`started redis-server on ${redisUrl}`);
}

// On other machines this is: npx skein-worker --redis redis://<this host>:6379 --queue demo
const bin = fileURLToPath(new URL('../dist/src/distributed/bin.js', import.meta.url));
const workers = [1, 2].map(() => spawn(process.execPath, [bin, '--redis', redisUrl!, '--queue', 'demo', '--concurrency', '1'], { stdio: ['ignore', 'pipe', 'inherit'] }));
children.push(...workers);
await Promise.all(workers.map((w) => waitFor(w, ' ready: ')));
console.log(`two skein-worker processes: ${workers.map((w) => w.pid).join(', ')}`);

try {
  const ranOn = new Map<number, number>();
  const fetchedBy = new Map<number, number>();
  const onBatchDone = ({ size, worker, fetchedBytes }: BatchDoneInfo): void => {
    ranOn.set(worker.pid, (ranOn.get(worker.pid) ?? 0) + size);
    fetchedBy.set(worker.pid, (fetchedBy.get(worker.pid) ?? 0) + fetchedBytes);
  };
  await using backend = bullmq({ connection: redisUrl, queue: 'demo', onBatchDone });
  await using par = new Parallel({ backend, batchSize: 1 });

  const limits = Array.from({ length: 12 }, (_, i) => 500_000 + i * 25_000);
  let t0 = performance.now();
  const expected = limits.map(countPrimes);
  const sequential = performance.now() - t0;
  await par.run([delayed(countPrimes)(1000)]); // each worker compiles the function once; keep it out of the timing
  ranOn.clear();
  t0 = performance.now();
  const counts = await par.run(limits.map((n) => delayed(countPrimes)(n)));
  const distributed = performance.now() - t0;
  if (JSON.stringify(counts) !== JSON.stringify(expected)) throw new Error('results differ from the sequential loop');
  console.log(`\nCPU-bound: ${limits.length} prime counts`);
  for (const [pid, n] of ranOn) console.log(`  worker ${pid} ran ${n} tasks`);
  console.log(`  sequential ${sequential.toFixed(0)} ms, 2 worker processes ${distributed.toFixed(0)} ms: ${(sequential / distributed).toFixed(2)}x`);

  // A large argument (above `maxNbytes`, 1 MB by default) goes once into a
  // RedisStore on the backend's connection; jobs carry only its key, and each
  // worker process fetches it once for all its tasks. The run deletes it when it ends.
  const big = new Float64Array(4_000_000).map((_, i) => i % 1000);
  ranOn.clear();
  fetchedBy.clear();
  t0 = performance.now();
  const sums = await par.run(
    Array.from({ length: 4 }, (_, part) =>
      delayed((xs: Float64Array, p: number) => {
        let s = 0;
        for (let i = p; i < xs.length; i += 4) s += xs[i]!;
        return s;
      })(big, part),
    ),
  );
  console.log(`\nlarge argument: ${(big.byteLength / 2 ** 20).toFixed(0)} MB to 4 tasks in ${(performance.now() - t0).toFixed(0)} ms, sum ${sums.reduce((a, b) => a + b, 0)}`);
  for (const [pid, n] of ranOn) console.log(`  worker ${pid} ran ${n} tasks, fetched ${((fetchedBy.get(pid) ?? 0) / 2 ** 20).toFixed(0)} MB of arguments`);
} finally {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
}
