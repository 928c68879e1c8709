/**
 * The flags a worker thread should start with: the caller's, minus tsx's
 * preload. A worker that inherits it loads tsx (about 200 ms more per
 * thread, three times a bare start) yet gets none of its hooks on Node 20
 * (nodejs/node#47747); TypeScript task modules register tsx in the worker
 * themselves (task/compile.ts). Undefined when there is nothing to take out:
 * the worker then inherits the caller's flags as usual.
 *
 * Flags given explicitly are validated, unlike inherited ones: if some of
 * those left are per-process (`--expose-gc`), starting a worker with them
 * throws `ERR_WORKER_INVALID_EXEC_ARGV`, and the caller retries with none
 * (`isInvalidExecArgv`); V8's flags are process-wide anyway.
 */
export function workerExecArgv(): string[] | undefined {
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

/** Whether starting a worker failed on flags it may not be given explicitly. */
export function isInvalidExecArgv(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_WORKER_INVALID_EXEC_ARGV';
}
