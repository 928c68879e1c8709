import { afterAll, describe, expect, test } from '@jest/globals';
import { captureStderr } from '../helpers.js';
import { types } from 'node:util';
import {
  Parallel,
  ParallelClosedError,
  TaskTimeoutError,
  UncaughtTaskError,
  WorkerCrashedError,
  delayed,
  parallel,
  runBatch,
  decodeOutcome,
  type Backend,
  type BatchOutcome,
  type Batch,
} from 'skein';
import { decodeError } from '#src/core/error-wire.js';
import { restoreResults } from '#src/task/restore.js';

const square = (x: number) => x * x;
const sleep = async (ms: number, value: unknown) => {
  await new Promise((r) => setTimeout(r, ms));
  return value;
};
const spin = (ms: number, value: unknown) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
  return value;
};
const count = (counter: Int32Array, ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
  return Atomics.add(counter, 0, 1);
};
const newCounter = () => new Int32Array(new SharedArrayBuffer(4));

const shared = new Parallel({ nJobs: 2 });
afterAll(() => shared.close());

/**
 * The documented backend extension point, used here to observe batching: it
 * runs each batch for real (wire form → runBatch) and records its size.
 */
class RecordingBackend implements Backend {
  readonly name = 'recording';
  readonly concurrency = 2;
  readonly sizes: number[] = [];
  async runBatch(batch: Batch): Promise<BatchOutcome> {
    this.sizes.push(batch.size);
    const wire = structuredClone(batch.wire());
    return decodeOutcome(structuredClone(await runBatch(wire)));
  }
  async close() {}
}

describe('results', () => {
  test('run() returns results in input order', async () => {
    const xs = Array.from({ length: 200 }, (_, i) => i);
    expect(await shared.run(xs.map((x) => delayed(square)(x)))).toEqual(xs.map((x) => x * x));
  });

  test('parallel() is a one-shot run', async () => {
    expect(await parallel([1, 2, 3].map((x) => delayed(square)(x)), { nJobs: 2 })).toEqual([1, 4, 9]);
  });

  test('map() is sugar for run(xs.map(delayed(fn)))', async () => {
    expect(await shared.map(square, [4, 5])).toEqual([16, 25]);
    async function* items() {
      yield 6;
      yield 7;
    }
    expect(await shared.map(square, items())).toEqual([36, 49]);
  });

  test('async task functions are awaited in the worker', async () => {
    expect(await shared.run([delayed(sleep)(20, 'a'), delayed(sleep)(1, 'b')])).toEqual(['a', 'b']);
  });

  test('binary data comes back as real typed arrays', async () => {
    const make = (n: number) => new Float64Array(n).fill(1.5);
    const [out] = await shared.run([delayed(make)(4)]);
    expect(types.isFloat64Array(out)).toBe(true);
    expect(Array.from(out as Float64Array)).toEqual([1.5, 1.5, 1.5, 1.5]);
  });

  test('tasks may mix functions in one run', async () => {
    const neg = (x: number) => -x;
    expect(await shared.run([delayed(square)(3), delayed(neg)(3), delayed(square)(4)])).toEqual([9, -3, 16]);
  });

  test('an empty input resolves to an empty list', async () => {
    expect(await shared.run([])).toEqual([]);
  });

  test('items that are not delayed calls are refused', async () => {
    await expect(shared.run([delayed(square)(1), 5 as never])).rejects.toThrow(/Expected task 1 to be a delayed call/);
    await expect(shared.run(42 as never)).rejects.toThrow(/iterable/);
  });
});

