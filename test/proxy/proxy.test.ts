import { describe, expect, jest, test } from '@jest/globals';
import { inspect } from 'node:util';
import {
  NonProxiableError,
  ProxyResolveError,
  extract,
  getFactory,
  isProxy,
  isResolved,
  proxy,
  resolve,
  resolveAsync,
  type Factory,
} from 'skein';

function counted<T>(make: () => T): { factory: () => T; calls: () => number } {
  let n = 0;
  return {
    factory: () => {
      n++;
      return make();
    },
    calls: () => n,
  };
}

describe('resolution', () => {
  test('the factory runs on first use, exactly once', () => {
    const { factory, calls } = counted(() => ({ x: 1 }));
    const p = proxy(factory);
    expect(calls()).toBe(0);
    expect(isProxy(p)).toBe(true);
    expect(isResolved(p)).toBe(false);
    expect(p.x).toBe(1);
    expect(p.x).toBe(1);
    expect(isResolved(p)).toBe(true);
    expect(calls()).toBe(1);
  });

  test('isProxy is never fooled and never resolves', () => {
    const { factory, calls } = counted(() => ({}));
    const p = proxy(factory);
    expect(isProxy(p)).toBe(true);
    expect(isProxy({})).toBe(false);
    expect(isProxy(new Proxy({}, {}))).toBe(false);
    expect(isProxy(null)).toBe(false);
    expect(isProxy(3)).toBe(false);
    expect(calls()).toBe(0);
  });

  test('resolve and extract force resolution; extract returns the real object', () => {
    const target = new Float64Array([1, 2, 3]);
    const p = proxy(() => target);
    resolve(p);
    expect(isResolved(p)).toBe(true);
    expect(extract(p)).toBe(target);
    expect(extract(p)).not.toBe(p);
  });

  test('free functions accept any value: non-proxies count as resolved and extract to themselves', async () => {
    const plain = { a: 1 };
    expect(isResolved(plain)).toBe(true);
    expect(extract(plain)).toBe(plain);
    expect(extract(5)).toBe(5);
    expect(() => resolve(plain)).not.toThrow();
    await expect(resolveAsync(plain)).resolves.toBeUndefined();
    expect(getFactory(plain)).toBeUndefined();
  });

  test('getFactory returns the factory without resolving', () => {
    const factory = () => ({});
    const p = proxy(factory);
    expect(getFactory(p)).toBe(factory);
    expect(isResolved(p)).toBe(false);
  });

  test('a factory that returns a proxy: the outer proxy stands in for the inner target', () => {
    const target = { v: 1 };
    const inner = proxy(() => target);
    const outer = proxy(() => inner);
    expect(outer.v).toBe(1);
    expect(extract(outer)).toBe(target);
  });

  test('proxy() refuses a non-function factory and an unknown kind', () => {
    expect(() => proxy({} as unknown as Factory<object>)).toThrow(TypeError);
    expect(() => proxy(() => ({}), { kind: 'map' as never })).toThrow(/kind/);
  });
});

