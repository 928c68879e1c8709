import { SkeinError, registerErrorClass } from '../core/errors.js';

/** The worker of a remote environment died (process.exit, an uncaught error, out of memory under `resourceLimits`). */
export class EnvCrashedError extends SkeinError {
  readonly env: string;

  constructor(env: string, cause: unknown) {
    const reason = typeof cause === 'object' && cause !== null && 'message' in cause ? String(cause.message) : String(cause);
    super(`The worker of remote environment "${env}" died: ${reason}. Its values are lost; create a new environment.`, {
      code: 'ERR_SKEIN_ENV_CRASHED',
      cause,
    });
    this.env = env;
  }
}

/** An operation on a remote environment that was closed. */
export class EnvClosedError extends SkeinError {
  readonly env: string;

  constructor(env: string) {
    super(`Remote environment "${env}" is closed: create a new one to run more operations.`, { code: 'ERR_SKEIN_ENV_CLOSED' });
    this.env = env;
  }
}

/** A handle used after `release()` (or after its `using` block ended). */
export class HandleReleasedError extends SkeinError {
  readonly env: string;
  readonly handleId: number;

  constructor(env: string, handleId: number) {
    super(`Handle #${handleId} of remote environment "${env}" was released: its value no longer exists.`, {
      code: 'ERR_SKEIN_HANDLE_RELEASED',
    });
    this.env = env;
    this.handleId = handleId;
  }
}

// Rebuilt as these classes when they come back from another thread.
registerErrorClass(EnvCrashedError, 'ERR_SKEIN_ENV_CRASHED');
registerErrorClass(EnvClosedError, 'ERR_SKEIN_ENV_CLOSED');
registerErrorClass(HandleReleasedError, 'ERR_SKEIN_HANDLE_RELEASED');
