/**
 * Every message that crosses between the calling thread and a worker.
 * Types only: both sides import this file and nothing else of each other.
 */

/** A function that travels by its source text, compiled once per worker. */
export interface SourceFunctionWire {
  readonly kind: 'source';
  /** Hash of everything static about the function (source and capture layout), the compile-cache key. */
  readonly id: string;
  readonly name: string;
  /** Body of a factory whose parameters are `valueNames` and which returns the function. */
  readonly body: string;
  readonly valueNames: readonly string[];
}

/** A function named by reference: an export of a module every worker imports once. */
export interface ModuleFunctionWire {
  readonly kind: 'module';
  readonly id: string;
  readonly url: string;
  readonly exportName: string;
  /** A module whose `register()` makes this thread able to import the task module (tsx, for TypeScript). */
  readonly loader?: string;
}

export type FunctionWire = SourceFunctionWire | ModuleFunctionWire;

/** A function plus the captured values its factory is called with (in `valueNames` order). */
export interface FunctionInstanceWire {
  readonly fn: FunctionWire;
  readonly values: readonly unknown[];
  /** Some values hold store references, to be turned back into proxies. */
  readonly refs?: true;
}

/**
 * Marks a captured value that is itself a shipped function, so the worker
 * compiles it instead of receiving it by structured clone.
 */
export interface CapturedFunctionWire {
  readonly __skeinFunction: FunctionInstanceWire;
}

/**
 * Where a worker records which task of its batch is running, so the caller
 * can enforce per-task timeouts and name the task a crash interrupted.
 * Int32 slots: [sequence, offset within batch, start ms since `origin`].
 * The shared buffer reaches each worker once, at start (`ClockSetupWire`):
 * posting a SharedArrayBuffer with every batch would cost more than the batch.
 */
export interface BatchClockWire {
  readonly slot: number;
  /** Only when the shared buffer ran out of slots: a buffer of this batch's own. */
  readonly buffer?: SharedArrayBuffer;
}

export interface ClockSetupWire {
  readonly buffer: SharedArrayBuffer;
  /** `Date.now()` the start times count from. */
  readonly origin: number;
}

/** What a pool worker receives once, when it starts. */
export interface WorkerSetupWire {
  /** Marks a skein pool worker: a `Parallel` created in it runs inline (see executor/options.ts). */
  readonly skeinPoolWorker: true;
  readonly clock: ClockSetupWire;
  /** Results above this many bytes are moved to the caller rather than copied (see ship/results.ts). */
  readonly resultBytes?: number;
}

export const CLOCK_SLOT_INTS = 4;
export const CLOCK_SEQ = 0;
export const CLOCK_OFFSET = 1;
export const CLOCK_START = 2;
/** Set by the caller when the run no longer wants the batch: the worker stops before its next task. */
export const CLOCK_CANCEL = 3;

export interface BatchWire {
  readonly fns: readonly FunctionInstanceWire[];
  /** Index into `fns` per call; omitted when every call uses `fns[0]`. */
  readonly fnIndex?: readonly number[];
  /** How many tasks the batch holds. */
  readonly size: number;
  /** Arguments task by task; or, when every task has the same number of arguments, see `columns`. */
  readonly args?: readonly (readonly unknown[])[];
  /**
   * Arguments position by position (`columns[j][i]` is argument j of task i):
   * a flat array of numbers clones many times faster than one small array per task.
   */
  readonly columns?: readonly (readonly unknown[])[];
  /** `true`: stop at the first error (fail-fast). `false`: run every task and report each error. */
  readonly stopOnError: boolean;
  /** Some arguments hold store references, to be turned back into proxies. */
  readonly refs?: true;
  readonly clock?: BatchClockWire;
  /**
   * Set by the threads backend: names the batch in the notices a worker sends
   * outside its reply (`WorkerNoticeWire`), and the batch's run and first task
   * index, so an error escaping a task after its batch ended can still name it.
   */
  readonly tag?: number;
  readonly run?: number;
  readonly first?: number;
}

