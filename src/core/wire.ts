/**
 * The batch channel: what a batch of tasks is as data (`BatchWire`, made by
 * `encodeBatch`) and what running it gives back (`BatchResultWire`, from
 * `runBatch`), whatever carries them between the two (see task/batch-wire.ts).
 * Types only; each backend keeps its own messages (threads/protocol.ts).
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
  /** The factory returns a class (whose instances may travel), not a function. */
  readonly isClass?: true;
  /** Ids of the classes inlined in `body` (captured by the function): a worker may send their instances back. */
  readonly classIds?: readonly string[];
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
  /** Some values hold encoded class instances or errors (task/instances.ts): the classes they need. */
  readonly classes?: readonly FunctionInstanceWire[];
}

/**
 * Marks a captured value that is itself a shipped function, so the worker
 * compiles it instead of receiving it by structured clone.
 */
export interface CapturedFunctionWire {
  readonly __skeinFunction: FunctionInstanceWire;
}

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
  /** Results to leave where they were made: see `KeepWire`. */
  readonly keep?: KeepWire;
  /**
   * Arguments that are the result of an earlier task of the same batch, as
   * flat triples (`task, argument, from`: argument `argument` of task `task`
   * is what task `from` returned; a task is fed by one link at most): a
   * chain of graph nodes runs as one batch. A task whose source failed fails
   * without running. (Flat: thousands of small arrays clone slowly.)
   */
  readonly links?: readonly number[];
  /**
   * Tasks whose result only their linked readers in this batch need: one
   * above `keep.above` bytes is neither kept nor sent back (a `SpentWire`
   * comes instead), so a chain holds one large value at a time.
   */
  readonly spent?: readonly number[];
  /** Some arguments hold encoded class instances or errors (task/instances.ts): the classes they need. */
  readonly classes?: readonly FunctionInstanceWire[];
}

/**
 * Results above `above` bytes stay in the store `store` (a `StoreConfig`)
 * and come back as references, when the executing side can put there
 * synchronously: intermediate values of a task graph, which the next task
 * reads from the store rather than through the caller.
 */
export interface KeepWire {
  readonly store: object;
  readonly above: number;
}

/** What comes back for a large result only the batch itself needed (`BatchWire.spent`). */
export interface SpentWire {
  readonly __skeinSpent: 1;
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
   * `values` and `errors` are empty; or, with `from`, outcomes went gathered
   * in a few). The caller waits until it has them all.
   */
  readonly published?: number;
  /**
   * Outcomes were gathered (`RunBatchOptions.gather`): `values[k]` is task
   * `from + k`'s; those of the tasks before `from` came in the notices.
   */
  readonly from?: number;
}
