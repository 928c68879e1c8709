/**
 * The flags a worker thread should start with: the caller's, minus tsx's
 * preload. A worker that inherits it loads tsx (about 200 ms more per
 * thread, three times a bare start) yet gets none of its hooks on Node 20
 * (nodejs/node#47747); TypeScript task modules register tsx in the worker
 * themselves (task/compile.ts). Undefined when there is nothing to take out:
 * the worker then inherits the caller's flags as usual.
 *
 * Flags given explicitly are validated, unlike inherited ones: see
 * `withWorkerFlags`.
 */
function workerExecArgv(): string[] | undefined {
  const argv = process.execArgv;
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const [name, inline] = flag.split('=', 2) as [string, string | undefined];
    const isPreload = name === '--import' || name === '--require' || name === '-r' || name === '--loader' || name === '--experimental-loader';
    const value = isPreload ? (inline ?? argv[i + 1]) : undefined;
    if (value !== undefined && /[\\/]tsx[\\/]dist[\\/]/.test(value)) {
      if (inline === undefined) i++;
      continue;
    }
    kept.push(flag);
  }
  return kept.length === argv.length ? undefined : kept;
}

/**
 * Starts worker threads with `start(execArgv)`: the flags of
 * `workerExecArgv`, or undefined to inherit the caller's. If some flags left
 * are per-process (`--expose-gc`), a worker given them explicitly throws
 * `ERR_WORKER_INVALID_EXEC_ARGV` before its thread runs; it is started again
 * with none (V8's flags are process-wide anyway).
 */
export function withWorkerFlags<T>(start: (execArgv: string[] | undefined) => T): T {
  const execArgv = workerExecArgv();
  if (execArgv === undefined) return start(undefined);
  try {
    return start(execArgv);
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
    return start([]);
  }
}
