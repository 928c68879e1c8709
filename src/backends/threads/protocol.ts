/**
 * The threads channel: every message between the calling thread and a pool
 * worker, as tagged unions. Types only (runtime constants are in clock.ts);
 * the batch itself is the batch channel's `BatchWire` (core/wire.ts).
 */
import type { BatchWire, ErrorWire, TaskErrorWire } from '../../core/wire.js';

/**
 * Where a worker records which task of its batch is running, so the caller
 * can enforce per-task timeouts and name the task a crash interrupted.
 * Int32 slots (clock.ts): [sequence, offset within batch, start ms since `origin`, cancel].
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
  /** Results above this many bytes are moved to the caller rather than copied (see task/results.ts). */
  readonly resultBytes?: number;
}

/** Run a batch. */
export interface BatchMessage {
  readonly type: 'batch';
  readonly batch: BatchWire;
  readonly clock: BatchClockWire;
  /** Names the batch in the notices the worker sends outside its reply (`WorkerNoticeWire`). */
  readonly tag: number;
  /** Index of the batch's first task, only to word errors that escape its tasks. */
  readonly first: number;
  /** Every task's index, when they are not consecutive from `first`. */
  readonly ids?: readonly number[];
  /**
   * Every outcome in the reply, none sent ahead as a notice: for a runner that
   * does not listen for notices (the BullMQ worker process), at the price of
   * losing a settle-mode batch's finished outcomes if the thread dies.
   */
  readonly inline?: true;
  /**
   * Settle mode: outcomes may wait this many ms in the worker and travel
   * together (`OutcomesNoticeWire`) rather than one notice per task.
   */
  readonly gather?: number;
}

/**
 * Sent to every worker when a run that offloaded values has ended and its
 * store entries are evicted: the worker drops what it cached of them and,
 * for `bytes` worth collecting, collects garbage, so their memory is freed
 * now. (Between tasks a Piscina worker blocks in `Atomics.wait`: nothing it
 * scheduled for itself would run before its next task.)
 */
export interface ReleaseMessage {
  readonly type: 'release';
  /** What the run offloaded, in bytes. */
  readonly bytes: number;
}

/** Nothing to do: posting it makes Piscina start a worker for the batches queued behind it. */
export interface ProbeMessage {
  readonly type: 'probe';
}

/** What the caller posts to a pool worker (through Piscina's `run`). */
export type WorkerMessage = BatchMessage | ReleaseMessage | ProbeMessage;

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

/** Outcomes of consecutive tasks from `from` on, gathered (`BatchMessage.gather`). */
export interface OutcomesNoticeWire {
  readonly __skeinNotice: 'outcomes';
  readonly tag: number;
  readonly from: number;
  readonly values: unknown[];
  readonly errors: TaskErrorWire[];
}

/**
 * An error that escaped a task (an uncaught exception or unhandled rejection
 * from a callback) after the task's batch was over, or that no task can be
 * named for. `error` is an `UncaughtTaskError`.
 */
export interface FaultNoticeWire {
  readonly __skeinNotice: 'fault';
  readonly error: ErrorWire;
  /** The batch and offset it is traced to, when it is. */
  readonly tag?: number;
  readonly offset?: number;
}

/**
 * The worker could not post its reply to the batch `tag` (structured clone
 * refused a result that the walk in task/cloneable.ts let through) and is
 * exiting, since the pool would otherwise wait for that reply forever.
 */
export interface ReplyFailedNoticeWire {
  readonly __skeinNotice: 'reply-failed';
  readonly tag: number;
  readonly offset: number;
  readonly error: ErrorWire;
}

/** What a pool worker posts on its parent port, beside the pool's own replies. */
export type WorkerNoticeWire = OutcomeNoticeWire | OutcomesNoticeWire | FaultNoticeWire | ReplyFailedNoticeWire;
