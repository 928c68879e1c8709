import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { Parallel, clearGraphCache, compute, delayed, type Backend, type Batch, type BatchOptions, type BatchOutcome, type Delayed } from 'skein';
import { ThreadsBackend } from '#src/backends/threads/backend.js';

/**
 * A worker that dies in the middle of a unit of graph nodes: the node that
 * killed it fails, nodes that depend on it are reported as not run, and
 * every other node of the unit still gets its value (those whose outcome
 * died with the worker run again), in settle and raise mode alike.
 */

/** The real threads backend, noting each batch's wire and whether its worker died under it. */
class Watched implements Backend {
  readonly name = 'watched';
  readonly inner = new ThreadsBackend({ nJobs: 2, resourceLimits: undefined, onWorkerError: () => {} });
  readonly concurrency = 2;
  readonly capabilities = this.inner.capabilities;
  readonly batches: { size: number; links: number; lost: number }[] = [];
  openRun = (hooks?: Parameters<NonNullable<Backend['openRun']>>[0]) => this.inner.openRun(hooks);
  release = (bytes: number) => this.inner.release(bytes);

  async runBatch(batch: Batch, options: BatchOptions): Promise<BatchOutcome> {
    const note = { size: batch.size, links: (batch.wire().links?.length ?? 0) / 3, lost: 0 };
    this.batches.push(note);
    const outcome = await this.inner.runBatch(batch, options);
    note.lost = outcome.unfinished?.length ?? 0;
    return outcome;
  }

  close = () => this.inner.close();
}

const watched = new Watched();
const par = new Parallel({ backend: watched });
afterAll(async () => {
  await par.close();
  await watched.close();
});
afterEach(() => {
  clearGraphCache();
  watched.batches.length = 0;
});

/** Runs per slot, counted in shared memory by the tasks themselves. */
const counters = (n: number) => new Int32Array(new SharedArrayBuffer(4 * n));

function step(c: Int32Array, slot: number, x: number) {
  Atomics.add(c, slot, 1);
  return x + 1;
}
/** Kills its worker when `x` is `fatal`. */
function deadly(c: Int32Array, slot: number, x: number, fatal: number) {
  Atomics.add(c, slot, 1);
  if (x === fatal) process.exit(3);
  return x + 1;
}
function slow(c: Int32Array, slot: number, x: number) {
  Atomics.add(c, slot, 1);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  return x + 1;
}

/** Fails the test rather than waiting for ever: a compute left with nodes nobody reports never settles. */
function settles<T>(promise: Promise<T>, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`compute did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('a worker dying in a unit of graph nodes', () => {
  test('a unit of several chains: the chain that killed it fails from that link on, every other chain computes', async () => {
    const runs = counters(40 * 3);
    const chains: Delayed<number>[] = [];
    // Forty chains of three quick links: after the first units the scheduler knows them quick and sends many chains per unit.
    for (let i = 0; i < 40; i++) {
      const head = delayed(step)(runs, 3 * i, 100 * i);
      const middle = i === 30 ? delayed(deadly)(runs, 3 * i + 1, head, 100 * i + 1) : delayed(step)(runs, 3 * i + 1, head);
      chains.push(delayed(step)(runs, 3 * i + 2, middle));
    }
    const out = await settles(compute(...chains, { parallel: par, errors: 'settle' }));
    out.forEach((o, i) => {
      if (i === 30) {
        expect(o.status).toBe('rejected');
        expect((o as PromiseRejectedResult).reason).toMatchObject({ name: 'DependencyFailedError' });
        expect((o as PromiseRejectedResult).reason.cause).toMatchObject({ name: 'WorkerCrashedError' });
      } else {
        expect(o).toEqual({ status: 'fulfilled', value: 100 * i + 3 });
      }
    });
    // The link after the one that killed the worker never ran.
    expect(Atomics.load(runs, 3 * 30 + 2)).toBe(0);
    // What this test is about: the worker died under a unit that held other chains too.
    const died = watched.batches.filter((b) => b.lost > 0);
    expect(died.length).toBe(1);
    expect(died[0]!.size - died[0]!.links).toBeGreaterThan(1);
  });

  test('a unit of independent quick nodes: the one that killed it fails with .node, its dependents are reported, the others compute', async () => {
    const runs = counters(200);
    const leaves: Delayed<number>[] = [];
    for (let i = 0; i < 200; i++) leaves.push(i === 150 ? delayed(deadly)(runs, i, i, 150) : delayed(step)(runs, i, i));
    const after = delayed(step)(runs, 0, leaves[150]!);
    const out = await settles(compute(...leaves, after, { parallel: par, errors: 'settle' }));
    const reason = (out[150] as PromiseRejectedResult).reason;
    expect(reason).toMatchObject({ name: 'WorkerCrashedError', node: { name: 'deadly' } });
    expect((out[200] as PromiseRejectedResult).reason).toMatchObject({ name: 'DependencyFailedError' });
    out.slice(0, 200).forEach((o, i) => {
      if (i !== 150) expect(o).toEqual({ status: 'fulfilled', value: i + 1 });
    });
    // Every node ran, none but the deadly one failed: those whose outcome died with the worker ran again.
    for (let i = 0; i < 200; i++) expect(Atomics.load(runs, i)).toBeGreaterThanOrEqual(1);
    expect(watched.batches.some((b) => b.lost > 0 && b.size > 1)).toBe(true);
  });

  test('outcomes of long nodes left the worker as each finished: a crash later in their unit does not run them again', async () => {
    const runs = counters(4);
    const a = delayed(slow)(runs, 0, 0);
    const b = delayed(slow)(runs, 1, a);
    const c = delayed(slow)(runs, 2, b);
    const d = delayed(deadly)(runs, 3, c, 3);
    const out = await settles(compute(b, d, { parallel: par, errors: 'settle' }));
    expect(out[0]).toEqual({ status: 'fulfilled', value: 2 });
    expect((out[1] as PromiseRejectedResult).reason).toMatchObject({ name: 'WorkerCrashedError' });
    // The chain went as one unit, and each of its long links ran once.
    expect(watched.batches[0]).toMatchObject({ size: 4, links: 3 });
    expect(Array.from(runs)).toEqual([1, 1, 1, 1]);
  });

  test('raise mode: the compute rejects with the crash, naming the node', async () => {
    const runs = counters(100);
    const leaves: Delayed<number>[] = [];
    for (let i = 0; i < 100; i++) leaves.push(i === 70 ? delayed(deadly)(runs, i, i, 70) : delayed(step)(runs, i, i));
    await expect(settles(compute(...leaves, { parallel: par }))).rejects.toMatchObject({ name: 'WorkerCrashedError', node: { name: 'deadly' } });
    // The pool carries on.
    await expect(compute(delayed(step)(runs, 0, 1), { parallel: par })).resolves.toEqual([2]);
  });
});
