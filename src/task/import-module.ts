import { AsyncLocalStorage } from 'node:async_hooks';
import { TaskModuleError } from './errors.js';

// The task modules whose import the running code descends from, and the
// imports of this thread that have not settled yet.
const chain = new AsyncLocalStorage<readonly string[]>();
const unsettled = new Map<string, number>();

/**
 * `import(url)` for task modules, refusing the one call that can never
 * settle: code run by the import of `url`, before it settled, asking for
 * `url` again. That is a module whose top-level `await parallel(...)` runs in
 * a worker (inline there) and needs a task from the module itself.
 */
export function importModule(url: string): Promise<Record<string, unknown>> {
  const outer = chain.getStore() ?? [];
  if (unsettled.has(url) && outer.includes(url)) {
    return Promise.reject(
      new TaskModuleError(
        `Module ${url} runs tasks from itself while it is being imported, which can never finish: ` +
          'a worker imports the module to run its tasks, and the module waits on a run at top level. ' +
          'Start runs at import only in the main thread, `if (isMainThread) { ... }` (from node:worker_threads), or from another module.',
        url,
      ),
    );
  }
  unsettled.set(url, (unsettled.get(url) ?? 0) + 1);
  const settled = (): void => {
    const n = unsettled.get(url)! - 1;
    if (n === 0) unsettled.delete(url);
    else unsettled.set(url, n);
  };
  const imported = chain.run([...outer, url], () => import(url) as Promise<Record<string, unknown>>);
  imported.then(settled, settled);
  return imported;
}
