import { describeValue } from '../core/errors.js';
import { isDelayed, type Delayed } from '../task/delayed.js';
import { AutoBatchSize, splitSize, taskBytes, type BatchSizes } from './auto-batch.js';

export type TaskSource = Iterable<unknown> | AsyncIterable<unknown>;

/** Consecutive tasks of a source: `tasks[i]` is task number `first + i`. */
export interface SourceBatch {
  readonly first: number;
  readonly tasks: Delayed[];
}

export interface SourceOptions {
  readonly nJobs: number;
  readonly batchSize: 'auto' | number;
  /** Values above this many bytes travel as references: auto batching counts them so. */
  readonly offloadBytes?: number | undefined;
  /** Auto batching state by function, kept across runs: this run starts where the last one of its first task's function left. */
  readonly sizes?: BatchSizes | undefined;
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
  readonly #isAsync: boolean;
  #exhausted = false;
  #pulled = 0;
  #stopped = false;
  readonly #knownTotal: number | undefined;
  readonly #ready: SourceBatch[] = [];

  constructor(source: TaskSource, options: SourceOptions) {
    this.#o = options;
    if (options.batchSize === 'auto') {
      if (options.sizes === undefined) this.#auto = new AutoBatchSize({ jump: true });
      else this.#sizes = options.sizes;
    }
    if (typeof source !== 'object' || source === null) {
      throw new TypeError(`Expected \`tasks\` to be an iterable or async iterable of delayed calls, got ${describeValue(source)}`);
    }
    this.#knownTotal = Array.isArray(source) ? source.length : undefined;
    if (typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
      this.#iterator = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      this.#isAsync = true;
    } else if (typeof (source as Iterable<unknown>)[Symbol.iterator] === 'function') {
      this.#iterator = (source as Iterable<unknown>)[Symbol.iterator]();
      this.#isAsync = false;
    } else {
      throw new TypeError(`Expected \`tasks\` to be an iterable or async iterable of delayed calls, got ${describeValue(source)}`);
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
      throw new TypeError(`Expected task ${this.#pulled} to be a delayed call such as delayed(fn)(...args), got ${describeValue(value)}`);
    }
    if (value.hasDependencies) {
      throw new TypeError(`Expected task ${this.#pulled} (${value.name || 'anonymous'}) to have no delayed calls among its arguments: a task graph runs with \`compute()\`, not \`parallel()\``);
    }
    this.#pulled++;
    return value;
  }

  // Synchronous sources are pulled without an await per task or per batch.
  #pullMany(n: number, out: Delayed[] = []): Delayed[] | Promise<Delayed[]> {
    if (!this.#isAsync) {
      const it = this.#iterator as Iterator<unknown>;
      while (out.length < n) {
        const step = it.next();
        if (step.done) {
          this.#exhausted = true;
          break;
        }
        out.push(this.#check(step.value));
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
        out.push(this.#check(step.value));
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
  #started(head: Delayed[]): Delayed[] {
    this.#auto = head.length > 0 ? this.#sizes!.of(head[0]!.shipped.wire.fn.id) : new AutoBatchSize({ jump: true });
    this.#sizes = undefined;
    return head;
  }

  /** Reads a slice on from the tasks already pulled in `head`, sizes and splits it. */
  #slice(head: Delayed[]): SourceBatch | undefined | Promise<SourceBatch | undefined> {
    const first = this.#pulled - head.length;
    // joblib's lookahead: take enough for one batch per worker, then split it,
    // smaller when the input turned out to end inside this slice.
    const want = this.#auto ? this.#auto.size * this.#o.nJobs : (this.#o.batchSize as number);
    if (this.#exhausted) return this.#sized(first, want, head);
    const slice = this.#pullMany(want - head.length, head);
    return slice instanceof Promise ? slice.then((tasks) => this.#sized(first, want, tasks)) : this.#sized(first, want, slice);
  }

  /** Bounds later slices by the bytes these tasks carry, then splits this one. */
  #sized(first: number, want: number, slice: Delayed[]): SourceBatch | undefined {
    if (this.#auto !== undefined && slice.length > 0) this.#auto.fit(taskBytes(slice, this.#o.offloadBytes));
    return this.#split(first, want, slice);
  }

  #split(first: number, want: number, slice: Delayed[]): SourceBatch | undefined {
    if (slice.length === 0) return undefined;
    if (this.#auto === undefined) return { first, tasks: slice };
    const size = splitSize(slice.length, this.#o.nJobs, slice.length < want && this.#exhausted);
    for (let i = 0; i < slice.length; i += size) this.#ready.push({ first: first + i, tasks: slice.slice(i, i + size) });
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
  }
}
