import { randomBytes } from 'node:crypto';
import { Queue, QueueEvents, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { describeValue } from '../core/errors.js';
// Loaded for its side effect too: it registers skein's error classes with the wire-error decoder
// (until each error class registers itself by code, issue 10 seam C).
import '../backends/threads/backend.js';
import type { Backend, BackendCapabilities, Batch, BatchOptions, BatchOutcome } from '../backends/backend.js';
import { BatchCancelledError, CANCEL_UNSTARTED } from '../backends/backend.js';
import { TaskTimeoutError, WorkerCrashedError } from '../backends/errors.js';
import { decodeError } from '../core/error-wire.js';
import { restoreResults } from '../task/restore.js';
import { RedisConnector, redisClient } from '../connectors/redis.js';
import { RedisStore } from './redis-store.js';
import { loadFrame, storeFrame } from './frames.js';
import { QueueLostError } from './errors.js';
import { JOB_NAME, cancelChannel, skeinPrefix, type CancelMessage, type FrameRef, type JobData, type JobOutcome, type WorkerIdentity } from './protocol.js';

export interface BullmqBackendOptions extends Omit<JobsOptions, 'jobId' | 'removeOnComplete' | 'removeOnFail' | 'repeat' | 'parent'> {
  /**
   * The Redis the workers use: a URL or ioredis options. Required.
   * @example
   * bullmq({ connection: { host: '10.0.0.5', port: 6379, password }, queue: 'jobs' });
   */
  readonly connection: string | RedisOptions;
  /**
   * The queue `skein-worker --queue` serves. Required.
   * @example
   * bullmq({ connection: 'redis://10.0.0.5:6379', queue: 'jobs' });
   */
  readonly queue: string;
  /**
   * BullMQ key prefix; workers must use the same (`skein-worker --prefix`).
   * @default 'bull'
   * @example
   * bullmq({ connection, queue: 'jobs', prefix: 'team-a' });
   */
  readonly prefix?: string;
  /**
   * Batches in flight at once (jobs waiting or running): about the number of
   * worker threads across all worker processes.
   * @default 16
   * @example
   * bullmq({ connection, queue: 'jobs', concurrency: 64 }); // 8 machines of 8 threads
   */
  readonly concurrency?: number;
  /**
   * Batch and result frames in Redis expire after this many ms even if the
   * run never deletes them (the caller died): the backstop.
   * @default 86_400_000 (one day)
   * @example
   * bullmq({ connection, queue: 'jobs', ttl: 3_600_000 }); // an hour
   */
  readonly ttl?: number;
  /**
   * When the connection to Redis drops, pending batches fail with
   * `QueueLostError` if it is not back within this many ms, or if it comes
   * back without their jobs (a restarted server without persistence).
   * @default 10_000
   * @example
   * bullmq({ connection, queue: 'jobs', reconnectGrace: 60_000 });
   */
  readonly reconnectGrace?: number;
  /**
   * About what one batch costs besides its tasks, in ms: the job's round
   * trip through Redis to a worker and back. Auto batching keeps each batch
   * at least ten times as long, so trivial tasks go in a few large batches
   * rather than many small ones. Raise it for workers far from Redis.
   * @default 5 (Redis on loopback or a LAN)
   * @example
   * bullmq({ connection, queue: 'jobs', batchLatency: 40 }); // workers in another region
   */
  readonly batchLatency?: number;
  /**
   * Called with the worker that ran each batch (host and pid), e.g. to show where work went.
   * @default undefined
   * @example
   * bullmq({ connection, queue: 'jobs', onBatchDone: ({ size, worker }) => console.log(`${size} tasks on ${worker.host}:${worker.pid}`) });
   */
  readonly onBatchDone?: (info: BatchDoneInfo) => void;
}

/** What `onBatchDone` hears of each batch. */
export interface BatchDoneInfo {
  /** The run's index of the batch's first task. */
  readonly firstIndex: number;
  readonly size: number;
  /** The process that ran it. */
  readonly worker: WorkerIdentity;
  /**
   * Bytes of large arguments that process fetched from Redis for this batch:
   * 0 when it already had them (each worker process fetches an argument once).
   */
  readonly fetchedBytes: number;
}

interface Pending {
  readonly request: Batch;
  readonly batch: FrameRef;
  readonly resolve: (outcome: BatchOutcome) => void;
  readonly reject: (error: unknown) => void;
  readonly run: RunState;
}

interface RunState {
  readonly jobs: Set<string>;
}

/**
 * A one-task run's round trip on loopback, caller to worker and back: 4.4 to
 * 4.9 ms (median) on the shared 2-core VM when idle, 6.2 ms under load.
 */
const DEFAULT_BATCH_LATENCY_MS = 5;

function checkPositive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`Expected \`${name}\` to be a positive integer, got ${describeValue(value)}`);
  }
  return value;
}