/** An error as it crosses a thread: enough to rebuild it with its class name, stack and fields. */
export interface ErrorWire {
  readonly __skeinError: 1;
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly code?: unknown;
  readonly cause?: ErrorWire | { readonly value: unknown };
  /**
   * Constructor names from the error's class up to its built-in base, when
   * they say more than `name` (`['MyTypeError', 'TypeError']`).
   */
  readonly classes?: readonly string[];
  /** An AggregateError's `errors`, each sent like the error itself. */
  readonly errors?: readonly (ErrorWire | { readonly value: unknown })[];
  /** Own enumerable properties that could be cloned. */
  readonly props?: Record<string, unknown>;
  /** Present when a non-Error value was thrown. */
  readonly thrown?: { readonly value: unknown };
}

export interface TaskErrorWire {
  /** Offset of the failing task within its batch. */
  readonly offset: number;
  readonly error: ErrorWire;
}

export interface BatchResultWire {
  /** Results by offset; with `stopOnError` it ends at the first failing task. */
  readonly values: unknown[];
  readonly errors: TaskErrorWire[];
  /** Time the worker spent running the batch, for auto batching. */
  readonly durationMs: number;
  /** The caller cancelled the batch before every task ran. */
  readonly cancelled?: true;
  /**
   * Settle-mode batches on a pool worker: how many notices for this batch were
   * posted before the reply (each task's outcome went as its own notice, so
   * `values` and `errors` are empty). The caller waits until it has them all.
   */
  readonly published?: number;
}

/**
 * A task's outcome, sent on its own as soon as it is known (settle-mode
 * batches only), so that it survives the worker dying later in the batch.
 * Also sent, with `fault`, when an error escaped a task whose outcome was
 * already sent: the caller then fails that task with it.
 */
export interface OutcomeNoticeWire {
  readonly __skeinNotice: 'outcome';
  readonly tag: number;
  readonly offset: number;
  readonly value?: unknown;
  readonly error?: ErrorWire;
  readonly fault?: true;
}

/**
 * An error that escaped a task (an uncaught exception or unhandled rejection
 * from a callback) after the task's batch was over, or that no task can be
 * named for. `error` is an `UncaughtTaskError`.
 */
export interface FaultNoticeWire {
  readonly __skeinNotice: 'fault';
  readonly error: ErrorWire;
  /** The run and task index it is traced to, when it is. */
  readonly run?: number;
  readonly task?: number;
}

/**
 * The worker could not post its reply to the batch `tag` (structured clone
 * refused a result that the walk in ship/cloneable.ts let through) and is
 * exiting, since the pool would otherwise wait for that reply forever.
 */
export interface ReplyFailedNoticeWire {
  readonly __skeinNotice: 'reply-failed';
  readonly tag: number;
  readonly offset: number;
  readonly error: ErrorWire;
}

/** What a pool worker posts on its parent port, beside the pool's own replies. */
export type WorkerNoticeWire = OutcomeNoticeWire | FaultNoticeWire | ReplyFailedNoticeWire;

/**
 * Shared memory the caller reuses from run to run (its buffer pool) ends in
 * this many bytes that are not data: an Int32 flag a worker sets when a task
 * hands part of the buffer back in a result, after which the caller never
 * reuses it (the caller can see that buffer now, and must not see it change);
 * then an Int32 a worker increments to tell whether another buffer object is
 * the same memory.
 */
export const POOL_TAIL_BYTES = 8;

/**
 * Sent to every worker when a run that offloaded values has ended and its
 * store entries are evicted: the worker drops what it cached of them and,
 * when `bytes` are worth it, collects garbage, so their memory is freed now.
 * (Between tasks a Piscina worker blocks in `Atomics.wait`: nothing it
 * scheduled for itself would run before its next task.)
 */
export interface ReleaseWire {
  readonly release: true;
  /** Bytes the caller no longer holds either: offloaded and not kept for reuse, or let go of by its pool. */
  readonly bytes: number;
}
