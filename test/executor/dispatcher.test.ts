import { afterAll, describe, expect, test } from '@jest/globals';
import { delayed, type Backend, type Delayed } from 'skein';
import { Dispatcher, type Outcome, type Unit } from '#src/executor/dispatcher.js';
import { ThreadsBackend } from '#src/backends/threads/backend.js';

// The dispatcher on the real threads backend, fed the way a graph feeds it:
// units of tasks whose ids the feeder chose, submitted as they become ready.

const backend = new ThreadsBackend({ nJobs: 2, resourceLimits: undefined, resultBytes: 1 << 20, onWorkerError: () => {} });
afterAll(() => backend.close());

const SILENT = { update() {}, finish() {} };
const square = (x: number) => x * x;
const fail = (x: number) => {
  throw new RangeError(`bad ${x}`);
};
const exit = () => process.exit(3);
const spin = (ms: number, value: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
  return value;
};

interface Harness {
  readonly dispatcher: Dispatcher;
  readonly outcomes: Map<number, Outcome>;
  readonly failure: Promise<unknown>;
  /** Resolves once `n` outcomes arrived. */
  outcomesAt(n: number): Promise<Map<number, Outcome>>;
}

function harness(options: { settle: boolean; limit?: number; backend?: Backend; onRoom?: (d: Dispatcher) => void; onEmit?: (id: number, o: Outcome) => void }): Harness {
  const outcomes = new Map<number, Outcome>();
  const waiters: { n: number; resolve: (m: Map<number, Outcome>) => void }[] = [];
  let failed!: (error: unknown) => void;
  const failure = new Promise<unknown>((resolve) => (failed = resolve));
  const dispatcher: Dispatcher = new Dispatcher({
    backend: options.backend ?? backend,
    limit: options.limit ?? 4,
    timeout: undefined,
    settle: options.settle,
    progress: SILENT,
    total: () => undefined,
    emit: (id, outcome) => {
      outcomes.set(id, outcome);
      options.onEmit?.(id, outcome);
      for (const w of waiters.filter((w) => outcomes.size >= w.n)) w.resolve(outcomes);
    },
    onRoom: () => options.onRoom?.(dispatcher),
    onFail: (error) => failed(error),
  });
  return {
    dispatcher,
    outcomes,
    failure,
    outcomesAt: (n) => new Promise((resolve) => (outcomes.size >= n ? resolve(outcomes) : waiters.push({ n, resolve }))),
  };
}

const unit = (ids: number[], tasks: Delayed[]): Unit => ({ ids, tasks });