/**
 * Runs batches on `skein-worker` processes through a BullMQ queue: one job per
 * batch, added with `addBulk` when several are ready; results through the
 * queue's events. Close it when done (`await using` works).
 *
 * @example
 * await using backend = bullmq({ connection: 'redis://10.0.0.5:6379', queue: 'jobs' });
 * const out = await parallel(xs.map((x) => delayed(fn)(x)), { backend });
 */
export function bullmq(options: BullmqBackendOptions): BullmqBackend {
  return new BullmqBackend(options);
}

export class BullmqBackend implements Backend, AsyncDisposable {
  readonly name = 'bullmq';
  // Workers on other machines share neither memory nor files with the caller: large arguments go to a RedisStore
  // on this backend's connection, once per run, and the batches carry only their keys.
  // A batch costs a round trip through Redis: auto batching sizes batches for it.
  readonly capabilities: BackendCapabilities;
  readonly concurrency: number;
  readonly #queue: Queue;
  #events: QueueEvents | undefined;
  readonly #client: Redis;
  /** Owner of this backend's namespace: batch and result frames too large to ride inside a job. */
  readonly #frames: RedisConnector;
  readonly #jobOptions: JobsOptions;
  readonly #ttl: number;
  readonly #onBatchDone: BullmqBackendOptions['onBatchDone'];
  readonly #id = randomBytes(6).toString('hex');
  readonly #pending = new Map<string, Pending>();
  readonly #runs = new WeakMap<AbortSignal, RunState>();
  #sequence = 0;
  #toAdd: { name: string; data: JobData; opts: JobsOptions }[] = [];
  #flushing: Promise<void> | undefined;
  readonly #ready: Promise<void>;
  readonly #cancelChannel: string;
  readonly #queueName: string;
  readonly #jobKeyPrefix: string;
  readonly #grace: number;
  /** Jobs known to be in Redis (added), as opposed to waiting for the next addBulk. */
  readonly #added = new Set<string>();
  /** Offload stores made for Parallels on this backend: they share its client, so they close before it does. */
  readonly #stores = new Set<RedisStore>();
  /** Where this backend's own keys go: `<bullmq prefix>:<queue>:skein`. */
  readonly #keyPrefix: string;
  #lostTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: BullmqBackendOptions) {
    const { connection, queue, prefix, concurrency, ttl, onBatchDone, reconnectGrace, batchLatency, ...jobOptions } = options;
    if (typeof queue !== 'string' || queue === '') throw new TypeError(`Expected \`queue\` to be a non-empty string, got ${describeValue(queue)}`);
    this.concurrency = checkPositive('concurrency', concurrency ?? 16);
    this.#ttl = checkPositive('ttl', ttl ?? 86_400_000);
    this.#onBatchDone = onBatchDone;
    this.#grace = checkPositive('reconnectGrace', reconnectGrace ?? 10_000);
    if (batchLatency !== undefined && (typeof batchLatency !== 'number' || !Number.isFinite(batchLatency) || batchLatency < 0)) {
      throw new TypeError(`Expected \`batchLatency\` to be a non-negative number of ms, got ${describeValue(batchLatency)}`);
    }
    this.capabilities = { sharesMemory: false, defaultStore: () => this.#newStore(), batchLatencyMs: batchLatency ?? DEFAULT_BATCH_LATENCY_MS };
    this.#queueName = queue;
    this.#jobKeyPrefix = `${prefix ?? 'bull'}:${queue}:`;
    this.#jobOptions = jobOptions;
    const bullConnection = (typeof connection === 'string' ? { url: connection } : connection) as ConnectionOptions;
    const common = { connection: bullConnection, ...(prefix === undefined ? {} : { prefix }) };
    this.#queue = new Queue(queue, common);
    this.#client = redisClient(connection);
    this.#client.on('error', () => {});
    this.#client.on('close', () => this.#connectionLost());
    this.#client.on('ready', () => this.#connectionBack());
    // Frames live next to the queue's own keys (`bull:jobs:skein:<id>:…`), so one prefix finds all of a queue's data.
    this.#keyPrefix = skeinPrefix(prefix, queue);
    this.#frames = new RedisConnector({ connection: this.#client, prefix: this.#keyPrefix, ttl: this.#ttl });
    this.#queue.on('error', () => {});
    this.#cancelChannel = cancelChannel(prefix, queue);
    this.#ready = this.#start(queue, common);
    this.#ready.catch(() => {});
  }

