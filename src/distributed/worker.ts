import { availableParallelism, hostname } from 'node:os';
import { UnrecoverableError, Worker, type ConnectionOptions, type Job, type WorkerOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { startPool } from '../backends/threads/pool.js';
import { LRUCache } from 'lru-cache';
import { describeValue } from '../core/errors.js';
import type { BatchResultWire, BatchWire } from '../core/wire.js';
import type { BatchMessage, WorkerSetupWire } from '../backends/threads/protocol.js';
import { CLOCK_CANCEL, CLOCK_OFFSET, CLOCK_SEQ, CLOCK_SLOT_INTS, CLOCK_START } from '../backends/threads/clock.js';
import { encodeError } from '../core/error-wire.js';
import { RedisConnector, redisClient } from '../connectors/redis.js';
import { loadFrame, storeFrame } from './frames.js';
import { ArgumentCache } from './argument-cache.js';
import { JOB_NAME, cancelChannel, type CancelMessage, type JobData, type JobOutcome, type JobReturn, type WorkerIdentity } from './protocol.js';

// The threads backend's worker entry: the same code runs a batch here as on a local pool.
const ENTRY = new URL('../backends/threads/entry.cjs', import.meta.url);

export interface RunWorkerOptions extends Omit<WorkerOptions, 'connection' | 'concurrency' | 'autorun'> {
  /**
   * The Redis the callers' queue is on: a URL or ioredis options. Required.
   * @example
   * await runWorker({ connection: 'redis://10.0.0.5:6379', queue: 'jobs' });
   */
  readonly connection: string | RedisOptions;
  /**
   * The queue name the callers' `bullmq({ queue })` uses. Required.
   * @example
   * await runWorker({ connection, queue: 'jobs' });
   */
  readonly queue: string;
  /**
   * Batches run at once, each on a thread of this process's pool.
   * @default os.availableParallelism()
   * @example
   * await runWorker({ connection, queue: 'jobs', concurrency: 4 });
   */
  readonly concurrency?: number;
  /**
   * Errors of the worker itself (lost connection, a job it could not finish).
   * @default written to stderr
   * @example
   * await runWorker({ connection, queue: 'jobs', onError: (error) => log.error(error) });
   */
  readonly onError?: (error: Error) => void;
  /**
   * Large arguments (a run's offloaded values) are fetched from Redis once per
   * process and kept in shared memory for every batch that uses them, until
   * their run ends; beyond this many bytes the least recently used unused ones go.
   * @default 1073741824 (1 GiB)
   */
  readonly cacheBytes?: number;
}

export interface SkeinWorker {
  /** The BullMQ worker, for its events. */
  readonly worker: Worker;
  /** Stops taking jobs, lets running ones finish, closes the pool and connections. */
  close(): Promise<void>;
}

function checkConcurrency(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`Expected \`concurrency\` to be a positive integer, got ${describeValue(value)}`);
  }
  return value;
}

/**
 * Runs the batches of a `bullmq` backend's queue in this process. The BullMQ
 * processor only hands each batch to a local thread pool: CPU-bound tasks
 * never block the event loop that renews job locks, so long tasks do not
 * "stall" (bull #412/#1982, bullmq #631).
 *
 * @example
 * const w = await runWorker({ connection: 'redis://10.0.0.5:6379', queue: 'jobs', concurrency: 8 });
 * process.once('SIGTERM', () => w.close());
 */