describe('iter()', () => {
  test('ordered (default) yields in input order', async () => {
    const got: unknown[] = [];
    for await (const r of shared.iter([delayed(sleep)(60, 0), delayed(sleep)(1, 1), delayed(sleep)(1, 2)])) got.push(r);
    expect(got).toEqual([0, 1, 2]);
  });

  test('unordered yields in completion order', async () => {
    const got: unknown[] = [];
    const tasks = [delayed(sleep)(300, 'slow'), delayed(sleep)(1, 'fast')];
    for await (const r of shared.iter(tasks, { ordered: false })) got.push(r);
    expect(got).toEqual(['fast', 'slow']);
  });

  test('an endless generator is consumed lazily and a break ends the run', async () => {
    let pulled = 0;
    function* endless() {
      for (let i = 0; ; i++) {
        pulled++;
        yield delayed(square)(i);
      }
    }
    const got: number[] = [];
    for await (const r of shared.iter(endless())) {
      got.push(r);
      if (got.length === 1000) break;
    }
    expect(got[999]).toBe(999 * 999);
    const pulledAtBreak = pulled;
    expect(pulledAtBreak).toBeLessThan(200_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(pulled).toBe(pulledAtBreak);
    // The pool is still usable after the break.
    expect(await shared.run([delayed(square)(9)])).toEqual([81]);
  });

  test('async iterables are accepted', async () => {
    async function* gen() {
      for (let i = 0; i < 5; i++) yield delayed(square)(i);
    }
    expect(await shared.run(gen())).toEqual([0, 1, 4, 9, 16]);
  });

  test('an error thrown by the task source rejects the run', async () => {
    function* broken() {
      yield delayed(square)(1);
      throw new Error('source broke');
    }
    await expect(shared.run(broken())).rejects.toThrow('source broke');
  });
});

describe('batching', () => {
  test("batchSize 'auto' groups tiny tasks, growing the batches, and shrinks them at the end", async () => {
    // A function of its own: one-shot calls share the state of the functions they ran before.
    const cube = (x: number) => x * x * x;
    const backend = new RecordingBackend();
    const n = 20_000;
    const out = await parallel(Array.from({ length: n }, (_, i) => delayed(cube)(i)), { backend });
    expect(out[n - 1]).toBe((n - 1) ** 3);
    expect(backend.sizes.reduce((a, b) => a + b, 0)).toBe(n);
    expect(backend.sizes[0]).toBe(1);
    const biggest = Math.max(...backend.sizes);
    expect(biggest).toBeGreaterThan(100);
    expect(backend.sizes.at(-1)!).toBeLessThan(biggest);
  });

  test('a run starts from the batch size the last run of the same function reached, per function', async () => {
    const double = (x: number) => 2 * x;
    const triple = (x: number) => 3 * x;
    const backend = new RecordingBackend();
    await using par = new Parallel({ backend });
    await par.run(Array.from({ length: 5000 }, (_, i) => delayed(double)(i)));
    expect(backend.sizes[0]).toBe(1);
    const reached = Math.max(...backend.sizes);
    expect(reached).toBeGreaterThan(100);
    backend.sizes.length = 0;
    expect(await par.map(double, Array.from({ length: 5000 }, (_, i) => i))).toHaveLength(5000);
    expect(backend.sizes[0]).toBeGreaterThan(100);
    backend.sizes.length = 0;
    // Another function has its own state: its first batch is one task.
    await par.run(Array.from({ length: 100 }, (_, i) => delayed(triple)(i)));
    expect(backend.sizes[0]).toBe(1);
    // A new Parallel starts afresh.
    const other = new RecordingBackend();
    await using fresh = new Parallel({ backend: other });
    await fresh.run(Array.from({ length: 100 }, (_, i) => delayed(double)(i)));
    expect(other.sizes[0]).toBe(1);
  });

  test('one-shot parallel() calls keep the batch size by function', async () => {
    const halve = (x: number) => x / 2;
    const first = new RecordingBackend();
    await parallel(Array.from({ length: 5000 }, (_, i) => delayed(halve)(i)), { backend: first });
    expect(first.sizes[0]).toBe(1);
    const second = new RecordingBackend();
    await parallel(Array.from({ length: 5000 }, (_, i) => delayed(halve)(i)), { backend: second });
    expect(second.sizes[0]).toBeGreaterThan(100);
  });

  test('an array of tasks is cut into at least 8 batches per worker, whatever size was learned', async () => {
    const inc = (x: number) => x + 1;
    const backend = new RecordingBackend();
    await using par = new Parallel({ backend });
    await par.run(Array.from({ length: 100_000 }, (_, i) => delayed(inc)(i)));
    expect(Math.max(...backend.sizes)).toBeGreaterThan(5000);
    backend.sizes.length = 0;
    await par.run(Array.from({ length: 40_000 }, (_, i) => delayed(inc)(i)));
    // 2 workers: 40,000 / 16.
    expect(Math.max(...backend.sizes)).toBeLessThanOrEqual(2500);
    expect(backend.sizes.reduce((a, b) => a + b, 0)).toBe(40_000);
  });

  test('a short input of tasks known to be quick goes in one batch per worker, not a task per message', async () => {
    const dec = (x: number) => x - 1;
    const backend = new RecordingBackend();
    await using par = new Parallel({ backend });
    await par.run(Array.from({ length: 20_000 }, (_, i) => delayed(dec)(i)));
    backend.sizes.length = 0;
    expect(await par.run(Array.from({ length: 8 }, (_, i) => delayed(dec)(i)))).toEqual([-1, 0, 1, 2, 3, 4, 5, 6]);
    expect(backend.sizes).toEqual([4, 4]);
  });

  test('a fast first batch sizes the next ones at once, not by doubling', async () => {
    const negate = (x: number) => -x;
    const backend = new RecordingBackend();
    await parallel(Array.from({ length: 20_000 }, (_, i) => delayed(negate)(i)), { backend, preDispatch: 1 });
    // One batch in flight at a time: by doubling the third batch would hold 4 tasks at most.
    expect(backend.sizes[0]).toBe(1);
    expect(Math.max(...backend.sizes.slice(0, 3))).toBeGreaterThan(4);
  });

  test('batchSize 1 sends one task per message', async () => {
    const backend = new RecordingBackend();
    await parallel(Array.from({ length: 300 }, (_, i) => delayed(square)(i)), { backend, batchSize: 1 });
    expect(backend.sizes).toEqual(new Array(300).fill(1));
  });

  test('a task error through a backend of ours keeps its class and message', async () => {
    const backend = new RecordingBackend();
    const fail = (x: number) => {
      if (x === 1) throw new RangeError(`bad ${x}`);
      return x;
    };
    const error = await parallel([0, 1, 2].map((x) => delayed(fail)(x)), { backend }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as RangeError).message).toBe('bad 1');
  });

  test('a fixed batchSize is honoured', async () => {
    const backend = new RecordingBackend();
    await parallel(Array.from({ length: 25 }, (_, i) => delayed(square)(i)), { backend, batchSize: 10 });
    expect(backend.sizes).toEqual([10, 10, 5]);
  });
});