  async #start(queue: string, common: { connection: ConnectionOptions; prefix?: string }): Promise<void> {
    // Events are read from the server's clock at start, not from '$' when the reader first asks: a job that
    // finishes before that first blocking read would otherwise never be heard of.
    const [seconds, micros] = await this.#client.time();
    const lastEventId = `${Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - 1}-0`;
    const events = new QueueEvents(queue, { ...common, lastEventId });
    this.#events = events;
    events.on('completed', ({ jobId, returnvalue }) => this.#completed(jobId, returnvalue));
    events.on('failed', ({ jobId, failedReason }) => this.#failed(jobId, failedReason));
    events.on('error', () => {});
    await Promise.all([events.waitUntilReady(), this.#queue.waitUntilReady()]);
  }

  #newStore(): RedisStore {
    if (this.#closed) throw new Error('This bullmq backend is closed');
    for (const closed of [...this.#stores].filter((s) => s.closed)) this.#stores.delete(closed);
    // Under the queue's prefix beside the frames; each entry carries the backend's TTL, the backstop if the caller dies.
    const store = new RedisStore({ connection: this.#client, prefix: this.#keyPrefix, ttl: this.#ttl, cacheSize: 0 });
    this.#stores.add(store);
    return store;
  }

  #runFor(signal: AbortSignal): RunState {
    let run = this.#runs.get(signal);
    if (run === undefined) {
      const state: RunState = { jobs: new Set() };
      signal.addEventListener('abort', () => void this.#abort(state, signal.reason), { once: true });
      this.#runs.set(signal, state);
      run = state;
    }
    return run;
  }

  async runBatch(request: Batch, options: BatchOptions): Promise<BatchOutcome> {
    const { signal, timeout } = options;
    if (this.#closed) throw new Error('This bullmq backend is closed');
    if (signal.aborted) throw signal.reason === CANCEL_UNSTARTED ? new BatchCancelledError() : signal.reason;
    const run = this.#runFor(signal);
    await this.#ready;
    const batch = await storeFrame(request.wire(), this.#frames);
    if (signal.aborted) {
      if ('key' in batch) await this.#frames.evict(batch.key);
      throw signal.reason === CANCEL_UNSTARTED ? new BatchCancelledError() : signal.reason;
    }
    // Our own job ids, known before the job exists: its 'completed' event may arrive before addBulk returns.
    const jobId = `skein-${this.#id}-${++this.#sequence}`;
    const data: JobData = { v: 1, batch, ns: this.#frames.namespace, ttl: this.#ttl, ...(timeout === undefined ? {} : { timeout }) };
    return new Promise<BatchOutcome>((resolve, reject) => {
      this.#pending.set(jobId, { request, batch, resolve, reject, run });
      run.jobs.add(jobId);
      this.#toAdd.push({ name: JOB_NAME, data, opts: { ...this.#jobOptions, jobId, removeOnComplete: true, removeOnFail: true } });
      this.#flushing ??= new Promise<void>((done) => setImmediate(done)).then(() => this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const jobs = this.#toAdd;
    this.#toAdd = [];
    this.#flushing = undefined;
    try {
      await this.#queue.addBulk(jobs);
      for (const job of jobs) if (this.#pending.has(job.opts.jobId!)) this.#added.add(job.opts.jobId!);
    } catch (error) {
      for (const job of jobs) this.#settle(job.opts.jobId!, (p) => p.reject(error));
    }
  }

  /** Takes the job's pending entry (so each result is delivered once) and frees its batch frame. */
  #settle(jobId: string, act: (pending: Pending) => void): Pending | undefined {
    const pending = this.#pending.get(jobId);
    if (pending === undefined) return undefined;
    this.#pending.delete(jobId);
    this.#added.delete(jobId);
    pending.run.jobs.delete(jobId);
    if ('key' in pending.batch) this.#frames.evict(pending.batch.key).catch(() => {});
    act(pending);
    return pending;
  }

  #completed(jobId: string, returnvalue: unknown): void {
    const pending = this.#pending.get(jobId);
    const ref = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as FrameRef | null;
    if (pending === undefined) {
      // Not ours, or a run that was abandoned: its result frame still goes.
      if (ref && 'key' in ref && jobId.startsWith(`skein-${this.#id}-`)) this.#frames.evict(ref.key).catch(() => {});
      return;
    }
    this.#settle(jobId, () => {});
    void this.#outcome(pending, ref).then(pending.resolve, pending.reject);
  }

  async #outcome(pending: Pending, ref: FrameRef | null): Promise<BatchOutcome> {
    const { request } = pending;
    if (ref === null || typeof ref !== 'object') throw new WorkerCrashedError(request.taskIndex(0), new Error('the worker returned no result frame'));
    const loaded = await loadFrame(ref, this.#frames);
    if ('key' in ref) this.#frames.evict(ref.key).catch(() => {});
    if (loaded === undefined) throw new WorkerCrashedError(request.taskIndex(0), new Error('the result frame is no longer in Redis'));
    const outcome = loaded.value as JobOutcome;
    this.#onBatchDone?.({ firstIndex: request.taskIndex(0), size: request.size, worker: outcome.worker, fetchedBytes: outcome.fetchedBytes ?? 0 });
    switch (outcome.kind) {
      case 'done': {
        const { result } = outcome;
        if (result.cancelled) throw new BatchCancelledError();
        return {
          values: restoreResults(result.values),
          errors: result.errors.map((e) => ({ offset: e.offset, error: decodeError(e.error) })),
          durationMs: result.durationMs,
        };
      }
      case 'timeout':
        throw new TaskTimeoutError(request.taskIndex(outcome.offset), outcome.timeout, outcome.offset);
      case 'crashed':
        throw new WorkerCrashedError(request.taskIndex(outcome.offset), decodeError(outcome.error), outcome.offset);
    }
  }

  #failed(jobId: string, failedReason: string): void {
    // The job itself failed (not a task: task errors are results): e.g. its worker died more often than
    // `maxStalledCount` allows, or its batch frame was gone.
    this.#settle(jobId, (p) => p.reject(new WorkerCrashedError(p.request.taskIndex(0), new Error(failedReason))));
  }

  /**
   * Removes the run's jobs that no worker has taken. Running ones: a user
   * abort stops their tasks now (their results are not awaited); after a
   * failure (`CANCEL_UNSTARTED`) they run no further task and come back cancelled.
   */
  async #abort(run: RunState, reason: unknown): Promise<void> {
    const cancelled = reason === CANCEL_UNSTARTED;
    const running: string[] = [];
    await Promise.all(
      [...run.jobs].map(async (jobId) => {
        const removed = await this.#queue.remove(jobId).catch(() => 0);
        if (removed === 1) this.#settle(jobId, (p) => p.reject(cancelled ? new BatchCancelledError() : reason));
        else {
          running.push(jobId);
          if (!cancelled) this.#settle(jobId, (p) => p.reject(reason));
        }
      }),
    );
    if (running.length > 0) {
      const message: CancelMessage = { jobs: running, mode: cancelled ? 'skip' : 'kill' };
      await this.#client.publish(this.#cancelChannel, JSON.stringify(message)).catch(() => {});
    }
  }

  #connectionLost(): void {
    if (this.#closed || this.#lostTimer !== undefined) return;
    this.#lostTimer = setTimeout(() => {
      this.#lostTimer = undefined;
      for (const jobId of [...this.#pending.keys()]) {
        this.#settle(jobId, (p) => p.reject(new QueueLostError(this.#queueName, p.request.taskIndex(0), `Redis was unreachable for ${this.#grace} ms`)));
      }
    }, this.#grace);
    this.#lostTimer.unref();
  }

  /** Back after a drop: jobs that Redis no longer has (a restart without persistence, a flush) will never complete. */
  #connectionBack(): void {
    if (this.#lostTimer === undefined) return;
    clearTimeout(this.#lostTimer);
    this.#lostTimer = undefined;
    const check = async (jobs: string[]): Promise<string[]> => {
      if (jobs.length === 0) return [];
      const pipeline = this.#client.pipeline();
      for (const jobId of jobs) pipeline.exists(this.#jobKeyPrefix + jobId);
      const replies = (await pipeline.exec()) ?? [];
      return jobs.filter((jobId, i) => replies[i]?.[1] === 0 && this.#pending.has(jobId));
    };
    void (async () => {
      // A job that finished while we were away is gone too, but its event is still on the stream: look twice.
      const missing = await check([...this.#added]);
      if (missing.length === 0) return;
      await new Promise((r) => setTimeout(r, 1000));
      for (const jobId of await check(missing)) {
        this.#settle(jobId, (p) => p.reject(new QueueLostError(this.#queueName, p.request.taskIndex(0), 'Redis no longer has its job (restarted without persistence, or flushed)')));
      }
    })().catch(() => {});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#lostTimer);
    await this.#flushing;
    await this.#ready.catch(() => {});
    const error = new Error('The bullmq backend was closed');
    const jobs = [...this.#pending.keys()];
    for (const jobId of jobs) this.#settle(jobId, (p) => p.reject(error));
    if (this.#client.status !== 'ready') {
      // Redis is gone: waiting for it would hang. What this run left there expires with its TTL.
      // BullMQ's disconnect() waits for a connection that is not coming: start it, do not wait for it.
      for (const closing of [this.#events?.disconnect(), this.#queue.disconnect(), ...[...this.#stores].map((store) => store.close({ clear: false }))]) {
        closing?.catch(() => {});
      }
      this.#client.disconnect();
      return;
    }
    await Promise.allSettled(jobs.map((jobId) => this.#queue.remove(jobId)));
    await Promise.allSettled([this.#events?.close(), this.#queue.close(), ...[...this.#stores].map((store) => store.close())]);
    // Deletes every frame of this backend's namespace, results of abandoned jobs included.
    await this.#frames.close().catch(() => {});
    await this.#client.quit().catch(() => this.#client.disconnect());
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
