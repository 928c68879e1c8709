import { describeValue } from '../core/errors.js';
import { describeNotDelayed, isDelayed, unary, type Delayed } from '../task/delayed.js';
import type { MappedCalls } from '../task/batch-wire.js';
import type { ShippedFunction } from '../task/ship.js';
import { AutoBatchSize, evenSplit, minBatchTasks, minEndBatchTasks, splitSize, taskBytes, type BatchSizes } from './auto-batch.js';

const arrayValues = Array.prototype[Symbol.iterator];
const BATCHES_PER_JOB = 8;
/** ...but never below this: a short input of quick tasks would go a task per message (slow tasks are bounded by what auto batching learned). */
const MIN_SPREAD_BATCH = 256;

export type TaskSource = Iterable<unknown> | AsyncIterable<unknown>;

/** Consecutive tasks of a source: `tasks[i]` is task number `first + i`. */
export interface SourceBatch {
  readonly first: number;
  readonly tasks: Delayed[];
  /** Mapped calls (see `Unit`): `tasks` is then made on first read. */
  readonly calls?: MappedCalls;
}

/** `map(fn, items)`: the source holds items, each the argument of one call of `fn`. */
export interface SourceMapping {
  readonly shipped: ShippedFunction;
  /** `delayed(fn)`: checks an item as it checks arguments. */
  readonly call: (item: unknown) => Delayed;
}

/** A batch of mapped calls; its `Delayed`s are made only if a task is needed on its own. */
class MappedBatch implements SourceBatch {
  readonly first: number;
  readonly calls: MappedCalls;
  #tasks: Delayed[] | undefined;

  constructor(first: number, calls: MappedCalls) {
    this.first = first;
    this.calls = calls;
  }

  get tasks(): Delayed[] {
    const { shipped, items } = this.calls;
    // Plain items: no references, nothing to offload.
    return (this.#tasks ??= items.map((item) => unary(shipped, item, false, false, undefined, 0)));
  }
}

export interface SourceOptions {
  readonly nJobs: number;
  readonly batchSize: 'auto' | number;
  /** Values above this many bytes travel as references: auto batching counts them so. */
  readonly offloadBytes?: number | undefined;
  /** Auto batching state by function, kept across runs: this run starts where the last one of its first task's function left. */
  readonly sizes?: BatchSizes | undefined;
  /** The source holds items to map a function over, not delayed calls. */
  readonly map?: SourceMapping | undefined;
  /** What a batch costs the backend besides its tasks, in ms (`BackendCapabilities.batchLatencyMs`): auto batching keeps batches long against it. */
  readonly batchLatencyMs?: number | undefined;
}

/**
 * A task source read lazily into batches: sync sources without an await per
 * task, auto batching (joblib's lookahead and end-of-input split, bounded by
 * count and bytes), tasks to run again put in front, and the user's
 * generator closed when the run ends early.
 */
export class BatchSource {
  readonly #o: SourceOptions;
  #auto: AutoBatchSize | undefined;
  /** Where the auto batching state comes from, until the first task names its function. */
  #sizes: BatchSizes | undefined;
  #iterator: Iterator<unknown> | AsyncIterator<unknown> | undefined;
  /** A plain array is read by index: an iterator step costs a result object per task. */
  #array: readonly unknown[] | undefined;
  readonly #isAsync: boolean;
  #exhausted = false;
  #pulled = 0;
  #stopped = false;
  readonly #knownTotal: number | undefined;
  /**
   * Largest batch for a source of known length: at least BATCHES_PER_JOB
   * per worker, so that sending the first batch and collecting the last
   * (which nothing overlaps) stay a small part of the run. Not below what a
   * round trip of the backend needs (see `#minBatch`).
   */
  readonly #spread: number;
  readonly #latencyMs: number;
  readonly #ready: SourceBatch[] = [];
  readonly #map: SourceMapping | undefined;
  /**
   * Mapping: every item so far travels as it is (no store proxies, nothing
   * to offload). Once one does not, later batches are made of `Delayed`s.
   */
  #plain: boolean;