describe('behaves as its target', () => {
  test('typed arrays: instanceof, typeof, length, indexing, iteration, bound methods', () => {
    const p = proxy(() => new Float64Array([1, 2, 3]));
    expect(typeof p).toBe('object');
    expect(p instanceof Float64Array).toBe(true);
    expect(p.length).toBe(3);
    expect(p[1]).toBe(2);
    p[1] = 20;
    expect(extract(p)[1]).toBe(20);
    expect([...p]).toEqual([1, 20, 3]);
    expect(Array.from(p.subarray(1))).toEqual([20, 3]);
    p.fill(7);
    expect(Array.from(extract(p))).toEqual([7, 7, 7]);
    expect(p.reduce((a, b) => a + b, 0)).toBe(21);
    expect(ArrayBuffer.isView(p)).toBe(false); // internal slot check: see docs, use extract()
  });

  test('Map: methods need the real receiver; method identity is stable', () => {
    const p = proxy(() => new Map<string, number>([['a', 1]]));
    expect(p.get('a')).toBe(1);
    p.set('b', 2);
    expect(p.size).toBe(2);
    expect([...p.keys()]).toEqual(['a', 'b']);
    expect([...p]).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(p.get).toBe(p.get);
    expect(p instanceof Map).toBe(true);
  });

  test('classes with #private fields and getters', () => {
    class Account {
      #balance = 10;
      get balance(): number {
        return this.#balance;
      }
      deposit(n: number): number {
        this.#balance += n;
        return this.#balance;
      }
    }
    const p = proxy(() => new Account());
    expect(p.balance).toBe(10);
    expect(p.deposit(5)).toBe(15);
    expect(p instanceof Account).toBe(true);
    expect(p.constructor).toBe(Account);
  });

  test('plain objects: get/set/has/delete, keys, spread, JSON, descriptors', () => {
    const target: Record<string, unknown> = { a: 1, b: { c: 2 } };
    const p = proxy(() => target);
    expect('a' in p).toBe(true);
    expect(Object.keys(p)).toEqual(['a', 'b']);
    expect({ ...p }).toEqual({ a: 1, b: { c: 2 } });
    expect(JSON.stringify(p)).toBe('{"a":1,"b":{"c":2}}');
    p.z = 3;
    expect(target.z).toBe(3);
    expect(delete p.a).toBe(true);
    expect('a' in target).toBe(false);
    expect(Object.getOwnPropertyDescriptor(p, 'z')).toEqual({ value: 3, writable: true, enumerable: true, configurable: true });
    Object.defineProperty(p, 'fixed', { value: 1, enumerable: true });
    expect(Object.getOwnPropertyDescriptor(p, 'fixed')).toEqual({ value: 1, writable: false, enumerable: true, configurable: false });
    expect(() => {
      'use strict';
      (p as { fixed: number }).fixed = 2;
    }).toThrow(TypeError);
    expect(Object.getPrototypeOf(p)).toBe(Object.prototype);
    expect(Object.entries(p)).toEqual([
      ['b', { c: 2 }],
      ['z', 3],
      ['fixed', 1],
    ]);
  });

  test("arrays, with kind 'array': Array.isArray, JSON, spread, keys, length", () => {
    const p = proxy(() => [1, 2, 3], { kind: 'array' });
    expect(Array.isArray(p)).toBe(true);
    expect(JSON.stringify(p)).toBe('[1,2,3]');
    expect([...p]).toEqual([1, 2, 3]);
    expect(Object.keys(p)).toEqual(['0', '1', '2']);
    expect(p.map((x) => x * 2)).toEqual([2, 4, 6]);
    p.push(4);
    expect(p.length).toBe(4);
    expect(Object.getOwnPropertyDescriptor(p, 'length')).toMatchObject({ value: 4, configurable: false });
  });

  test("arrays without kind are objects to the engine (typeof/isArray are fixed before resolving) but keys still work", () => {
    const p = proxy(() => [1, 2]);
    expect(Array.isArray(p)).toBe(false);
    expect(Object.keys(p)).toEqual(['0', '1']);
    expect(Object.getOwnPropertyNames(p)).toEqual(['0', '1', 'length']);
    expect(p.length).toBe(2);
  });

  test("functions and classes, with kind 'function': typeof, call, new, instanceof", () => {
    const add = proxy(() => (a: number, b: number) => a + b, { kind: 'function' });
    expect(typeof add).toBe('function');
    expect(add(2, 3)).toBe(5);
    expect(Object.getOwnPropertyNames(add).sort()).toEqual(['length', 'name']);

    class Point {
      constructor(readonly x: number) {}
    }
    const P = proxy(() => Point, { kind: 'function' });
    const pt = new P(4);
    expect(pt).toBeInstanceOf(Point);
    expect(pt.x).toBe(4);
    expect(pt instanceof P).toBe(true);
    expect(Object.getOwnPropertyNames(P)).toContain('prototype');
    expect(P.prototype).toBe(Point.prototype);
  });

  test('a factory can say its kind', () => {
    const factory = Object.assign(() => [1], { kind: 'array' as const });
    expect(Array.isArray(proxy(factory))).toBe(true);
  });

  test('frozen targets: isFrozen, keys, and freezing through the proxy', () => {
    const frozen = proxy(() => Object.freeze({ q: 1 }));
    expect(Object.isFrozen(frozen)).toBe(true);
    expect(Object.keys(frozen)).toEqual(['q']);
    expect({ ...frozen }).toEqual({ q: 1 });

    const target = { r: 1 };
    const p = proxy(() => target);
    Object.freeze(p);
    expect(Object.isFrozen(target)).toBe(true);
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.keys(p)).toEqual(['r']);
  });

  test('util.inspect never resolves; after resolving it shows the target', () => {
    const { factory, calls } = counted(() => ({ shown: true }));
    const p = proxy(factory);
    expect(inspect(p)).toBe('[skein proxy: unresolved]');
    expect(calls()).toBe(0);
    resolve(p);
    expect(inspect(p)).toBe('{ shown: true }');
  });

  test('structuredClone refuses a proxy (only store references travel)', () => {
    const p = proxy(() => ({ a: 1 }));
    expect(() => structuredClone(p)).toThrow();
  });
});

