import { describe, expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import {
  ClosureCaptureError,
  SerializationError,
  TaskModuleError,
  UnshippableFunctionError,
  delayed,
  isDelayed,
  parallel,
  task,
  wrapNonSerializable,
} from 'skein';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);

describe('delayed()', () => {
  test('records a call without running it; the run runs it once', async () => {
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const bump = (c: Int32Array, by: number) => Atomics.add(c, 0, by) + by;
    const d = delayed(bump)(counter, 5);
    expect(Atomics.load(counter, 0)).toBe(0);
    expect(d.args[1]).toBe(5);
    expect(await parallel([d], { nJobs: 2 })).toEqual([5]);
    expect(Atomics.load(counter, 0)).toBe(5);
  });

  test('args is the call\'s arguments, the same array on every read, for any number of arguments', async () => {
    const f = (...xs: unknown[]) => xs.length;
    const one = delayed(f)({ k: 1 });
    expect(one.args).toEqual([{ k: 1 }]);
    expect(one.args).toBe(one.args);
    expect(delayed(f)().args).toEqual([]);
    expect(delayed(f)(1, 'a', null).args).toEqual([1, 'a', null]);
    expect(delayed(f)(undefined).args).toEqual([undefined]);
    expect(await parallel([delayed(f)(), delayed(f)(1), delayed(f)(1, 2), delayed(f)(undefined)], { nJobs: 2 })).toEqual([0, 1, 2, 1]);
  });

  test('a batch of one-argument calls travels by column; a Delayed of another copy of skein is read by its args', async () => {
    const { encodeBatch, Delayed } = await import('skein');
    const id = (x: unknown) => x;
    const mine = [1, 2].map((x) => delayed(id)(x));
    expect(encodeBatch(mine, true).columns).toEqual([[1, 2]]);
    // Another copy's Delayed: the same brand, its own class.
    const foreign = Object.create(Object.getPrototypeOf(mine[0]), { shipped: { value: mine[0]!.shipped }, args: { value: [3] } }) as InstanceType<typeof Delayed>;
    expect(encodeBatch([...mine, foreign], true).columns).toEqual([[1, 2, 3]]);
  });
});

describe('closure capture', () => {
  test('fails in the caller, at delayed() time, naming each captured identifier and the fix', () => {
    const factor = 3;
    const offset = 1;
    function scale(x: number) {
      return x * factor + offset;
    }
    let error: unknown;
    try {
      delayed(scale);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ClosureCaptureError);
    const e = error as ClosureCaptureError;
    expect(e.identifiers).toEqual(['factor', 'offset']);
    expect(e.functionName).toBe('scale');
    expect(e.code).toBe('ERR_SKEIN_CLOSURE_CAPTURE');
    expect(e.message).toContain('wrapNonSerializable(scale, { factor, offset })');
  });

  test('an anonymous arrow is named by its source in the error', () => {
    const k = 2;
    expect(() => delayed((x: number) => x * k)).toThrow(/`\(x\) => x \* k` captures outer variable `k`/);
  });

  test('natives, bound functions and classes get their own clear errors', () => {
    expect(() => delayed(Math.max)).toThrow(UnshippableFunctionError);
    expect(() => delayed(((x: number) => x).bind(null))).toThrow(/bound function/);
    class Model {}
    expect(() => delayed(Model as unknown as () => void)).toThrow(/is a class, not a function/);
    expect(() => delayed(42 as unknown as () => void)).toThrow(TypeError);
  });
});

