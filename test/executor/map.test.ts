import { afterAll, describe, expect, test } from '@jest/globals';
import {
  Parallel,
  SharedMemoryStore,
  WorkerCrashedError,
  decodeOutcome,
  delayed,
  runBatch,
  wrapNonSerializable,
  type Backend,
  type Batch,
  type BatchOutcome,
} from 'skein';

// map() sends plain items as they are (no Delayed per item): these check that
// everything delayed(fn)(item) did still holds on that path.

const par = new Parallel({ nJobs: 2 });
afterAll(() => par.close());

const MB = 1024 * 1024;

/** Runs each batch for real (wire form → runBatch) and keeps the wires it was given. */
class RecordingBackend implements Backend {
  readonly name = 'recording';
  readonly concurrency = 2;
  readonly wires: ReturnType<Batch['wire']>[] = [];
  async runBatch(batch: Batch): Promise<BatchOutcome> {
    const wire = structuredClone(batch.wire());
    this.wires.push(wire);
    return decodeOutcome(structuredClone(await runBatch(wire)));
  }
  async close() {}
}

describe('map()', () => {
  test('maps over arrays, sets, strings, generators and async generators, in input order', async () => {
    const twice = (x: number | string) => (typeof x === 'string' ? x + x : 2 * x);
    expect(await par.map(twice, [1, 2, 3])).toEqual([2, 4, 6]);
    expect(await par.map(twice, new Set([4, 5]))).toEqual([8, 10]);
    expect(await par.map(twice, 'ab' as unknown as Iterable<string>)).toEqual(['aa', 'bb']);
    function* gen() {
      yield* Array.from({ length: 5000 }, (_, i) => i);
    }
    const out = await par.map(twice, gen());
    expect(out).toHaveLength(5000);
    expect(out.every((v, i) => v === 2 * i)).toBe(true);
    async function* agen() {
      yield 7;
      yield 8;
    }
    expect(await par.map(twice, agen())).toEqual([14, 16]);
    expect(await par.map(twice, [])).toEqual([]);
  });

  test('items reach the task as its one argument, plain values and objects alike', async () => {
    const backend = new RecordingBackend();
    await using p = new Parallel({ backend });
    const describeItem = (x: unknown) => (x === undefined ? 'undefined' : JSON.stringify(x));
    expect(await p.map(describeItem, [1, 'a', null, undefined, { k: [1, 2] }, [3]])).toEqual(['1', '"a"', 'null', 'undefined', '{"k":[1,2]}', '[3]']);
    expect(backend.wires.every((w) => w.columns?.length === 1 && w.args === undefined)).toBe(true);
  });

  test('an item structured clone cannot copy is refused as delayed() refuses it, with its path', async () => {
    const id = (x: unknown) => x;
    const expected = (() => {
      try {
        delayed(id)({ f: () => 1 });
      } catch (error) {
        return error as Error;
      }
      throw new Error('delayed() accepted a function argument');
    })();
    const error = (await par.map(id, [1, { f: () => 1 }]).catch((e: unknown) => e)) as Error;
    expect(error.name).toBe(expected.name);
    expect(error.message).toBe(expected.message);
    expect(error.message).toContain('args[0]');
  });

  test('a delayed call among the items is refused: graphs run with compute()', async () => {
    const id = (x: unknown) => x;
    await expect(par.map(id, [1, delayed(id)(2)])).rejects.toThrow(/compute\(\)/);
  });

  test('large items are offloaded to shared memory, also when they come after small ones', async () => {
    const kind = (x: number | Float64Array) => (typeof x === 'number' ? 'number' : `${Object.prototype.toString.call(x.buffer)}:${x.length}`);
    const items: (number | Float64Array)[] = [...Array.from({ length: 3000 }, (_, i) => i), new Float64Array((2 * MB) / 8), 5];
    const out = await par.map(kind, items);
    expect(out[3000]).toBe(`[object SharedArrayBuffer]:${(2 * MB) / 8}`);
    expect(out[0]).toBe('number');
    expect(out[3001]).toBe('number');
  });

  test('store proxies among the items travel as references and are resolved in the worker', async () => {
    await using store = new SharedMemoryStore();
    const values = Float64Array.from({ length: 1000 }, (_, i) => i);
    const p = store.proxy(values);
    const last = (a: Float64Array | number) => (typeof a === 'number' ? a : a[a.length - 1]);
    expect(await par.map(last, [1, p, 2])).toEqual([1, 999, 2]);
  });

  test('a function with captured values is mapped as well', async () => {
    const offset = 100;
    const add = wrapNonSerializable((x: number) => x + offset, { offset });
    expect(await par.map(add, [1, 2, 3])).toEqual([101, 102, 103]);
  });

  test("settle mode: a task that kills its worker is reported, the others of its batch run again", async () => {
    const maybeExit = (i: number) => {
      if (i === 3) process.exit(1);
      return i;
    };
    await using p = new Parallel({ nJobs: 2, batchSize: 4, errors: 'settle' });
    const out = await p.map(maybeExit, [0, 1, 2, 3, 4, 5, 6, 7]);
    expect(out.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect((out[3] as PromiseRejectedResult).reason).toBeInstanceOf(WorkerCrashedError);
  });

  test('the sequential backend runs mapped items in this thread', async () => {
    await using p = new Parallel({ backend: 'sequential' });
    const inc = (x: number) => x + 1;
    expect(await p.map(inc, Array.from({ length: 1000 }, (_, i) => i))).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
  });

  test('iter() and run() results stay in order when units finish out of order', async () => {
    const wait = (i: number) => {
      const end = Date.now() + (i % 7 === 0 ? 5 : 0);
      while (Date.now() < end);
      return i;
    };
    function* tasks() {
      for (let i = 0; i < 3000; i++) yield delayed(wait)(i);
    }
    expect(await par.run(tasks())).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    const seen: number[] = [];
    for await (const v of par.iter(Array.from({ length: 3000 }, (_, i) => delayed(wait)(i)), { ordered: false })) seen.push(v);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
  });
});