describe('errors', () => {
  test('a throwing factory raises ProxyResolveError with the cause on every access, caching nothing', () => {
    let fail = true;
    const boom = new Error('backend down');
    const factory = jest.fn(() => {
      if (fail) throw boom;
      return { ok: true };
    });
    const p = proxy(factory);
    for (let i = 0; i < 2; i++) {
      let caught: unknown;
      try {
        void p.ok;
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ProxyResolveError);
      expect((caught as ProxyResolveError).cause).toBe(boom);
      expect((caught as ProxyResolveError).code).toBe('ERR_SKEIN_PROXY_RESOLVE');
      expect((caught as ProxyResolveError).message).toMatch(/threw Error: backend down/);
      expect(isResolved(p)).toBe(false);
    }
    expect(() => extract(p)).toThrow(ProxyResolveError);
    expect(() => 'ok' in p).toThrow(ProxyResolveError);
    expect(() => Object.keys(p)).toThrow(ProxyResolveError);
    fail = false;
    expect(p.ok).toBe(true);
    expect(factory).toHaveBeenCalledTimes(6);
  });

  test('a factory that returns a primitive: ProxyResolveError caused by NonProxiableError', () => {
    const p = proxy(() => 42 as unknown as object);
    let caught: unknown;
    try {
      resolve(p);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ProxyResolveError);
    expect((caught as Error).cause).toBeInstanceOf(NonProxiableError);
    expect(((caught as Error).cause as NonProxiableError).valueType).toBe('number');
    expect(isResolved(p)).toBe(false);
  });

  test("a factory that does not make what its kind says is refused", () => {
    const p = proxy(() => ({}) as unknown[], { kind: 'array' });
    expect(() => resolve(p)).toThrow(/kind 'array'/);
    const f = proxy(() => ({}), { kind: 'function' });
    expect(() => resolve(f)).toThrow(/kind 'function'/);
  });
});

describe('resolveAsync', () => {
  test("uses the factory's async path; a later access does not call the sync factory", async () => {
    const sync = jest.fn(() => ({ from: 'sync' }));
    const factory = Object.assign(sync, { resolveAsync: async () => ({ from: 'async' }) });
    const p = proxy(factory);
    const pending = resolveAsync(p);
    expect(isResolved(p)).toBe(false);
    expect(resolveAsync(p)).toBe(pending); // one fetch in flight
    await pending;
    expect(isResolved(p)).toBe(true);
    expect(p.from).toBe('async');
    expect(sync).not.toHaveBeenCalled();
  });

  test('a sync access while the async fetch is in flight wins; the late async value is dropped', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const factory = Object.assign(() => ({ from: 'sync' }), {
      resolveAsync: async () => {
        await gate;
        return { from: 'async' };
      },
    });
    const p = proxy(factory);
    const pending = resolveAsync(p);
    expect(p.from).toBe('sync');
    release();
    await pending;
    expect(p.from).toBe('sync');
  });

  test('without an async path it resolves on a later turn of the event loop', async () => {
    const { factory, calls } = counted(() => ({ v: 1 }));
    const p = proxy(factory);
    const pending = resolveAsync(p);
    expect(calls()).toBe(0);
    await pending;
    expect(calls()).toBe(1);
    expect(isResolved(p)).toBe(true);
  });

  test('never rejects: the failure is raised by the next access', async () => {
    const factory = Object.assign(
      (): object => {
        throw new Error('sync failed too');
      },
      {
        resolveAsync: async (): Promise<object> => {
          throw new Error('fetch failed');
        },
      },
    );
    const p = proxy(factory);
    await expect(resolveAsync(p)).resolves.toBeUndefined();
    expect(isResolved(p)).toBe(false);
    expect(() => resolve(p)).toThrow(ProxyResolveError);
  });
});
