import { SkeinError, registerErrorClass } from '../core/errors.js';

/** A task ran longer than `timeout`; the worker running it was terminated and replaced. */
export class TaskTimeoutError extends SkeinError {
  readonly taskIndex: number;
  readonly timeout: number;
  /** The task's offset in its batch: a backend names the task by it, the caller turns it into `taskIndex`. */
  readonly offset: number | undefined;

  /** `offset` alone (`taskIndex` undefined): raised by a backend, which knows tasks only by offset. */
  constructor(taskIndex: number | undefined, timeout: number, offset?: number) {
    const who = taskIndex === undefined ? `The task at offset ${offset} of its batch` : `Task ${taskIndex}`;
    super(`${who} did not finish within ${timeout} ms; its worker was terminated and replaced.`, {
      code: 'ERR_SKEIN_TASK_TIMEOUT',
    });
    this.taskIndex = taskIndex ?? -1;
    this.timeout = timeout;
    this.offset = offset;
  }
}

/** The worker running a task died (process.exit, an uncaught error, out of memory); the pool replaced it. */
export class WorkerCrashedError extends SkeinError {
  readonly taskIndex: number;
  /** The task's offset in its batch: a backend names the task by it, the caller turns it into `taskIndex`. */
  readonly offset: number | undefined;

  /** `offset` alone (`taskIndex` undefined): raised by a backend, which knows tasks only by offset. */
  constructor(taskIndex: number | undefined, cause: unknown, offset?: number) {
    const reason = typeof cause === 'object' && cause !== null && 'message' in cause ? String(cause.message) : String(cause);
    const who = taskIndex === undefined ? `the task at offset ${offset} of its batch` : `task ${taskIndex}`;
    super(`The worker running ${who} died: ${reason}. The pool replaced it.`, {
      code: 'ERR_SKEIN_WORKER_CRASHED',
      cause,
    });
    this.taskIndex = taskIndex ?? -1;
    this.offset = offset;
  }
}

/**
 * Workers keep dying as they start, before running any batch: the tasks
 * waiting for one fail with this instead of waiting for ever.
 */
export class WorkerStartError extends SkeinError {
  /** Workers that died at start since a batch last ran. */
  readonly failures: number;

  constructor(failures: number, resourceLimits: object | undefined, cause: unknown) {
    const reason = typeof cause === 'object' && cause !== null && 'message' in cause ? String(cause.message) : String(cause);
    const hint = resourceLimits
      ? ` Check \`resourceLimits\` ${JSON.stringify(resourceLimits)}: a worker may need more than that to start.`
      : '';
    super(`No worker could start: ${failures} died in a row before running a task (last: ${reason}).${hint}`, {
      code: 'ERR_SKEIN_WORKER_START',
      cause,
    });
    this.failures = failures;
  }
}

/** `run()` on a Parallel that was closed. */
export class ParallelClosedError extends SkeinError {
  constructor() {
    super('This Parallel is closed: create a new one to run more tasks.', { code: 'ERR_SKEIN_CLOSED' });
  }
}

// Rebuilt as these classes when they come back from another thread.
registerErrorClass(TaskTimeoutError, 'ERR_SKEIN_TASK_TIMEOUT');
registerErrorClass(WorkerCrashedError, 'ERR_SKEIN_WORKER_CRASHED');
registerErrorClass(WorkerStartError, 'ERR_SKEIN_WORKER_START');
registerErrorClass(ParallelClosedError, 'ERR_SKEIN_CLOSED');
