import { describe, expect, test } from '@jest/globals';
import { Parallel, TaskTimeoutError, WorkerCrashedError, delayed, type ParallelOptions } from 'skein';

// Every way a task can fail, in both error modes, on the real pool: the run
// settles with the right error, and the same Parallel then runs again.

const square = (x: number) => x * x;

/** The task beside the faulty one: it must come back untouched in 'settle' mode. */
const fine = (x: number) => x + 1;

// Each faulty task gets a shared flag it raises once it runs: the test checks
// the fault happened in a task, and aborts mid-run without guessing at times.

function throwsTaskFailure(flag: Int32Array): never {
  Atomics.store(flag, 0, 1);
  class TaskFailure extends RangeError {
    override name = 'TaskFailure';
    readonly limit = 10;
  }
  throw new TaskFailure('value out of range');
}

function exits(flag: Int32Array): void {
  Atomics.store(flag, 0, 1);
  process.exit(3);
}

function allocatesUntilDeath(flag: Int32Array): never {
  Atomics.store(flag, 0, 1);
  const keep: number[][] = [];
  for (;;) keep.push(new Array(1e6).fill(1));
}

function loopsForever(flag: Int32Array): never {
  Atomics.store(flag, 0, 1);
  for (;;);
}

interface Fault {
  readonly task: (flag: Int32Array) => unknown;
  readonly options?: ParallelOptions;
  /** Checks the error the faulty task (index 1) was given. */
  readonly check: (error: any, reason: unknown) => void;
  /** The run is stopped from outside once the task runs. */
  readonly abort?: boolean;
}

const faults: Record<string, Fault> = {
  throws: {
    task: throwsTaskFailure,
    check: (error) => {
      expect(error).toBeInstanceOf(RangeError);
      expect(error.name).toBe('TaskFailure');
      expect(error.message).toBe('value out of range');
      expect(error.limit).toBe(10);
      expect(error.taskIndex).toBe(1);
      expect(error.stack).toMatch(/at throwsTaskFailure \(.*fault-matrix\.test\.ts:\d+:\d+\)/);
    },
  },
  'process.exit(3)': {
    task: exits,
    check: (error) => {
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error.code).toBe('ERR_SKEIN_WORKER_CRASHED');
      expect(error.taskIndex).toBe(1);
      expect(error.message).toMatch(/exited with code: 3/);
    },
  },
  'out of memory': {
    task: allocatesUntilDeath,
    options: { resourceLimits: { maxOldGenerationSizeMb: 32 } },
    check: (error) => {
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error.taskIndex).toBe(1);
      expect(error.cause.code).toBe('ERR_WORKER_OUT_OF_MEMORY');
    },
  },
  timeout: {
    task: loopsForever,
    options: { timeout: 300 },
    check: (error) => {
      expect(error).toBeInstanceOf(TaskTimeoutError);
      expect(error.code).toBe('ERR_SKEIN_TASK_TIMEOUT');
      expect(error.taskIndex).toBe(1);
      expect(error.timeout).toBe(300);
    },
  },
  abort: {
    task: loopsForever,
    abort: true,
    check: (error, reason) => expect(error).toBe(reason),
  },
};

const modes = ['raise', 'settle'] as const;
const cases = Object.keys(faults).flatMap((fault) => modes.map((mode) => [fault, mode] as const));

describe('fault matrix: every task fault, in both error modes', () => {
  test.each(cases)('%s with errors: %s', async (name, mode) => {
    const fault = faults[name]!;
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const controller = new AbortController();
    const reason = new Error(`stopped by the caller (${name})`);
    const par = new Parallel({
      nJobs: 2,
      batchSize: 1,
      errors: mode,
      ...fault.options,
      ...(fault.abort ? { signal: controller.signal } : {}),
    });
    try {
      const running = par.run([delayed(fine)(1), delayed(fault.task)(flag)]);
      if (fault.abort) {
        while (Atomics.load(flag, 0) === 0) await new Promise((r) => setTimeout(r, 5));
        controller.abort(reason);
      }
      const settled = await running.then(
        (records) => ({ ok: true as const, records }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      expect(Atomics.load(flag, 0)).toBe(1);

      if (fault.abort) {
        // Stopping is not a task's error: both modes reject with the reason.
        expect(settled.ok).toBe(false);
        fault.check((settled as { error: unknown }).error, reason);
        // The signal stays aborted, so this Parallel refuses further runs at once, with the same reason.
        await expect(par.run([delayed(square)(3)])).rejects.toBe(reason);
        return;
      }

      if (mode === 'raise') {
        expect(settled.ok).toBe(false);
        fault.check((settled as { error: unknown }).error, reason);
      } else {
        expect(settled.ok).toBe(true);
        const records = (settled as { records: PromiseSettledResult<unknown>[] }).records;
        expect(records).toHaveLength(2);
        expect(records[0]).toEqual({ status: 'fulfilled', value: 2 });
        expect(records[1]!.status).toBe('rejected');
        fault.check((records[1] as PromiseRejectedResult).reason, reason);
      }

      // The pool got over it: the same Parallel runs the next tasks correctly.
      const after = await par.run([delayed(square)(3), delayed(square)(4), delayed(square)(5)]);
      expect(after).toEqual(
        mode === 'raise' ? [9, 16, 25] : [9, 16, 25].map((value) => ({ status: 'fulfilled', value })),
      );
    } finally {
      await par.close();
    }
  });
});
