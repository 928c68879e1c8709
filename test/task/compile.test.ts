import { describe, expect, test } from '@jest/globals';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { instantiate } from '#src/task/compile.js';
import type { FunctionInstanceWire } from '#src/core/wire.js';

const source = (id: string, body: string, valueNames: string[] = []): FunctionInstanceWire['fn'] => ({ kind: 'source', id, name: 'f', body, valueNames });
const mathTask = pathToFileURL(path.resolve('test/fixtures/math-task.mjs')).href;

describe('instantiate', () => {
  test('a source function without captures is compiled once and the same callable reused', () => {
    const wire: FunctionInstanceWire = { fn: source('compile-test-a', 'return (x) => x + 1;'), values: [] };
    const f = instantiate(wire) as (x: number) => number;
    expect(f(1)).toBe(2);
    expect(instantiate(wire)).toBe(f);
  });

  test('captured values are passed to the factory in order, revived only when the wire says it holds references', () => {
    const fn = source('compile-test-b', 'return (x) => [a, b, x];', ['a', 'b']);
    const revive = (v: unknown) => (v === 'ref' ? 'revived' : v);
    expect((instantiate({ fn, values: ['ref', 2] }, revive) as (x: number) => unknown)(3)).toEqual(['ref', 2, 3]);
    expect((instantiate({ fn, values: ['ref', 2], refs: true }, revive) as (x: number) => unknown)(3)).toEqual(['revived', 2, 3]);
  });

  test('a captured function is compiled from its own wire', () => {
    const inner: FunctionInstanceWire = { fn: source('compile-test-inner', 'return (x) => x * k;', ['k']), values: [10] };
    const outer: FunctionInstanceWire = { fn: source('compile-test-outer', 'return (x) => g(x) + 1;', ['g']), values: [{ __skeinFunction: inner }] };
    expect((instantiate(outer) as (x: number) => number)(4)).toBe(41);
  });

  test('a module function is imported (asynchronously the first time, then synchronously)', async () => {
    const wire: FunctionInstanceWire = { fn: { kind: 'module', id: 'compile-test-m', url: mathTask, exportName: 'default' }, values: [] };
    const first = instantiate(wire);
    expect(first).toBeInstanceOf(Promise);
    const triple = (await first) as (x: number) => number;
    expect(triple(5)).toBe(15);
    expect(instantiate(wire)).toBe(triple);
  });

  test('a missing export is a clear TypeError; a failed import is not cached', async () => {
    const missing: FunctionInstanceWire = { fn: { kind: 'module', id: 'compile-test-x', url: mathTask, exportName: 'nope' }, values: [] };
    await expect((async () => instantiate(missing))()).rejects.toThrow(/has no function export `nope`/);
    const url = pathToFileURL(path.resolve('test/fixtures/does-not-exist.mjs')).href;
    const broken: FunctionInstanceWire = { fn: { kind: 'module', id: 'compile-test-y', url, exportName: 'default' }, values: [] };
    await expect(instantiate(broken) as Promise<unknown>).rejects.toThrow();
    // Tried again rather than answered from a cache of the failure.
    const again = instantiate(broken);
    expect(again).toBeInstanceOf(Promise);
    await expect(again as Promise<unknown>).rejects.toThrow();
  });
});
