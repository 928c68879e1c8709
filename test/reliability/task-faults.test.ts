// What happens when a task misbehaves outside its own return path: a callback
// or promise it leaves behind throws later, its worker dies mid-batch, or it
// returns something structured clone refuses. Real worker threads throughout.
import { afterAll, describe, expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers.js';
import { Parallel, SerializationError, TaskTimeoutError, UncaughtTaskError, WorkerCrashedError, delayed } from 'skein';

const opened: Parallel<'raise' | 'settle'>[] = [];
function pool<E extends 'raise' | 'settle' = 'raise'>(options: ConstructorParameters<typeof Parallel<E>>[0]): Parallel<E> {
  const par = new Parallel<E>(options);
  opened.push(par as Parallel<'raise' | 'settle'>);
  return par;
}
afterAll(() => Promise.all(opened.map((p) => p.close())));

// Each returns its index at once and leaves something behind that fails `ms` later.
const leaveTimer = (i: number, ms = 20) => {
  setTimeout(() => {
    throw new Error(`late timer from ${i}`);
  }, ms);
  return i;
};
const leaveRejection = (i: number, ms = 20) => {
  setTimeout(() => void Promise.reject(new Error(`late rejection from ${i}`)), ms);
  return i;
};
// Long enough that the run that left it is surely over when it fires.
const AFTER_RUN = 300;
/** An innocent task that awaits long enough for what others left behind to fire in its worker. */
const slow = async (i: number) => {
  await new Promise((r) => setTimeout(r, 150));
  return i;
};
const threadId = () => (process.getBuiltinModule('node:worker_threads') as typeof import('node:worker_threads')).threadId;
/** The pool's thread ids: tasks slow enough that every worker takes some. */
async function threadsOf(par: Parallel<'raise' | 'settle'>): Promise<Set<number>> {
  const slowId = async () => {
    await new Promise((r) => setTimeout(r, 30));
    return (process.getBuiltinModule('node:worker_threads') as typeof import('node:worker_threads')).threadId;
  };
  const out = await par.run(Array.from({ length: 8 }, () => delayed(slowId)()));
  return new Set(out.map((r) => (typeof r === 'number' ? r : (r as PromiseFulfilledResult<number>).value)));
}

/** The next 'workerError' of `par`, or a rejection if none comes within `ms` (a bound, not a timing assertion). */
function nextWorkerError(par: Parallel<'raise' | 'settle'>, ms = 5000): Promise<Error> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      par.off('workerError', onError);
      reject(new Error(`no 'workerError' within ${ms} ms: the error was lost`));
    }, ms);
    const onError = (error: Error): void => {
      clearTimeout(timer);
      resolve(error);
    };
    par.once('workerError', onError);
  });
}