describe('errors', () => {
  test("a task's error keeps its class, message, worker stack, cause, fields, and gains taskIndex", async () => {
    function failingTask(x: number) {
      if (x === 2) {
        class ValidationError extends Error {
          field = 'x';
        }
        const e = new ValidationError(`bad value ${x}`, { cause: new RangeError('too big') });
        e.name = 'ValidationError';
        throw e;
      }
      return x;
    }
    const error = (await shared.run([0, 1, 2, 3].map((x) => delayed(failingTask)(x))).catch((e: unknown) => e)) as Error & {
      taskIndex: number;
      field: string;
      cause: Error;
    };
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ValidationError');
    expect(error.message).toBe('bad value 2');
    expect(error.taskIndex).toBe(2);
    expect(error.field).toBe('x');
    expect(error.stack).toMatch(/at failingTask \(.*parallel\.test\.ts:\d+:\d+\)/);
    expect(error.cause).toBeInstanceOf(RangeError);
    expect(error.cause.message).toBe('too big');
    expect(Object.keys(error)).toEqual(['field']);
  });

  test('built-in error classes are rebuilt as themselves', async () => {
    const bad = () => (null as unknown as { x: number }).x;
    await expect(shared.run([delayed(bad)()])).rejects.toBeInstanceOf(TypeError);
  });

  test('a non-error throw is reported with the value', async () => {
    const throws = () => {
      throw 'plain string';
    };
    await expect(shared.run([delayed(throws)()])).rejects.toMatchObject({ thrown: 'plain string', taskIndex: 0 });
  });

  test('the first error cancels tasks that have not started (fail-fast)', async () => {
    const counter = newCounter();
    const fails = (c: Int32Array, i: number) => {
      if (i === 2) throw new Error('stop here');
      const end = Date.now() + 50;
      while (Date.now() < end);
      return Atomics.add(c, 0, 1);
    };
    const par = new Parallel({ nJobs: 2, batchSize: 1 });
    await expect(par.run(Array.from({ length: 60 }, (_, i) => delayed(fails)(counter, i)))).rejects.toThrow('stop here');
    await new Promise((r) => setTimeout(r, 300));
    expect(Atomics.load(counter, 0)).toBeLessThan(10);
    await par.close();
  });

  test('after a failure, a batch already running stops before its next task', async () => {
    const counter = newCounter();
    const work = (c: Int32Array, i: number) => {
      if (i === 50) {
        // Fails only once batch one is surely running, however slow the machine is to start workers.
        while (Atomics.load(c, 0) < 1) Atomics.wait(c, 0, 0, 10);
        throw new Error('second batch fails once the first is running');
      }
      const end = Date.now() + 60;
      while (Date.now() < end);
      return Atomics.add(c, 0, 1);
    };
    const par = new Parallel({ nJobs: 2, batchSize: 50 });
    await expect(par.run(Array.from({ length: 100 }, (_, i) => delayed(work)(counter, i)))).rejects.toThrow('second batch fails');
    await new Promise((r) => setTimeout(r, 400));
    // Batch one would have run 50 tasks (3 s); it stopped soon after the failure.
    expect(Atomics.load(counter, 0)).toBeLessThan(20);
    await par.close();
  });

  test("errors: 'settle' returns allSettled-style records and runs every task", async () => {
    const maybe = (x: number) => {
      if (x % 2 === 1) throw new Error(`odd ${x}`);
      return x;
    };
    const out = await parallel([0, 1, 2, 3].map((x) => delayed(maybe)(x)), { nJobs: 2, errors: 'settle' });
    expect(out.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    expect(out[0]).toEqual({ status: 'fulfilled', value: 0 });
    const rejected = out[3] as PromiseRejectedResult;
    expect(rejected.reason.message).toBe('odd 3');
    expect(rejected.reason.taskIndex).toBe(3);
  });
});

describe('timeouts and cancellation', () => {
  test('a task past `timeout` rejects with TaskTimeoutError; its worker is replaced', async () => {
    const par = new Parallel({ nJobs: 2, timeout: 300, batchSize: 1 });
    const error = (await par.run([delayed(spin)(10, 'a'), delayed(spin)(60_000, 'b')]).catch((e: unknown) => e)) as TaskTimeoutError;
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect(error.taskIndex).toBe(1);
    expect(error.timeout).toBe(300);
    expect(await par.run([delayed(spin)(10, 'after')])).toEqual(['after']);
    await par.close();
  });

  test('the timeout is per task even inside a batch', async () => {
    const par = new Parallel({ nJobs: 2, timeout: 400, batchSize: 10 });
    // Ten tasks of 100 ms in one batch (1 s in all) are each within the limit.
    expect(await par.run(Array.from({ length: 10 }, (_, i) => delayed(spin)(100, i)))).toHaveLength(10);
    const error = (await par.run(Array.from({ length: 10 }, (_, i) => delayed(spin)(i === 7 ? 60_000 : 10, i))).catch((e: unknown) => e)) as TaskTimeoutError;
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect(error.taskIndex).toBe(7);
    await par.close();
  });

  test('aborting the signal rejects with its reason and cancels what has not started', async () => {
    const counter = newCounter();
    const controller = new AbortController();
    const par = new Parallel({ nJobs: 2, batchSize: 1, signal: controller.signal });
    const running = par.run(Array.from({ length: 100 }, () => delayed(count)(counter, 30)));
    setTimeout(() => controller.abort(new Error('user stop')), 150);
    await expect(running).rejects.toThrow('user stop');
    const atAbort = Atomics.load(counter, 0);
    await new Promise((r) => setTimeout(r, 300));
    expect(Atomics.load(counter, 0)).toBe(atAbort);
    expect(atAbort).toBeLessThan(30);
    await par.close();
  });

  test('an already-aborted signal rejects at once', async () => {
    const signal = AbortSignal.abort(new Error('too late'));
    await expect(parallel([delayed(square)(1)], { nJobs: 2, signal })).rejects.toThrow('too late');
  });
});

describe('worker crashes', () => {
  test.each([['process.exit', () => process.exit(3), /exited with code: 3/]])('%s rejects with WorkerCrashedError and the pool recovers', async (_label, crash, reason) => {
    const par = new Parallel({ nJobs: 2 });
    const error = (await par.run([delayed(crash)()]).catch((e: unknown) => e)) as WorkerCrashedError;
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(error.taskIndex).toBe(0);
    expect(error.message).toMatch(reason);
    expect(await par.run([delayed(square)(3)])).toEqual([9]);
    await par.close();
  });

  test("an uncaught error from the task's own callback fails that task with UncaughtTaskError; the worker carries on", async () => {
    const crash = async () => {
      setTimeout(() => {
        throw new Error('escaped');
      });
      await new Promise((r) => setTimeout(r, 200));
    };
    const par = new Parallel({ nJobs: 2 });
    const error = (await par.run([delayed(crash)()]).catch((e: unknown) => e)) as UncaughtTaskError;
    expect(error).toBeInstanceOf(UncaughtTaskError);
    expect(error.taskIndex).toBe(0);
    expect(error.afterReturn).toBe(false);
    expect(error.message).toMatch(/started by task 0 threw while the task was running \(uncaught exception\): escaped/);
    expect((error.cause as Error).stack).toMatch(/parallel\.test\.ts:\d+:\d+/);
    expect(await par.run([delayed(square)(3)])).toEqual([9]);
    await par.close();
  });

  test('hitting resourceLimits rejects with WorkerCrashedError (out of memory)', async () => {
    const hog = () => {
      const keep: number[][] = [];
      for (;;) keep.push(new Array(1e6).fill(1));
    };
    const par = new Parallel({ nJobs: 2, resourceLimits: { maxOldGenerationSizeMb: 32 } });
    const error = (await par.run([delayed(square)(2), delayed(hog)()]).catch((e: unknown) => e)) as WorkerCrashedError;
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(error.taskIndex).toBe(1);
    expect((error.cause as { code?: string }).code).toBe('ERR_WORKER_OUT_OF_MEMORY');
    expect(await par.run([delayed(square)(3)])).toEqual([9]);
    await par.close();
  });

  test("with errors: 'settle' the crashed task is reported and its batch-mates still run", async () => {
    const maybeExit = (i: number) => {
      if (i === 3) process.exit(1);
      return i;
    };
    const out = await parallel(Array.from({ length: 8 }, (_, i) => delayed(maybeExit)(i)), { nJobs: 2, batchSize: 4, errors: 'settle' });
    expect(out.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect((out[3] as PromiseRejectedResult).reason).toBeInstanceOf(WorkerCrashedError);
    expect(out.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual([0, 1, 2, 4, 5, 6, 7]);
  });
});

describe('progress and verbose', () => {
  test.each([
    ['threads', { nJobs: 2 }],
    ['nJobs: 1', { nJobs: 1 }],
    ['sequential', { backend: 'sequential' as const }],
  ])('the progress callback fires on %s, ending at done === total', async (_label, options) => {
    const calls: { done: number; total: number | undefined; elapsedMs: number }[] = [];
    await parallel(Array.from({ length: 30 }, (_, i) => delayed(square)(i)), { ...options, progress: (p) => calls.push(p) });
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.at(-1)).toMatchObject({ done: 30, total: 30 });
    expect(calls.every((c, i) => i === 0 || c.done >= calls[i - 1]!.done)).toBe(true);
    expect(calls.every((c) => c.elapsedMs >= 0)).toBe(true);
  });

  test('progress: true draws a bar on a TTY, and nothing when stderr is not one', async () => {
    const tasks = () => Array.from({ length: 50 }, (_, i) => delayed(square)(i));
    const wasTTY = process.stderr.isTTY;
    try {
      process.stderr.isTTY = true;
      const onTTY = (await captureStderr(() => parallel(tasks(), { nJobs: 2, progress: true }))).join('');
      expect(onTTY).toMatch(/skein \|.*\| 50\/50 tasks/);
      process.stderr.isTTY = false;
      expect(await captureStderr(() => parallel(tasks(), { nJobs: 2, progress: true }))).toEqual([]);
    } finally {
      process.stderr.isTTY = wasTTY;
    }
  });

  test('verbose prints joblib-style lines on stderr', async () => {
    const lines = await captureStderr(() => parallel(Array.from({ length: 10 }, (_, i) => delayed(square)(i)), { nJobs: 2, verbose: 10 }));
    expect(lines[0]).toBe('[Parallel(nJobs=2)]: Using backend threads with 2 concurrent workers.\n');
    expect(lines.at(-1)).toMatch(/^\[Parallel\(nJobs=2\)\]: Done {2}10 out of {2}10 \| elapsed: +\d+\.\ds finished\n$/);
  });
});

describe('inline and sequential execution', () => {
  test('nJobs: 1 calls the function in this thread with the very arguments', async () => {
    const push = (list: number[], x: number) => list.push(x);
    const list: number[] = [];
    await parallel([delayed(push)(list, 1), delayed(push)(list, 2)], { nJobs: 1 });
    expect(list).toEqual([1, 2]);
  });

  test('errors carry taskIndex inline too, and settle works', async () => {
    const fails = (x: number) => {
      if (x > 0) throw new Error(`no ${x}`);
      return x;
    };
    await expect(parallel([delayed(fails)(0), delayed(fails)(1)], { backend: 'sequential' })).rejects.toMatchObject({ taskIndex: 1 });
    const out = await parallel([delayed(fails)(0), delayed(fails)(1)], { nJobs: 1, errors: 'settle' });
    expect(out.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
  });

  test('an async task past the timeout rejects inline', async () => {
    const never = () => new Promise(() => {});
    await expect(parallel([delayed(never)()], { nJobs: 1, timeout: 50 })).rejects.toBeInstanceOf(TaskTimeoutError);
  });
});

describe('lifecycle', () => {
  test('run() after close() is refused', async () => {
    const par = new Parallel({ nJobs: 2 });
    await par.run([delayed(square)(1)]);
    await par.close();
    await par.close();
    await expect(par.run([delayed(square)(1)])).rejects.toBeInstanceOf(ParallelClosedError);
  });

  test('close() during a run rejects the run instead of leaving it pending', async () => {
    const par = new Parallel({ nJobs: 2 });
    const running = par.run([delayed(spin)(200, 1)]);
    const outcome = expect(running).rejects.toBeInstanceOf(ParallelClosedError);
    await new Promise((r) => setTimeout(r, 50));
    await par.close();
    await outcome;
  });
});
