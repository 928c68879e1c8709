import { Piscina } from 'piscina';
import { isInvalidExecArgv, workerExecArgv } from '../../core/worker-flags.js';

/**
 * A pool whose workers start without tsx's preload (core/worker-flags.ts).
 * Piscina starts its first workers in its constructor, so flags a worker
 * may not be given explicitly fail here, before any thread ran: then the
 * workers get none.
 */
export function startPool(options: ConstructorParameters<typeof Piscina>[0] & object): Piscina {
  const execArgv = workerExecArgv();
  if (execArgv === undefined) return new Piscina(options);
  try {
    return new Piscina({ ...options, execArgv });
  } catch (error) {
    if (!isInvalidExecArgv(error)) throw error;
    return new Piscina({ ...options, execArgv: [] });
  }
}