  constructor(source: TaskSource, options: SourceOptions) {
    this.#o = options;
    const map = (this.#map = options.map);
    if (options.batchSize === 'auto') {
      if (map !== undefined) this.#auto = (options.sizes?.of(map.shipped.wire.fn.id)) ?? new AutoBatchSize({ jump: true });
      else if (options.sizes === undefined) this.#auto = new AutoBatchSize({ jump: true });
      else this.#sizes = options.sizes;
    }
    // Captured values may be offloaded: such a function's calls go as Delayeds.
    this.#plain = map !== undefined && !(options.offloadBytes !== undefined && map.shipped.wire.values.length > 0);
    const what = map ? '`items` to be an iterable or async iterable' : '`tasks` to be an iterable or async iterable of delayed calls';
    if (typeof source !== 'object' || source === null) {
      throw new TypeError(`Expected ${what}, got ${describeValue(source)}`);
    }
    this.#knownTotal = Array.isArray(source) ? source.length : undefined;
    this.#spread = this.#knownTotal === undefined ? Infinity : Math.max(MIN_SPREAD_BATCH, Math.floor(this.#knownTotal / (BATCHES_PER_JOB * options.nJobs)));
    this.#latencyMs = options.batchLatencyMs ?? 0;
    if (Array.isArray(source) && source[Symbol.iterator] === arrayValues) {
      this.#array = source;
      this.#isAsync = false;
    } else if (typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
      this.#iterator = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      this.#isAsync = true;
    } else if (typeof (source as Iterable<unknown>)[Symbol.iterator] === 'function') {
      this.#iterator = (source as Iterable<unknown>)[Symbol.iterator]();
      this.#isAsync = false;
    } else {
      throw new TypeError(`Expected ${what}, got ${describeValue(source)}`);
    }
  }

  /** Total number of tasks, once known. */
  get total(): number | undefined {
    return this.#exhausted ? this.#pulled : this.#knownTotal;
  }

  /** Nothing left: the source is read to its end and no batch waits. */
  get drained(): boolean {
    return this.#exhausted && this.#ready.length === 0;
  }

  /** Tasks per batch auto batching aims at now (1 without it). */
  get batchSize(): number {
    return this.#auto?.size ?? 1;
  }

  /** A batch of `size` tasks ran in `durationMs`: auto batching adapts. */
  record(size: number, durationMs: number): void {
    this.#auto?.record(size, durationMs);
  }

  /** Runs these tasks next (one batch each), in this order, before anything else. */
  again(batches: readonly SourceBatch[]): void {
    this.#ready.unshift(...batches);
  }

  #check(value: unknown): Delayed {
    if (!isDelayed(value)) {
      throw new TypeError(`Expected task ${this.#pulled} to be a delayed call such as delayed(fn)(...args), got ${describeNotDelayed(value)}`);
    }
    if (value.options.where === 'caller') {
      throw new TypeError(`Expected task ${this.#pulled} (${value.name || 'anonymous'}) to run in a worker: \`where: 'caller'\` nodes run with \`compute()\`, not \`parallel()\``);
    }
    if (value.hasDependencies) {
      throw new TypeError(`Expected task ${this.#pulled} (${value.name || 'anonymous'}) to have no delayed calls among its arguments: a task graph runs with \`compute()\`, not \`parallel()\``);
    }
    this.#pulled++;
    return value;
  }

