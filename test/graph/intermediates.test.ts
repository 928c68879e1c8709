import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { isMainThread } from 'node:worker_threads';
import { Parallel, clearGraphCache, compute, configureGraphCache, delayed, parallel, type Backend, type Batch, type BatchOptions, type BatchOutcome } from 'skein';
import { ThreadsBackend } from '#src/backends/threads/backend.js';

const MB = 2 ** 20;

/**
 * The real threads backend, watched from the calling side: every argument a
 * batch carries and every value it brings back, as the caller sees them.
 */
class Watched implements Backend {
  readonly name = 'watched';
  readonly inner = new ThreadsBackend({ nJobs: 2, resourceLimits: undefined, resultBytes: MB, onWorkerError: () => {} });
  readonly concurrency = 2;
  readonly capabilities = this.inner.capabilities;
  /** Typed arrays above 1 MB that crossed the caller, either way. */
  largeSeen = 0;
  batches = 0;
  /** Tasks per batch, in order sent. */
  readonly sizes: number[] = [];
  /** Store references batches brought back: results left in the workers' store. */
  readonly kept: { key: unknown }[] = [];
  openRun = (hooks?: Parameters<NonNullable<Backend['openRun']>>[0]) => this.inner.openRun(hooks);
  release = (bytes: number) => this.inner.release(bytes);

  #count(value: unknown): void {
    if (ArrayBuffer.isView(value) && value.byteLength > MB) this.largeSeen++;
    else if (Array.isArray(value)) value.forEach((v) => this.#count(v));
  }

  async runBatch(batch: Batch, options: BatchOptions): Promise<BatchOutcome> {
    this.batches++;
    this.sizes.push(batch.size);
    const wire = batch.wire();
    for (const column of wire.columns ?? wire.args ?? []) this.#count(column);
    const seen = (v: unknown): void => {
      this.#count(v);
      if ((v as { __skeinStoreReference?: unknown } | null)?.__skeinStoreReference === 1) this.kept.push(v as { key: unknown });
    };
    // Outcomes handed over before the batch is over (gathered) cross the caller too.
    const { onEarly } = options;
    const watching: BatchOptions = onEarly
      ? {
          ...options,
          onEarly: (offset, ok, result) => {
            if (ok) seen(result);
            onEarly(offset, ok, result);
          },
        }
      : options;
    const outcome = await this.inner.runBatch(batch, watching);
    for (const v of outcome.values) seen(v);
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
  configureGraphCache({});
});

/** Entries of results left in the store that are still there. */
const live = (p: Parallel = par) => watched.kept.filter((r) => p.offloadStore!.existsSync(r.key as never)).length;

const make = (n: number, v: number) => new Float64Array(n).fill(v);
const scale = (xs: Float64Array, k: number) => xs.map((x) => x * k);
const total = (xs: Float64Array) => xs.reduce((a, b) => a + b, 0);

describe('intermediates stay in the workers’ store', () => {
  test('a large result another node needs goes to it by reference, never through the caller', async () => {
    watched.largeSeen = 0;
    const n = (4 * MB) / 8;
    const a = delayed(make)(n, 1);
    const b = delayed(scale)(a, 3);
    const c = delayed(total)(b);
    expect(await compute(c, { parallel: par })).toEqual([3 * n]);
    expect(watched.largeSeen).toBe(0);
  });

  test('a large result asked for comes to the caller whole, and is its own copy to keep', async () => {
    const n = (2 * MB) / 8;
    const [xs] = await compute(delayed(scale)(delayed(make)(n, 2), 2), { parallel: par });
    expect(xs).toBeInstanceOf(Float64Array);
    expect(xs.length).toBe(n);
    expect(xs[0]).toBe(4);
    watched.kept.length = 0;
    const m = delayed(make)(n, 3);
    const [, again] = await compute(m, delayed(scale)(m, 2), { parallel: par });
    expect(watched.kept.length).toBe(2);
    // Both results are kept by the cache, in the store.
    expect(live()).toBe(2);
    clearGraphCache();
    // The entries are gone from the store; what the caller holds is not.
    expect(live()).toBe(0);
    expect(again[0]).toBe(6);
    expect(xs[n - 1]).toBe(4);
  });

  test('entries are freed once no pending node needs them, unless the cache keeps them', async () => {
    configureGraphCache({ maxBytes: 1024 });
    const n = (2 * MB) / 8;
    const seen: number[] = [];
    watched.kept.length = 0;
    const store = () => live();
    // A caller-side node at the end of a chain reads how many entries are held while it runs.
    const look = delayed(
      (x: number) => {
        seen.push(store());
        return x;
      },
      { where: 'caller' },
    );
    // Each step reads its input twice, so no step is a chain link: every result goes through the store.
    const pair = (a: Float64Array, b: Float64Array) => a.map((v, i) => v + b[i]!);
    let step = delayed(make)(n, 1);
    for (let i = 0; i < 4; i++) step = delayed(pair)(step, step);
    expect(await compute(look(delayed(total)(step)), { parallel: par })).toEqual([16 * n]);
    // Four results of 2 MB left in the store (the last step goes on to total() in its own batch):
    // by the time the last node runs, none is held (the total is small).
    expect(watched.kept.length).toBe(4);
    expect(seen).toEqual([0]);
    expect(store()).toBe(0);
  });

  test('invalidating an input frees the large results computed from it at once', async () => {
    const n = (2 * MB) / 8;
    watched.kept.length = 0;
    const a = delayed(make)(n, 1);
    const b = delayed(scale)(a, 2);
    const c = delayed(scale)(b, 3);
    // Several readers each, so every result goes through the store and the cache keeps it there.
    await compute(b, c, delayed(total)(a), delayed(total)(b), delayed(total)(c), { parallel: par });
    expect(live()).toBe(3);
    a.invalidate();
    expect(live()).toBe(0);
  });

  test('a cached intermediate is reused by a later compute from the store, and recomputed once its executor closed', async () => {
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const n = (2 * MB) / 8;
    const counted = (c: Int32Array, len: number) => {
      Atomics.add(c, 0, 1);
      return new Float64Array(len).fill(5);
    };
    const own = new Parallel({ backend: watched });
    watched.kept.length = 0;
    const a = delayed(counted)(counter, n);
    const [first] = await compute(a, delayed(total)(a), { parallel: own });
    expect(first.length).toBe(n);
    expect(live(own)).toBe(1);
    expect(await compute(delayed(scale)(a, 2), { parallel: own }).then(([xs]) => xs[0])).toBe(10);
    expect(Atomics.load(counter, 0)).toBe(1);
    await own.close();
    expect(await compute(delayed(total)(a), { parallel: par })).toEqual([5 * n]);
    expect(Atomics.load(counter, 0)).toBe(2);
  });
});