describe('errors that escape a task after it returned', () => {
  test.each([
    ['a timer callback', leaveTimer, /late timer from 0/, 'uncaughtException'],
    ['a promise rejection', leaveRejection, /late rejection from 0/, 'unhandledRejection'],
  ])('%s fails the task that left it, not the task its worker runs then (fail-fast)', async (_label, leave, reason, source) => {
    const par = pool({ nJobs: 2, batchSize: 3 });
    // One batch: tasks 1 and 2 run on the worker where task 0's leftover fires.
    const error = (await par.run([delayed(leave)(0), delayed(slow)(1), delayed(slow)(2)]).catch((e: unknown) => e)) as UncaughtTaskError;
    expect(error).toBeInstanceOf(UncaughtTaskError);
    expect(error).not.toBeInstanceOf(WorkerCrashedError);
    expect(error.taskIndex).toBe(0);
    expect(error.afterReturn).toBe(true);
    expect(error.source).toBe(source);
    expect(error.code).toBe('ERR_SKEIN_UNCAUGHT_TASK_ERROR');
    expect(error.message).toMatch(/Task 0 had finished when/);
    expect((error.cause as Error).message).toMatch(reason);
    // The stack of the callback itself, naming the task's function.
    expect((error.cause as Error).stack).toMatch(/task-faults\.test\.ts:\d+:\d+/);
  });

  test.each([
    ['a timer callback', leaveTimer],
    ['a promise rejection', leaveRejection],
  ])("%s: with errors: 'settle' the task that left it is rejected, its batch-mates fulfilled", async (_label, leave) => {
    const par = pool<'settle'>({ nJobs: 2, batchSize: 3, errors: 'settle' });
    const out = await par.run([delayed(leave)(0), delayed(slow)(1), delayed(slow)(2)]);
    expect(out.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    const reason = (out[0] as PromiseRejectedResult).reason as UncaughtTaskError;
    expect(reason).toBeInstanceOf(UncaughtTaskError);
    expect(reason.taskIndex).toBe(0);
    expect(out.slice(1).map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual([1, 2]);
  });

  test("across batches: run() with errors: 'settle' reports the task that left it as rejected, never an innocent one", async () => {
    const par = pool<'settle'>({ nJobs: 2, batchSize: 1, errors: 'settle' });
    const errors: Error[] = [];
    par.on('workerError', (e) => errors.push(e));
    // Task 0's batch is over when its timer fires, during a later batch of the same run.
    const out = await par.run([delayed(leaveTimer)(0), ...[1, 2, 3, 4, 5].map((i) => delayed(slow)(i))]);
    expect(out.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    const reason = (out[0] as PromiseRejectedResult).reason as UncaughtTaskError;
    expect(reason).toBeInstanceOf(UncaughtTaskError);
    expect(reason.taskIndex).toBe(0);
    expect(reason.afterReturn).toBe(true);
    expect(errors).toEqual([]);
  });

  test("iter() with errors: 'settle' already yielded the task: the error comes as a 'workerError' naming it", async () => {
    const par = pool<'settle'>({ nJobs: 2, batchSize: 1, errors: 'settle' });
    const reported = nextWorkerError(par);
    const seen: PromiseSettledResult<number>[] = [];
    for await (const r of par.iter([delayed(leaveTimer)(0), ...[1, 2, 3, 4, 5].map((i) => delayed(slow)(i))])) seen.push(r);
    expect(seen.map((r) => r.status)).toEqual(Array(6).fill('fulfilled'));
    const error = (await reported) as UncaughtTaskError;
    expect(error).toBeInstanceOf(UncaughtTaskError);
    expect(error.taskIndex).toBe(0);
  });

  test('an error left by an earlier run does not fail the next run: it is reported on its own', async () => {
    const par = pool({ nJobs: 2, batchSize: 1 });
    const reported = nextWorkerError(par);
    expect(await par.run([delayed(leaveTimer)(0, AFTER_RUN)])).toEqual([0]);
    // Both workers busy with innocent tasks while the leftover fires.
    expect(await par.run([1, 2, 3, 4, 5, 6, 7, 8].map((i) => delayed(slow)(i)))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const error = (await reported) as UncaughtTaskError;
    expect(error).toBeInstanceOf(UncaughtTaskError);
    expect(error.taskIndex).toBe(0);
    expect(error.message).toMatch(/late timer from 0/);
  });

  test.each([
    ['a timer callback', leaveTimer],
    ['a promise rejection', leaveRejection],
  ])('%s on an idle worker is not lost: it is reported as a workerError', async (_label, leave) => {
    const par = pool({ nJobs: 2 });
    const reported = nextWorkerError(par);
    expect(await par.run([delayed(leave)(0, AFTER_RUN)])).toEqual([0]);
    // No other task runs: the worker that holds the leftover is idle when it fires.
    const error = (await reported) as UncaughtTaskError;
    expect(error).toBeInstanceOf(UncaughtTaskError);
    expect(error.taskIndex).toBe(0);
    expect(error.afterReturn).toBe(true);
  });

  test('without a workerError listener it is printed as a process warning, with the stack of what threw', async () => {
    const result = await runNode([fileURLToPath(new URL('../fixtures/late-error.mjs', import.meta.url))]);
    expect(result.timedOut).toBe(false);
    expect(result.stdout.trim()).toBe('warned');
    expect(result.stderr).toMatch(/\[ERR_SKEIN_UNCAUGHT_TASK_ERROR\] UncaughtTaskError: Task 0 had finished when a callback it left behind threw \(uncaught exception\): late timer from 0/);
    expect(result.stderr).toMatch(/Error: late timer from 0\n\s+at .*late-error\.mjs:8:11\)/);
    expect(result.code).toBe(0);
  });

  test('a leftover interval that keeps throwing is reported ten times, then no more', async () => {
    const par = pool({ nJobs: 2 });
    const seen: Error[] = [];
    let tenth: () => void = () => {};
    const gotTen = new Promise<void>((resolve) => (tenth = resolve));
    par.on('workerError', (e) => {
      seen.push(e);
      if (seen.length === 10) tenth();
    });
    const leaveInterval = (i: number) => {
      let k = 0;
      setInterval(() => {
        throw new Error(`tick ${k++}`);
      }, 5);
      return i;
    };
    expect(await par.run([delayed(leaveInterval)(0)])).toEqual([0]);
    await gotTen;
    expect(seen[9]!.message).toMatch(/tick 9 Further errors from task 0 in this worker are not reported\.$/);
    // The interval goes on firing while both workers run more tasks.
    expect(await par.run([1, 2, 3, 4].map((i) => delayed(slow)(i)))).toEqual([1, 2, 3, 4]);
    expect(seen.length).toBe(10);
  });

  test('an error from a callback that cannot be traced to a task blames no task', async () => {
    const par = pool({ nJobs: 2, batchSize: 3 });
    const reported = nextWorkerError(par);
    // queueMicrotask callbacks run outside the task's async context.
    const untraceable = (i: number) => {
      queueMicrotask(() => {
        throw new Error('from nowhere');
      });
      return i;
    };
    expect(await par.run([delayed(untraceable)(0), delayed(slow)(1), delayed(slow)(2)])).toEqual([0, 1, 2]);
    const error = (await reported) as UncaughtTaskError;
    expect(error).toBeInstanceOf(UncaughtTaskError);
    expect(error.taskIndex).toBeUndefined();
    expect(error.message).toMatch(/outside any running task threw \(uncaught exception\): from nowhere/);
    expect((error.cause as Error).stack).toMatch(/task-faults\.test\.ts:\d+:\d+/);
  });
});

describe("errors: 'settle' when a worker dies mid-batch", () => {
  const counted = (counts: Int32Array, i: number, bad: number) => {
    Atomics.add(counts, i, 1);
    if (i === bad) process.exit(7);
    return i * 10;
  };

  test.each([4, 8])('tasks that finished before the crash keep their results and run once (batchSize %d)', async (batchSize) => {
    const par = pool<'settle'>({ nJobs: 2, batchSize, errors: 'settle' });
    const counts = new Int32Array(new SharedArrayBuffer(8 * 4));
    const out = await par.run(Array.from({ length: 8 }, (_, i) => delayed(counted)(counts, i, 5)));
    expect(out.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(out.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual([0, 10, 20, 30, 40, 60, 70]);
    const reason = (out[5] as PromiseRejectedResult).reason as WorkerCrashedError;
    expect(reason).toBeInstanceOf(WorkerCrashedError);
    expect(reason.taskIndex).toBe(5);
    // Every task ran exactly once: none that had finished was run again.
    expect([...counts]).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  });

  test('a task past the timeout: the tasks before it in its batch are not run again', async () => {
    const par = pool<'settle'>({ nJobs: 2, batchSize: 6, errors: 'settle', timeout: 500 });
    const counts = new Int32Array(new SharedArrayBuffer(6 * 4));
    const hangs = (counts: Int32Array, i: number) => {
      Atomics.add(counts, i, 1);
      if (i === 3) for (;;);
      return i;
    };
    const out = await par.run(Array.from({ length: 6 }, (_, i) => delayed(hangs)(counts, i)));
    expect(out.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((out[3] as PromiseRejectedResult).reason).toBeInstanceOf(TaskTimeoutError);
    expect([...counts]).toEqual([1, 1, 1, 1, 1, 1]);
  });

  test('large results of finished tasks survive the crash too', async () => {
    const par = pool<'settle'>({ nJobs: 2, batchSize: 3, errors: 'settle' });
    const counts = new Int32Array(new SharedArrayBuffer(3 * 4));
    const big = (counts: Int32Array, i: number) => {
      Atomics.add(counts, i, 1);
      if (i === 2) process.exit(1);
      return { i, data: new Float64Array(200_000).fill(i), rows: Array.from({ length: 20_000 }, (_, k) => ({ k, name: `r${k}` })) };
    };
    const out = await par.run([0, 1, 2].map((i) => delayed(big)(counts, i)));
    expect([...counts]).toEqual([1, 1, 1]);
    expect(out.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    const second = (out[1] as PromiseFulfilledResult<ReturnType<typeof big>>).value;
    expect(second.i).toBe(1);
    expect(second.data.length).toBe(200_000);
    expect(second.data[199_999]).toBe(1);
    expect(second.rows[19_999]).toEqual({ k: 19_999, name: 'r19999' });
  });
});

describe('results structured clone cannot carry', () => {
  const results: [string, () => unknown, string][] = [
    ['a Proxy', () => ({ x: new Proxy({ a: 1 }, {}) }), 'result.x'],
    ['a Proxy at the top', () => new Proxy([1, 2], {}), 'result'],
    ['a MessagePort', () => ({ x: new MessageChannel().port1 }), 'result.x'],
    [
      'an object with a throwing getter',
      () => ({
        x: {
          get y() {
            throw new Error('no y');
          },
        },
      }),
      'result.x.y',
    ],
  ];

  test.each(results)('%s fails its task with SerializationError naming the path; the worker keeps serving (fail-fast)', async (_label, make, path) => {
    const par = pool({ nJobs: 2, batchSize: 1 });
    const before = await threadsOf(par);
    expect(before.size).toBe(2);
    const error = (await par.run([delayed(make)()]).catch((e: unknown) => e)) as SerializationError;
    expect(error).toBeInstanceOf(SerializationError);
    expect(error).not.toBeInstanceOf(WorkerCrashedError);
    expect(error.path).toBe(path);
    expect(error.message).toContain(`\`${path}\``);
    expect((error as unknown as { taskIndex: number }).taskIndex).toBe(0);
    // No worker was replaced: the same two threads serve on.
    expect(await threadsOf(par)).toEqual(before);
  });

  test.each(results)("%s: with errors: 'settle' the task is rejected with SerializationError, the others fulfilled, the worker kept", async (_label, make, path) => {
    const par = pool<'settle'>({ nJobs: 2, batchSize: 3, errors: 'settle' });
    const before = await threadsOf(par);
    expect(before.size).toBe(2);
    const out = await par.run([delayed(threadId)(), delayed(make)(), delayed(threadId)()]);
    expect(out.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const reason = (out[1] as PromiseRejectedResult).reason as SerializationError;
    expect(reason).toBeInstanceOf(SerializationError);
    expect(reason.path).toBe(path);
    // One batch, one worker: the tasks after the bad result ran on the same thread as the one before it.
    const ids = [out[0], out[2]].map((r) => (r as PromiseFulfilledResult<number>).value);
    expect(ids[0]).toBe(ids[1]);
    expect(await threadsOf(par)).toEqual(before);
  });
});

describe('a result only structured clone itself refuses', () => {
  test('fails its task with SerializationError, never a hang or a WorkerCrashedError; the pool carries on', async () => {
    const par = pool({ nJobs: 2 });
    // A detached buffer passes every check short of cloning it.
    const detached = () => {
      const buffer = new ArrayBuffer(8);
      structuredClone(buffer, { transfer: [buffer] });
      return { ok: 1, buffer };
    };
    const error = (await par.run([delayed(detached)()]).catch((e: unknown) => e)) as SerializationError;
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.path).toBe('result.buffer');
    expect(error.message).toMatch(/detached/);
    expect((error as unknown as { taskIndex: number }).taskIndex).toBe(0);
    expect(await par.run([1, 2].map((x) => delayed((x: number) => x + 1)(x)))).toEqual([2, 3]);
  });
});