export async function runWorker(options: RunWorkerOptions): Promise<SkeinWorker> {
  const { connection, queue, concurrency: wanted, onError, cacheBytes, ...workerOptions } = options;
  if (typeof queue !== 'string' || queue === '') throw new TypeError(`Expected \`queue\` to be a non-empty string, got ${describeValue(queue)}`);
  const concurrency = checkConcurrency(wanted ?? availableParallelism());
  if (cacheBytes !== undefined && (typeof cacheBytes !== 'number' || !Number.isSafeInteger(cacheBytes) || cacheBytes < 0)) {
    throw new TypeError(`Expected \`cacheBytes\` to be a non-negative integer, got ${describeValue(cacheBytes)}`);
  }
  const report = onError ?? ((error: Error) => process.stderr.write(`skein-worker ${process.pid}: ${error.message}\n`));
  const identity: WorkerIdentity = { host: hostname(), pid: process.pid };

  const clockBuffer = new SharedArrayBuffer(concurrency * CLOCK_SLOT_INTS * 4);
  const origin = Date.now();
  const ticks = new Int32Array(clockBuffer);
  const freeSlots = Array.from({ length: concurrency }, (_, i) => concurrency - 1 - i);
  const pool = startPool({
    filename: ENTRY.href,
    minThreads: concurrency,
    maxThreads: concurrency,
    concurrentTasksPerWorker: 1,
    idleTimeout: Number.POSITIVE_INFINITY,
    workerData: { skeinPoolWorker: true, clock: { buffer: clockBuffer, origin } } satisfies WorkerSetupWire,
  });
  pool.on('error', () => {});

  // Payload and result frames: one client for every run's namespace.
  const client = redisClient(connection);
  client.on('error', () => {});
  const connectors = new LRUCache<string, RedisConnector>({ max: 256 });
  const connectorFor = (ns: string, ttl: number | null, chunkBytes = 64 * 1024 * 1024): RedisConnector => {
    let c = connectors.get(ns);
    if (c === undefined) {
      c = RedisConnector.fromConfig({ type: 'redis', connection: '', namespace: ns, ttl, chunkBytes }, client);
      connectors.set(ns, c);
    }
    return c;
  };
  const argumentCache = new ArgumentCache(cacheBytes ?? 2 ** 30, (config) => connectorFor(config.namespace, config.ttl, config.chunkBytes));

  /** Running batches by job id, for the callers' cancel messages. */
  const running = new Map<string, { readonly slot: number; readonly kill: AbortController }>();
  const subscriber = client.duplicate();
  subscriber.on('error', () => {});
  subscriber.on('message', (_channel: string, text: string) => {
    let message: CancelMessage;
    try {
      message = JSON.parse(text) as CancelMessage;
    } catch {
      return;
    }
    for (const jobId of Array.isArray(message.jobs) ? message.jobs : []) {
      const batch = running.get(String(jobId));
      if (batch === undefined) continue;
      if (message.mode === 'skip') Atomics.store(ticks, batch.slot * CLOCK_SLOT_INTS + CLOCK_CANCEL, 1);
      else batch.kill.abort(new Error('the caller aborted the run'));
    }
  });

  const runOnPool = async (jobId: string, wire: BatchWire, timeout: number | undefined, signal: AbortSignal | undefined): Promise<JobOutcome> => {
    const slot = freeSlots.pop()!;
    const base = slot * CLOCK_SLOT_INTS;
    ticks.fill(0, base, base + CLOCK_SLOT_INTS);
    const kill = new AbortController();
    running.set(jobId, { slot, kill });
    const follow = (): void => kill.abort(signal?.reason);
    signal?.addEventListener('abort', follow, { once: true });
    const current = (): { offset: number; elapsed: number } | undefined => {
      for (;;) {
        const seq = Atomics.load(ticks, base + CLOCK_SEQ);
        if (seq === 0) return undefined;
        const offset = ticks[base + CLOCK_OFFSET]!;
        const start = ticks[base + CLOCK_START]!;
        if (Atomics.load(ticks, base + CLOCK_SEQ) === seq) return { offset, elapsed: Date.now() - origin - start };
      }
    };
    let timedOut: { offset: number } | undefined;
    let timer: NodeJS.Timeout | undefined;
    if (timeout !== undefined) {
      const check = (): void => {
        const now = current();
        if (now === undefined || now.elapsed < timeout) {
          timer = setTimeout(check, now === undefined ? timeout : Math.max(1, timeout - now.elapsed));
          return;
        }
        timedOut = { offset: now.offset };
        kill.abort(new Error('timeout'));
      };
      timer = setTimeout(check, timeout);
    }
    try {
      const message: BatchMessage = { type: 'batch', batch: wire, clock: { slot }, tag: 0, first: 0, inline: true };
      const result = (await pool.run(message, { signal: kill.signal })) as BatchResultWire;
      return { kind: 'done', result, worker: identity };
    } catch (error) {
      if (timedOut) return { kind: 'timeout', offset: timedOut.offset, timeout: timeout!, worker: identity };
      // Stopped for the caller (or BullMQ): the job fails and is removed; nobody awaits its result.
      if (signal?.aborted || kill.signal.aborted) throw error;
      // The thread died under the task (process.exit, out of memory): the task's failure, not this process's.
      return { kind: 'crashed', offset: current()?.offset ?? 0, error: encodeError(error), worker: identity };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', follow);
      running.delete(jobId);
      freeSlots.push(slot);
    }
  };

  const processor = async (job: Job<JobData, JobReturn>, _token?: string, signal?: AbortSignal): Promise<JobReturn> => {
    const data = job.data;
    if (job.name !== JOB_NAME || data?.v !== 1) {
      throw new UnrecoverableError(`Job ${job.id} is not a skein batch (name ${describeValue(job.name)}); is another program using queue ${describeValue(queue)}?`);
    }
    const connector = connectorFor(data.ns, data.ttl);
    const batch = await loadFrame(data.batch, connector);
    if (batch === undefined) throw new UnrecoverableError(`The batch of job ${job.id} is no longer in Redis: its run ended or its TTL passed`);
    const local = await argumentCache.localize(batch.value as BatchWire);
    let outcome: JobOutcome;
    try {
      outcome = await runOnPool(String(job.id), local.batch, data.timeout, signal);
    } finally {
      local.release();
    }
    return storeFrame(local.fetchedBytes === 0 ? outcome : { ...outcome, fetchedBytes: local.fetchedBytes }, connector);
  };

  const bullConnection = (typeof connection === 'string' ? { url: connection } : connection) as ConnectionOptions;
  const worker = new Worker<JobData, JobReturn>(queue, processor, { ...workerOptions, connection: bullConnection, concurrency, autorun: true });
  worker.on('error', report);
  try {
    await Promise.all([worker.waitUntilReady(), subscriber.subscribe(cancelChannel(workerOptions.prefix, queue))]);
  } catch (error) {
    await Promise.allSettled([worker.close(true), pool.destroy(), argumentCache.close()]);
    client.disconnect();
    subscriber.disconnect();
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    worker,
    close() {
      closing ??= (async () => {
        // Running batches finish and their results are handed in before anything is torn down.
        await worker.close();
        await pool.destroy();
        await argumentCache.close();
        await Promise.all([client.quit().catch(() => client.disconnect()), subscriber.quit().catch(() => subscriber.disconnect())]);
      })();
      return closing;
    },
  };
}
