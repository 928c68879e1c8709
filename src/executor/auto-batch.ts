import type { Delayed } from '../task/delayed.js';
import { estimateBytes } from '../serialize/estimate.js';
import { isProxy } from '../proxy/index.js';
import { LRUCache } from 'lru-cache';

/**
 * joblib's auto batching: grow batches of tiny tasks until one batch takes
 * long enough (0.2 s) to hide the cost of a message, at most doubling per
 * step; shrink batches that run over 2 s, so that no worker is left with a
 * straggler while the others idle.
 */
export const MIN_IDEAL_BATCH_MS = 200;
export const MAX_IDEAL_BATCH_MS = 2000;
/**
 * Trivial tasks would otherwise grow batches to a million: every task pulled
 * ahead of the consumer is held in memory (and read from the user's source)
 * until its batch returns. Past this size a message costs nothing worth saving.
 */
export const MAX_AUTO_BATCH = 16_384;
/** Estimated bytes of arguments one batch may carry, so that large tasks make small batches. */
export const MAX_BATCH_BYTES = 16 * 2 ** 20;

/**
 * A batch this far under the ideal duration is measured well enough to size
 * the next one from at once (a loop's tasks are alike): doubling from 1 to
 * the cap takes 14 round trips, most of a run of trivial tasks.
 */
export const JUMP_BELOW_MS = MIN_IDEAL_BATCH_MS / 10;

/**
 * On a backend whose batches cost a round trip (`batchLatencyMs`: a queue
 * through a server), a batch carries at least this many round trips of
 * work, so that the trip stays a tenth of its time or less.
 */
export const LATENCY_FACTOR = 10;
/**
 * What a task costs the run besides running it (made, encoded, sent,
 * decoded, handed back): about a microsecond. A trivial task's measured time
 * is near zero; against a round trip it counts as this.
 */
export const MIN_TASK_MS = 0.001;

/**
 * Tasks a batch needs for a round trip of `latencyMs` to stay a small part
 * of it, at `taskMs` per task (unmeasured: the least a task costs). 1
 * without latency: a message between threads costs next to nothing.
 */
export function minBatchTasks(latencyMs: number, taskMs: number | undefined): number {
  if (!(latencyMs > 0)) return 1;
  return Math.ceil((LATENCY_FACTOR * latencyMs) / Math.max(taskMs ?? MIN_TASK_MS, MIN_TASK_MS));
}

/**
 * At the end of the input batches get smaller so the last ones finish
 * together, but none below this many milliseconds of tasks (at the time a
 * task took so far): a batch of quick tasks split further costs more in
 * messages than the straggler it saves (a straggler is this long at most).
 */
export const MIN_END_BATCH_MS = 2;

/** Fewest tasks a batch at the end of the input carries, at `taskMs` per task (unmeasured: 1, joblib's rule alone). */
export function minEndBatchTasks(taskMs: number | undefined): number {
  if (taskMs === undefined) return 1;
  return Math.ceil(MIN_END_BATCH_MS / Math.max(taskMs, MIN_TASK_MS));
}

export class AutoBatchSize {
  #size = 1;
  #smoothedMs = 0;
  #max = MAX_AUTO_BATCH;
  /** The ideal duration of a batch: joblib's 0.2 s, longer on a backend with a long round trip. */
  #idealMs = MIN_IDEAL_BATCH_MS;
  /**
   * Decaying sums of time and tasks, each batch weighed by its size: a cold
   * first batch (one task and a compile) stops counting once a large one ran.
   */
  #spentMs = 0;
  #tasks = 0;
  readonly #jump: boolean;

  /** With `jump`, a batch far under the ideal duration sets the size straight to its measured ideal. */
  constructor(options: { readonly jump?: boolean } = {}) {
    this.#jump = options.jump ?? false;
  }

  get size(): number {
    return this.#size;
  }

  /** Time one task took in the batches measured so far (smoothed); undefined before the first. */
  get taskMs(): number | undefined {
    return this.#tasks > 0 ? this.#spentMs / this.#tasks : undefined;
  }

  /**
   * Sets the largest size for tasks of about `taskBytes` each (the byte
   * budget of a batch, within the count cap), on a backend whose batches
   * cost `latencyMs` of round trip: the longer it is, the longer a batch
   * should take (`LATENCY_FACTOR` trips at least), and the more trivial
   * tasks one may carry, since the cap's reason (a message costs nothing
   * past it) no longer holds.
   */
  fit(taskBytes: number, latencyMs = 0): void {
    const cap = Math.max(MAX_AUTO_BATCH, minBatchTasks(latencyMs, undefined));
    this.#max = Math.max(1, Math.min(cap, Math.floor(MAX_BATCH_BYTES / Math.max(1, taskBytes))));
    this.#idealMs = Math.max(MIN_IDEAL_BATCH_MS, LATENCY_FACTOR * latencyMs);
    if (this.#size > this.#max) {
      this.#size = this.#max;
      this.#smoothedMs = 0;
    }
  }