describe('Dispatcher', () => {
  test('reports each outcome under the id its feeder gave, whatever the ids', async () => {
    const h = harness({ settle: false });
    h.dispatcher.submit(unit([10, 3, 7], [delayed(square)(10), delayed(square)(3), delayed(square)(7)]));
    h.dispatcher.submit({ first: 100, tasks: [delayed(square)(4), delayed(square)(5)] });
    const got = await h.outcomesAt(5);
    h.dispatcher.close();
    expect(Object.fromEntries([...got].map(([id, o]) => [id, o.ok ? o.value : o.error]))).toEqual({ 3: 9, 7: 49, 10: 100, 100: 16, 101: 25 });
  });

  test('a feeder submits units as earlier outcomes make them ready (a chain fed from onRoom)', async () => {
    const order: number[] = [];
    let last = 0;
    const h = harness({
      settle: false,
      onEmit: (id, o) => {
        order.push(id);
        last = (o as { value: number }).value;
      },
      onRoom: (d) => {
        if (order.length < 5 && d.pending === 0) d.submit(unit([order.length * 11], [delayed(square)(last + 1)]));
      },
    });
    h.dispatcher.submit(unit([0], [delayed(square)(1)]));
    await h.outcomesAt(5);
    h.dispatcher.close();
    // 1 → (1+1)² = 4 → 25 → 676 → 458329: each step needed the one before.
    expect(last).toBe(458329);
    expect(order).toEqual([0, 11, 22, 33, 44]);
  });

  test('holds units past its limit in a queue: the backend never has more in flight', async () => {
    let active = 0;
    let peak = 0;
    const counting: Backend = {
      name: 'counting',
      concurrency: backend.concurrency,
      openRun: (hooks) => backend.openRun(hooks),
      async runBatch(batch, options) {
        peak = Math.max(peak, ++active);
        try {
          return await backend.runBatch(batch, options);
        } finally {
          active--;
        }
      },
      close: async () => {},
    };
    const h = harness({ settle: false, limit: 2, backend: counting });
    for (let i = 0; i < 6; i++) h.dispatcher.submit(unit([i], [delayed(spin)(20, i)]));
    expect(h.dispatcher.pending).toBe(6);
    expect(h.dispatcher.hasRoom).toBe(false);
    await h.outcomesAt(6);
    h.dispatcher.close();
    expect([...h.outcomes.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(peak).toBe(2);
  });

  test('fail-fast: the first error ends the dispatch, named by its id', async () => {
    const h = harness({ settle: false });
    h.dispatcher.submit(unit([5, 42], [delayed(square)(1), delayed(fail)(2)]));
    const error = (await h.failure) as RangeError & { taskIndex: number };
    expect(error.name).toBe('RangeError');
    expect(error.message).toBe('bad 2');
    expect(error.taskIndex).toBe(42);
    expect(h.dispatcher.stopped).toBe(true);
  });

  test('settle: a worker dying in a unit fails only its task, by id; the others run again and keep their ids', async () => {
    const h = harness({ settle: true });
    h.dispatcher.submit(unit([5, 9, 11], [delayed(square)(5), delayed(exit)(), delayed(square)(11)]));
    const got = await h.outcomesAt(3);
    h.dispatcher.close();
    expect(got.get(5)).toEqual({ ok: true, value: 25 });
    expect(got.get(11)).toEqual({ ok: true, value: 121 });
    const crash = got.get(9) as { ok: false; error: Error & { taskIndex: number } };
    expect(crash.ok).toBe(false);
    expect(crash.error.name).toBe('WorkerCrashedError');
    expect(crash.error.taskIndex).toBe(9);
    expect(crash.error.message).toContain('9');
  });

  test('gathered outcomes are handed over as each task ends, before its unit is over', async () => {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    // Released when the test has the first task's outcome; waits for good (10 s) if that only comes with the unit's.
    const waitFor = (f: Int32Array) => (Atomics.wait(f, 0, 0, 10_000) === 'timed-out' ? 'timed out' : 'released');
    const h = harness({
      settle: true,
      onEmit: (id) => {
        if (id !== 7) return;
        Atomics.store(flag, 0, 1);
        Atomics.notify(flag, 0);
      },
    });
    h.dispatcher.submit({ ids: [7, 8], tasks: [delayed(spin)(5, 1), delayed(waitFor)(flag)], gatherMs: 1 });
    const out = await h.outcomesAt(2);
    expect(out.get(7)).toEqual({ ok: true, value: 1 });
    expect(out.get(8)).toEqual({ ok: true, value: 'released' });
    h.dispatcher.close();
  });

  test('an error a task left behind reaches the run through its one handler, named by the task id', async () => {
    const leave = (x: number) => {
      setTimeout(() => {
        throw new TypeError(`late ${x}`);
      }, 5);
      return x;
    };
    const h = harness({ settle: false });
    h.dispatcher.submit(unit([77, 78], [delayed(leave)(1), delayed(square)(2)]));
    const error = (await h.failure) as Error & { taskIndex: number; cause: Error };
    expect(error.name).toBe('UncaughtTaskError');
    expect(error.taskIndex).toBe(77);
    expect(error.message).toContain('Task 77');
    expect(error.cause.message).toBe('late 1');
  });
});