  /** A task from the source: a delayed call, or with a mapping an item, checked as `delayed(fn)(item)` checks it. */
  #take(value: unknown): unknown {
    if (this.#map === undefined) return this.#check(value);
    if (typeof value === 'object' ? value !== null : typeof value === 'function' || typeof value === 'symbol') {
      const task = this.#check(this.#map.call(value));
      const offload = this.#o.offloadBytes;
      // Class instances travel encoded: the recorder then ships another form of the function.
      if (task.hasReferences || task.shipped !== this.#map.shipped || (offload !== undefined && task.bytes > offload)) this.#plain = false;
    } else {
      this.#pulled++;
    }
    return value;
  }

  /** Tasks `first`... as a batch: a mapping's items as they are while they are plain. */
  #batch(first: number, tasks: unknown[]): SourceBatch {
    const map = this.#map;
    if (map === undefined) return { first, tasks: tasks as Delayed[] };
    if (this.#plain) return new MappedBatch(first, { shipped: map.shipped, items: tasks });
    return { first, tasks: tasks.map((item) => map.call(item)) };
  }

  // Synchronous sources are pulled without an await per task or per batch. Fills `out` up to `n` tasks in all.
  #pullMany(n: number, out: unknown[] = []): unknown[] | Promise<unknown[]> {
    const array = this.#array;
    if (array !== undefined) {
      // Read live, as an array iterator reads it: the length may change between batches.
      const start = this.#pulled;
      const want = n - out.length;
      if (start + want > array.length) this.#exhausted = true;
      if (want <= 0 || start >= array.length) return out;
      // One copy of the range, then the checks: cheaper than a push per task.
      const part = array.slice(start, start + want);
      for (let i = 0; i < part.length; i++) this.#take(part[i]);
      return out.length === 0 ? part : out.concat(part);
    }
    if (!this.#isAsync) {
      const it = this.#iterator as Iterator<unknown>;
      while (out.length < n) {
        const step = it.next();
        if (step.done) {
          this.#exhausted = true;
          break;
        }
        out.push(this.#take(step.value));
      }
      return out;
    }
    const it = this.#iterator as AsyncIterator<unknown>;
    return (async () => {
      while (out.length < n && !this.#stopped) {
        const step = await it.next();
        if (step.done) {
          this.#exhausted = true;
          break;
        }
        out.push(this.#take(step.value));
      }
      return out;
    })();
  }

  /** The next batch; undefined at the end. Throws (or rejects) what the source threw. */
  next(): SourceBatch | undefined | Promise<SourceBatch | undefined> {
    const queued = this.#ready.shift();
    if (queued) return queued;
    if (this.#exhausted || this.#stopped) return undefined;
    if (this.#sizes !== undefined) {
      const head = this.#pullMany(1);
      return head instanceof Promise ? head.then((tasks) => this.#slice(this.#started(tasks))) : this.#slice(this.#started(head));
    }
    return this.#slice([]);
  }

  /** The first task names the function whose auto batching state this run starts from. */
  #started(head: unknown[]): unknown[] {
    this.#auto = head.length > 0 ? this.#sizes!.of((head[0] as Delayed).shipped.wire.fn.id) : new AutoBatchSize({ jump: true });
    this.#sizes = undefined;
    return head;
  }

  /** Reads a slice on from the tasks already pulled in `head`, sizes and splits it. */
  #slice(head: unknown[]): SourceBatch | undefined | Promise<SourceBatch | undefined> {
    const first = this.#pulled - head.length;
    if (this.#auto === undefined) {
      const want = this.#o.batchSize as number;
      const tasks = this.#exhausted ? head : this.#pullMany(want - head.length, head);
      return tasks instanceof Promise ? tasks.then((t) => this.#fixed(first, t)) : this.#fixed(first, tasks);
    }
    // joblib's lookahead: take enough for one batch per worker, then split it,
    // smaller when the input turned out to end inside this slice. Each batch
    // is pulled into its own array; only a slice cut short is split again.
    const least = this.#minBatch();
    const size = Math.min(this.#auto.size, least > this.#spread ? evenSplit(this.#knownTotal!, this.#o.nJobs, least) : this.#spread);
    const want = size * this.#o.nJobs;
    const parts = this.#pullParts(head, size);
    return parts instanceof Promise ? parts.then((p) => this.#cut(first, want, p)) : this.#cut(first, want, parts);
  }

  /**
   * Fewest tasks a batch should carry so that the backend's round trip stays
   * a small part of it, at the time a task took so far: through a queue,
   * splitting an array into many batches or its end into small ones costs a
   * round trip each, which buys nothing when the tasks take microseconds.
   */
  #minBatch(): number {
    return this.#latencyMs > 0 ? minBatchTasks(this.#latencyMs, this.#auto!.taskMs) : 1;
  }

  #fixed(first: number, tasks: unknown[]): SourceBatch | undefined {
    return tasks.length === 0 ? undefined : this.#batch(first, tasks);
  }

  /** Up to one batch of `size` per job, the first one started with `head`; fewer when the source ends. */
  #pullParts(head: unknown[], size: number): unknown[][] | Promise<unknown[][]> {
    const parts: unknown[][] = [];
    const jobs = this.#o.nJobs;
    if (!this.#isAsync) {
      let part = head;
      while (parts.length < jobs && !this.#exhausted) {
        // `#pullMany` fills `part` up to `size` in all: `head` counts in the first batch.
        parts.push(this.#pullMany(size, part) as unknown[]);
        part = [];
      }
      if (parts.length === 0) parts.push(head);
      return parts;
    }
    return (async () => {
      let part = head;
      while (parts.length < jobs && !this.#exhausted && !this.#stopped) {
        parts.push(await this.#pullMany(size, part));
        part = [];
      }
      if (parts.length === 0) parts.push(head);
      return parts;
    })();
  }

  /** Bounds later slices by the bytes these tasks carry, then queues the slice's batches. */
  #cut(first: number, want: number, parts: unknown[][]): SourceBatch | undefined {
    let count = 0;
    for (const part of parts) count += part.length;
    if (count === 0) return undefined;
    const p0 = parts[0]!;
    // A mapping's items are each a call's one argument.
    const sample = this.#map ? [{ args: [p0[0]] }, { args: [p0[p0.length - 1]] }] : (p0 as Delayed[]);
    this.#auto!.fit(taskBytes(sample, this.#o.offloadBytes), this.#latencyMs);
    if (count < want && this.#exhausted) {
      // The input ends here: smaller batches, so that the last ones finish
      // together; unless what is left is known to take milliseconds (ten
      // times it fits in one batch per job), where a message per task costs
      // more than any straggler: then one batch per job. None smaller than
      // MIN_END_BATCH_MS of tasks, nor on a backend with a round trip than
      // it needs; as many for every job.
      const slice = parts.length === 1 ? parts[0]! : parts.flat();
      const jobs = this.#o.nJobs;
      const split = this.#auto!.size >= 10 * jobs * count ? Math.ceil(count / jobs) : splitSize(count, jobs, true);
      const least = Math.max(this.#minBatch(), minEndBatchTasks(this.#auto!.taskMs));
      const size = least > split ? evenSplit(count, jobs, least) : split;
      for (let i = 0; i < count; i += size) this.#ready.push(this.#batch(first + i, slice.slice(i, i + size)));
    } else {
      for (const part of parts) {
        if (part.length === 0) continue;
        this.#ready.push(this.#batch(first, part));
        first += part.length;
      }
    }
    return this.#ready.shift();
  }

  /** No more reading: an async pull under way stops, and the user's generator is closed so its finally blocks run. */
  close(): void {
    this.#stopped = true;
    if (!this.#exhausted) {
      const it = this.#iterator;
      this.#exhausted = true;
      try {
        const closing = it?.return?.();
        if (closing && typeof (closing as Promise<unknown>).catch === 'function') (closing as Promise<unknown>).catch(() => {});
      } catch {
        // A source that throws on close has nothing more to give us.
      }
    }
    this.#iterator = undefined;
    this.#array = undefined;
  }
}