  /** Feeds the measured duration of a completed batch of `size` tasks. */
  record(size: number, durationMs: number): void {
    if (size > 0) {
      this.#spentMs = 0.5 * this.#spentMs + size * durationMs;
      this.#tasks = 0.5 * this.#tasks + size * size;
    }
    const idealMs = this.#idealMs;
    const jumpBelow = idealMs * (JUMP_BELOW_MS / MIN_IDEAL_BATCH_MS);
    if (size !== this.#size) {
      // Batches of another size are stale, except a smaller one (cut short by the end of a short
      // input, or by the spread) that ran far under the ideal: its own ideal size is a floor.
      if (this.#jump && size < this.#size && size > 0 && durationMs < jumpBelow) {
        const floor = durationMs > 0 ? Math.floor((size * idealMs) / durationMs) * 2 : Infinity;
        const next = Math.min(floor, this.#max);
        if (next > this.#size) {
          this.#size = next;
          this.#smoothedMs = 0;
        }
      }
      return;
    }
    this.#smoothedMs = this.#smoothedMs === 0 ? durationMs : 0.8 * this.#smoothedMs + 0.2 * durationMs;
    const old = this.#size;
    const ms = this.#smoothedMs;
    let next = old;
    if (ms < idealMs) {
      // Doubling the ideal size keeps the estimate from oscillating around the minimum.
      const jump = this.#jump && ms < jumpBelow;
      const ideal = ms > 0 ? Math.floor((old * idealMs) / ms) * 2 : jump ? Infinity : 2 * old;
      next = Math.max(1, Math.min(jump ? ideal : 2 * old, ideal, this.#max));
    } else if (ms > idealMs * (MAX_IDEAL_BATCH_MS / MIN_IDEAL_BATCH_MS) && old >= 2) {
      next = Math.max(1, 2 * Math.floor((old * idealMs) / ms));
    }
    if (next !== old) {
      this.#size = next;
      this.#smoothedMs = 0;
    }
  }
}

/**
 * Auto batching state by task function (its shipped id), kept across runs:
 * a run starts at the size the last run of the same function reached rather
 * than at 1. By function, not by executor: a cheap function's size would make
 * one batch of a slow one run for minutes.
 */
export class BatchSizes {
  readonly #sizes = new LRUCache<string, AutoBatchSize>({ max: 64 });

  /** The state for tasks of the function shipped as `fnId`, made on first use. */
  of(fnId: string): AutoBatchSize {
    let auto = this.#sizes.get(fnId);
    if (auto === undefined) {
      auto = new AutoBatchSize({ jump: true });
      this.#sizes.set(fnId, auto);
    }
    return auto;
  }
}

/**
 * Splits a slice of `count` ready tasks into batch sizes. Near the end of the
 * input batches get smaller, so the last ones finish together (joblib's rule).
 */
export function splitSize(count: number, nJobs: number, reachedEnd: boolean): number {
  return Math.max(1, Math.floor(count / (reachedEnd ? 10 * nJobs : nJobs)));
}

/**
 * The batch size that cuts `count` tasks into the same number of batches
 * for each of `nJobs` jobs, as many as keep each at `least` tasks (one per
 * job when even that is too many): jobs of equal tasks then finish together.
 */
export function evenSplit(count: number, nJobs: number, least: number): number {
  const perJob = Math.max(1, Math.floor(count / (nJobs * least)));
  return Math.max(1, Math.ceil(count / (nJobs * perJob)));
}

/**
 * Estimated bytes one task of `tasks` adds to a batch message: its own
 * arguments, not an object it shares with the last task (cloned once per
 * batch), and a value above `offloadBytes` as the reference it travels as.
 * Judged from the first task: tasks of one source are usually alike.
 */
export function taskBytes(tasks: readonly Pick<Delayed, 'args'>[], offloadBytes: number | undefined): number {
  const args = tasks[0]!.args;
  const last = tasks.length > 1 ? tasks[tasks.length - 1]!.args : undefined;
  let bytes = TASK_OVERHEAD_BYTES;
  for (let i = 0; i < args.length; i++) {
    const value = args[i];
    if (typeof value === 'object' && value !== null && last?.[i] === value) continue;
    const size = estimateBytes(value, 0, isProxy);
    bytes += offloadBytes !== undefined && size > offloadBytes ? TASK_OVERHEAD_BYTES : size;
  }
  return bytes;
}

/** A task's own cost in a batch besides its arguments (and what a reference to an offloaded value costs). */
const TASK_OVERHEAD_BYTES = 64;
