import { afterAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ClosureCaptureError, Parallel, SerializationError, UnshippableFunctionError, delayed, parallel, wrapNonSerializable } from 'skein';
import { runNode, thrown } from '../helpers.js';

const par = new Parallel({ nJobs: 2 });
afterAll(() => par.close());

// Before: each of these ran in the worker with the wrong `this` (NaN, or a TypeError far from the cause).
describe('a shipped function that uses `this` is refused at delayed(), with the fix', () => {
  class Scaler {
    constructor(public k: number) {}
    scale(x: number): number {
      return this.k * x;
    }
    /** An arrow inside reads the method's `this`: the same problem. */
    scaleAll(xs: number[]): number[] {
      return xs.map((x) => this.k * x);
    }
    /** Hands over an arrow that reads the `this` of the code around it. */
    task(): (x: number) => number {
      return (x: number) => this.k * x;
    }
  }
  const s = new Scaler(3);

  test('a method', () => {
    const error = thrown(() => delayed(s.scale));
    expect(error).toBeInstanceOf(UnshippableFunctionError);
    expect(error.code).toBe('ERR_SKEIN_UNSHIPPABLE_FUNCTION');
    expect(error.message).toBe(
      '`scale` uses `this`, but it travels to the worker by its source alone, without the object it belongs to: there `this` would not be that object. ' +
        'Fix: call it on the object inside a function that sends the object along, delayed(wrapNonSerializable((x) => obj.scale(x), { obj })) ' +
        '(obj must be data, or an instance of a class that can travel), or export a function that takes the object as an argument and use task(url, name).',
    );
  });

  test('`this` in an arrow inside the method, and in an arrow handed over from a method', () => {
    expect(thrown(() => delayed(s.scaleAll)).message).toMatch(/^`scaleAll` uses `this`/);
    expect(thrown(() => delayed(s.task())).message).toMatch(/uses the `this` of the code around it, which does not travel to the worker\. Fix: pass what it needs as arguments/);
    expect(() => wrapNonSerializable(s.scale, {})).toThrow(UnshippableFunctionError);
  });

  test('`this` of a function or class defined inside the shipped function is its own, and fine', async () => {
    function inner(x: number) {
      const box = { v: x, get(this: { v: number }) { return this.v; } };
      class Twice {
        constructor(public n: number) {}
        get(): number {
          return 2 * this.n;
        }
      }
      return box.get() + new Twice(x).get();
    }
    expect(await par.run([delayed(inner)(2)])).toEqual([6]);
  });

  test('the fix given works', async () => {
    expect(await par.run([delayed(wrapNonSerializable((x: number) => s.scale(x), { s }))(2)])).toEqual([6]);
  });
});

// Before: `(p) => fs.existsSync(p)` was told to use wrapNonSerializable(fn, { fs }), which then failed on `captures.fs.appendFile`.
describe('a captured module gets advice that works', () => {
  test.each([
    ['a default import', (p: string) => fs.existsSync(p), 'fs', "`const fs = process.getBuiltinModule('node:fs')` (Node >= 20.16), or `const fs = await import('node:fs')`"],
    ['a namespace import', (p: string) => path.basename(p), 'path', "`const path = process.getBuiltinModule('node:path')`"],
    ['a named import', (p: string) => existsSync(p), 'existsSync', "`const { existsSync } = process.getBuiltinModule('node:fs')`"],
  ])('%s', (_, fn, name, how) => {
    const error = thrown(() => delayed(fn));
    expect(error).toBeInstanceOf(ClosureCaptureError);
    expect(error.message).toContain(`Fix: import \`${name}\` inside the function instead`);
    expect(error.message).toContain(how);
    expect(error.message).toContain("Or export the function and use task(import.meta.url, 'name').");
    expect(error.message).not.toContain('wrapNonSerializable');
  });

  test('other captured values still get wrapNonSerializable, for them only', () => {
    const k = 2;
    const error = thrown(() => delayed((p: string) => fs.existsSync(p) && k));
    expect(error.message).toContain('Fix: wrapNonSerializable(fn, { k }) to send it along');
    expect(error.message).toContain('Fix: import `fs` inside the function instead');
  });

  test('sending a module along with wrapNonSerializable is refused with the same advice', () => {
    const error = thrown(() => wrapNonSerializable((p: string) => fs.existsSync(p), { fs }));
    expect(error).toBeInstanceOf(ClosureCaptureError);
    expect(error.message).toContain("`const fs = process.getBuiltinModule('node:fs')`");
  });

  test('the advice works: a built-in got inside the function, or imported there', async () => {
    const here = fileURLToPath(import.meta.url);
    const viaBuiltin = (p: string) => (process as unknown as { getBuiltinModule(id: string): typeof fs }).getBuiltinModule('node:fs').existsSync(p);
    const viaImport = async (p: string) => (await import('node:fs')).existsSync(p);
    expect(await par.run([delayed(viaBuiltin)(here), delayed(viaImport)(here)])).toEqual([true, true]);
  });

  test('in a CommonJS file the advice names __filename, not import.meta.url', async () => {
    const result = await runNode([fileURLToPath(new URL('./fixtures/capture-module.cjs', import.meta.url))]);
    expect(result.stderr).toBe('');
    const { name, message } = JSON.parse(result.stdout) as { name: string; message: string };
    expect(name).toBe('ClosureCaptureError');
    expect(message).toContain("`const fs = process.getBuiltinModule('node:fs')`");
    expect(message).toContain("Or export the function (module.exports.name = ...) and use task(__filename, 'name').");
    expect(message).not.toContain('import.meta');
  });
});

describe('what travels the wrong way, or is not a call, is said plainly', () => {
  test('a result that cannot travel says it cannot be sent back from the worker, and what to do', async () => {
    const error = await par.run([delayed(() => ({ f: () => 1 }))()]).then(
      () => undefined,
      (e: unknown) => e as SerializationError,
    );
    expect(error).toBeInstanceOf(SerializationError);
    expect(error!.message).toBe(
      '`result.f` is a function, which cannot be sent back from the worker. Functions cannot be cloned: return data and rebuild the function in the calling thread.',
    );
  });

  test('`parallel([delayed(sq)])`: the call forgotten', async () => {
    const sq = (x: number) => x * x;
    await expect(parallel([delayed(sq)] as never, { nJobs: 2 })).rejects.toThrow(
      new TypeError('Expected task 0 to be a delayed call such as delayed(fn)(...args), got `delayed(sq)`, not a call of it: did you mean `delayed(sq)(x)`?'),
    );
  });

  test('`parallel([sq])`: delayed forgotten', async () => {
    function sq(x: number) {
      return x * x;
    }
    await expect(parallel([sq] as never, { nJobs: 2 })).rejects.toThrow(/got the function `function sq\(x\) \{.*\(Function\): did you mean `delayed\(sq\)\(x\)`\?$/s);
  });
});
