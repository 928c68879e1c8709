import { describe, expect, test } from '@jest/globals';
import { analyzeFunction } from '#src/task/analyze.js';
import { UnshippableFunctionError } from 'skein';

describe('analyzeFunction', () => {
  test('self-contained functions of every form have no free variables', () => {
    const forms: Function[] = [
      (x: number) => x * 2,
      function named(x: number) {
        return Math.max(x, 0);
      },
      async (x: number) => {
        await new Promise((r) => setTimeout(r, 1));
        return x;
      },
      function* gen() {
        yield 1;
      },
      { method(x: number) { return x + 1; } }.method,
      { async method(x: number) { return JSON.stringify({ x }); } }.method,
      function fact(n: number): number {
        return n <= 1 ? 1 : n * fact(n - 1);
      },
    ];
    for (const fn of forms) expect(analyzeFunction(fn).free).toEqual([]);
  });

  test('names every captured identifier, once, ignoring shadowed names and globals', () => {
    const a = 1;
    const b = 2;
    const fn = (x: number) => {
      const a = 5; // shadows the outer a
      console.log(Buffer.byteLength('x'), process.pid);
      return a + b + x + b + helper(x);
    };
    function helper(y: number) {
      return y;
    }
    void a;
    expect(analyzeFunction(fn).free).toEqual(['b', 'helper']);
  });

  test("the test runner's own globals do not count as worker globals", () => {
    const fn = () => expect;
    expect(analyzeFunction(fn).free).toEqual(['expect']);
  });

  test('method shorthand is rewritten to an expression that evaluates to the method', () => {
    const info = analyzeFunction({ twice(x: number) { return 2 * x; } }.twice);
    const rebuilt = new Function(`return ${info.expression}`)() as (x: number) => number;
    expect(rebuilt(21)).toBe(42);
  });

  test('native and bound functions are refused with a clear error', () => {
    expect(() => analyzeFunction(Math.max)).toThrow(UnshippableFunctionError);
    expect(() => analyzeFunction(Math.max)).toThrow(/built-in \(native\) function/);
    const bound = function f(this: unknown) { return this; }.bind(null);
    expect(() => analyzeFunction(bound)).toThrow(/bound function/);
  });
});

describe('code written by bundlers', () => {
  test("esbuild's __name helper (tsx keeps function names with it) is not a capture, and works in a worker", async () => {
    const { delayed, parallel } = await import('skein');
    // What esbuild emits for a named inner function under keepNames.
    const fn = new Function('return (x) => { const inner = __name(() => x * 2, "inner"); return inner.name + ":" + inner(); }')() as (x: number) => string;
    expect(analyzeFunction(fn).free).toEqual([]);
    expect(await parallel([delayed(fn)(21)], { nJobs: 2 })).toEqual(['inner:42']);
  });
});
