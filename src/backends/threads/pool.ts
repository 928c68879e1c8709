import { Piscina } from 'piscina';
import { withWorkerFlags } from '../../core/worker-flags.js';

/**
 * A pool whose workers start without tsx's preload (core/worker-flags.ts).
 * Piscina starts its first workers in its constructor, so flags a worker
 * may not be given explicitly fail there, before any thread ran.
 */
export function startPool(options: ConstructorParameters<typeof Piscina>[0] & object): Piscina {
  return withWorkerFlags((execArgv) => new Piscina(execArgv === undefined ? options : { ...options, execArgv }));
}