describe('chains', () => {
  const inc = (x: number) => x + 1;
  const boom = (x: number) => {
    if (x === 25) throw new RangeError('at 25');
    return x + 1;
  };

  test('a chain of nodes runs as one batch, each link in the worker right after its input', async () => {
    watched.batches = 0;
    let x = delayed(inc)(0);
    for (let i = 1; i < 2000; i++) x = delayed(inc)(x);
    expect(await compute(x, { parallel: par })).toEqual([2000]);
    expect(watched.batches).toBe(1);
    // Every link's result is kept, as for any node: a later compute of a middle link runs nothing.
    watched.batches = 0;
    let y = delayed(inc)(0);
    const links = [y];
    for (let i = 1; i < 10; i++) links.push((y = delayed(inc)(y)));
    await compute(y, { parallel: par });
    expect(await compute(links[4]!, { parallel: par })).toEqual([5]);
    expect(watched.batches).toBe(1);
  });

  test("a chain's large links stay in the worker: neither sent back nor kept, computed again when asked for later", async () => {
    watched.largeSeen = 0;
    watched.kept.length = 0;
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const n = (2 * MB) / 8;
    const counted = (c: Int32Array, len: number) => {
      Atomics.add(c, 0, 1);
      return new Float64Array(len).fill(1);
    };
    const a = delayed(counted)(counter, n);
    let x = delayed(scale)(a, 2);
    const middle = x;
    for (let i = 0; i < 3; i++) x = delayed(scale)(x, 2);
    expect(await compute(delayed(total)(x), { parallel: par })).toEqual([16 * n]);
    expect(watched.largeSeen).toBe(0);
    expect(watched.kept.length).toBe(0);
    const [m] = await compute(middle, { parallel: par });
    expect(m[0]).toBe(2);
    expect(Atomics.load(counter, 0)).toBe(2);
  });

  test('a failing link: its own error, and the links after it reported as not run (settle), or the error (raise)', async () => {
    let x = delayed(boom)(0);
    const all = [x];
    for (let i = 1; i < 40; i++) all.push((x = delayed(boom)(x)));
    const settled = await compute(all[24]!, all[25]!, x, { parallel: par, errors: 'settle' });
    expect(settled[0]).toEqual({ status: 'fulfilled', value: 25 });
    expect(settled[1].status).toBe('rejected');
    expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({ name: 'RangeError', message: 'at 25' });
    expect((settled[2] as PromiseRejectedResult).reason).toMatchObject({ name: 'DependencyFailedError' });
    clearGraphCache();
    await expect(compute(x, { parallel: par })).rejects.toThrow('at 25');
  });
});

describe('units of long nodes', () => {
  const nap = (ms: number, x: number) => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    return x;
  };

  test('while more are ready than the workers can take, several go to a batch, one after another in its worker', async () => {
    watched.sizes.length = 0;
    const nodes = Array.from({ length: 24 }, (_, i) => delayed(nap)(15, i));
    expect(await compute(...nodes, { parallel: par })).toEqual(nodes.map((_, i) => i));
    // The first ones go alone, until their time is known.
    expect(watched.sizes.slice(0, 4)).toEqual([1, 1, 1, 1]);
    expect(Math.max(...watched.sizes)).toBeGreaterThan(1);
    expect(watched.sizes.reduce((a, b) => a + b, 0)).toBe(24);
  });
});

describe("where: 'caller'", () => {
  test('runs in the calling thread, with a function that could not travel, between worker nodes', async () => {
    const client = { calls: 0, fetch: (x: number) => x + 0.5 };
    const io = delayed(
      (x: number) => {
        client.calls++;
        return { main: isMainThread, value: client.fetch(x) };
      },
      { where: 'caller', name: 'fetch' },
    );
    const inWorker = (r: { main: boolean; value: number }) => ({ callerRanInMain: r.main, value: r.value * 2 });
    const [out] = await compute(delayed(inWorker)(io(delayed((x: number) => x * 10)(4))), { parallel: par });
    expect(out).toEqual({ callerRanInMain: true, value: 81 });
    expect(client.calls).toBe(1);
  });

  test('a large input left in the store is fetched for a caller node', async () => {
    const n = (2 * MB) / 8;
    const here = delayed((xs: Float64Array) => (isMainThread ? xs.length : -1), { where: 'caller' });
    expect(await compute(here(delayed(make)(n, 1)), { parallel: par })).toEqual([n]);
  });

  test('parallel() refuses it, naming compute()', async () => {
    const d = delayed((x: number) => x, { where: 'caller' })(1);
    await expect(parallel([d], { nJobs: 1 })).rejects.toThrow("`where: 'caller'` nodes run with `compute()`");
  });
});