describe('argument checks', () => {
  test('an argument structured clone cannot carry fails with its path before dispatch', () => {
    const f = (_a: unknown, _b: unknown) => 0;
    let error: unknown;
    try {
      delayed(f)(1, { model: { predict: () => 1 } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as SerializationError).path).toBe('args[1].model.predict');
    expect((error as Error).message).toMatch(/`args\[1\]\.model\.predict` is a function/);
    expect(() => delayed(f)([1, Symbol('s')], 0)).toThrow(/`args\[0\]\[1\]` is a symbol/);
    expect(() => delayed(f)(new Map([['k', { p: Promise.resolve() }]]), 0)).toThrow(/is a Promise/);
  });

  test('a value the cheap check cannot judge is located when the clone fails', async () => {
    const { port1, port2 } = new MessageChannel();
    try {
      const f = (_a: unknown) => 0;
      const rejected = parallel([delayed(f)({ deep: { port: port1 } })], { nJobs: 2 });
      await expect(rejected).rejects.toBeInstanceOf(SerializationError);
      await expect(rejected).rejects.toMatchObject({ path: 'args[0].deep.port' });
    } finally {
      port1.close();
      port2.close();
    }
  });

  test('a result that cannot travel back fails its task with the path', async () => {
    const makes = () => ({ ok: 1, handler: () => 2 });
    await expect(parallel([delayed(makes)()], { nJobs: 2 })).rejects.toMatchObject({
      name: 'SerializationError',
      path: 'result.handler',
    });
  });

  test('isDelayed is a brand check', () => {
    expect(isDelayed(delayed((x: number) => x)(1))).toBe(true);
    expect(isDelayed({ args: [] })).toBe(false);
  });
});

describe('wrapNonSerializable', () => {
  test('sends the closure with its captured values', async () => {
    const factor = 3;
    const scale = wrapNonSerializable((x: number) => x * factor, { factor });
    expect(scale(2)).toBe(6);
    expect(await parallel([1, 2, 3].map((x) => delayed(scale)(x)), { nJobs: 2 })).toEqual([3, 6, 9]);
  });

  test('captured functions and classes travel by source and may use each other', async () => {
    const base = 10;
    const addBase = (x: number) => x + base;
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
      norm1() {
        return addBase(Math.abs(this.x) + Math.abs(this.y));
      }
    }
    const job = wrapNonSerializable((x: number) => new Point(x, -x).norm1(), { Point, addBase, base });
    expect(await parallel([delayed(job)(1), delayed(job)(2)], { nJobs: 2 })).toEqual([12, 14]);
  });

  test('nested wrapped functions keep their own captures', async () => {
    const inner = 5;
    const addInner = wrapNonSerializable((x: number) => x + inner, { inner });
    const outer = wrapNonSerializable((x: number) => addInner(x) * 2, { addInner });
    expect(await parallel([delayed(outer)(1)], { nJobs: 2 })).toEqual([12]);
  });

  test('a capture left out is named at wrap time, with the full fix', () => {
    const a = 1;
    const b = 2;
    expect(() => wrapNonSerializable(function sum() { return a + b; }, { a })).toThrow(
      /captures outer variable `b`[\s\S]*wrapNonSerializable\(sum, \{ a, b \}\)/,
    );
  });

  test('captured values that cannot be cloned are refused with their path', () => {
    const model = { predict: Symbol('p') };
    expect(() => wrapNonSerializable(() => model, { model })).toThrow(/`captures\.model\.predict` is a symbol/);
  });

  test('rejects bad arguments', () => {
    expect(() => wrapNonSerializable(1 as unknown as () => void)).toThrow(TypeError);
    expect(() => wrapNonSerializable(() => 1, [] as unknown as Record<string, unknown>)).toThrow(/captures/);
    expect(() => wrapNonSerializable(() => 1, { 'not-an-id': 1 })).toThrow(/identifiers/);
  });
});

describe('task(moduleUrl, exportName)', () => {
  test('runs module functions (with their imports) in workers, default export by default', async () => {
    const digest = task<(t: string) => string>(fixture('math-task.mjs'), 'digest');
    const triple = task<(x: number) => number>(fixture('math-task.mjs'));
    const out = await parallel([delayed(digest)('abc'), delayed(triple)(14)], { nJobs: 2 });
    expect(out).toEqual(['ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 42]);
    expect(await triple(2)).toBe(6);
  });

  test('each worker imports the module once', async () => {
    const count = task<() => number>(fixture('math-task.mjs'), 'importCount');
    const out = await parallel(Array.from({ length: 50 }, () => delayed(count)()), { nJobs: 2, batchSize: 1 });
    expect(new Set(out)).toEqual(new Set([1]));
  });

  test('accepts absolute paths and refuses relative ones and missing files', () => {
    expect(task(fileURLToPath(fixture('math-task.mjs'))).url).toBe(fixture('math-task.mjs').href);
    expect(() => task('./math-task.mjs')).toThrow(/absolute path/);
    expect(() => task(fixture('nope.mjs'))).toThrow(TaskModuleError);
  });

  test('a missing export fails the task with a clear error', async () => {
    const missing = task(fixture('math-task.mjs'), 'nothing');
    await expect(parallel([delayed(missing)()], { nJobs: 2 })).rejects.toThrow(/no function export `nothing`/);
  });
});
