import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ClosureCaptureError, createRemoteEnv, isHandle, task, wrapNonSerializable, type RemoteEnv } from 'skein';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);

let env: RemoteEnv;
beforeAll(async () => {
  env = await createRemoteEnv({ name: 'basics' });
});
afterAll(() => env.close());

describe('remote environment: the API example', () => {
  test('put, run, fetch, method calls and property reads', async () => {
    const x = await env.put('x');
    const n = await env.put(10);
    const nx = env.run((s: string, k: number) => s.repeat(k), x, n);
    await expect(nx.fetch()).resolves.toBe('xxxxxxxxxx');
    const counter = env.run(() => ({ n: 0, inc(by: number) { return (this.n += by); } }));
    counter.inc(2);
    await expect(counter.inc(3).fetch()).resolves.toBe(5);
    await expect(counter.n.fetch()).resolves.toBe(5);
    x.release();
  });

  test('handles are not thenable: awaiting one gives the handle itself', async () => {
    const h = env.put({ a: 1 });
    expect((h as unknown as { then?: unknown }).then).toBeUndefined();
    const awaited = await h;
    expect(awaited).toBe(h);
    expect(isHandle(awaited)).toBe(true);
    expect(isHandle({})).toBe(false);
    await expect(h.a.fetch()).resolves.toBe(1);
  });

  test('a property read is taken when it is made, not when it is fetched', async () => {
    const counter = env.run(() => ({ n: 0, inc() { return ++this.n; } }));
    const before = counter.n;
    counter.inc();
    const after = counter.n;
    await expect(before.fetch()).resolves.toBe(0);
    await expect(after.fetch()).resolves.toBe(1);
  });

  test('a method handle called at once, then kept and called again, keeps its `this`', async () => {
    const counter = env.run(() => ({ n: 0, inc(by: number) { return (this.n += by); } }));
    const inc = counter.inc;
    inc(1);
    await expect(inc(2).fetch()).resolves.toBe(3);
    await expect(counter.n.fetch()).resolves.toBe(3);
  });

  test('async functions and methods: the handle holds the awaited value', async () => {
    const h = env.run(async (k: number) => ({ k, async twice() { return k * 2; } }), 21);
    await expect(h.twice().fetch()).resolves.toBe(42);
  });

  test('handles nested in arrays and plain objects are unwrapped in the worker', async () => {
    const a = env.put(2);
    const b = env.put(3);
    const h = env.run((o: { xs: number[] }) => o.xs[0]! * o.xs[1]!, { xs: [a, b] } as never);
    await expect(h.fetch()).resolves.toBe(6);
  });
});

describe('remote environment: ordering under pipelining', () => {
  test('1,000 chained calls made with no await in between run in order', async () => {
    let list = env.run(() => ({ seen: [] as number[], add(i: number) { this.seen.push(i); return this; } }));
    for (let i = 0; i < 1000; i++) list = list.add(i);
    const seen = await list.seen.fetch();
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  test('operations on different handles keep the order they were made in, across turns', async () => {
    const log = env.run(() => [] as string[]);
    const slow = env.run(async (l: string[]) => {
      await new Promise((r) => setTimeout(r, 30));
      l.push('slow');
    }, log);
    await Promise.resolve();
    log.push('after');
    await expect(log.fetch()).resolves.toEqual(['slow', 'after']);
    await expect(slow.fetch()).resolves.toBeUndefined();
  });
});

describe('remote environment: functions travel as in section 2', () => {
  test('a closure is refused where it is written, with the fix', () => {
    const factor = 3;
    expect(() => env.run((x: number) => x * factor, 1)).toThrow(ClosureCaptureError);
  });

  test('wrapNonSerializable sends the captured values along', async () => {
    const factor = 3;
    await expect(env.run(wrapNonSerializable((x: number) => x * factor, { factor }), 5).fetch()).resolves.toBe(15);
  });

  test('task(url, name) imports the module in the worker', async () => {
    const digest = task<(text: string) => string>(fixture('math-task.mjs'), 'digest');
    const h = env.run(digest, 'a');
    await expect(h.slice(0, 6).fetch()).resolves.toBe('ca9781');
  });

  test('a handle given as the function to ship is refused with the way to call it', () => {
    const f = env.run(() => (x: number) => x + 1);
    expect(() => env.run(f as never)).toThrow(/call a remote function through its handle/);
    return expect(f(1).fetch()).resolves.toBe(2);
  });

  test('an argument that cannot be cloned fails at once, naming its path', () => {
    expect(() => env.run((o: unknown) => o, { model: { predict: () => 1 } })).toThrow(/args\[0\]\.model\.predict/);
  });
});

describe('remote environment: iteration and fetch', () => {
  test('for await over a remote iterable yields handles', async () => {
    const h = env.run(() => new Map([['a', 1], ['b', 2]]));
    const entries: unknown[] = [];
    for await (const item of h) {
      expect(isHandle(item)).toBe(true);
      entries.push(await item.fetch());
    }
    expect(entries).toEqual([['a', 1], ['b', 2]]);
  });

  test('iterates more items than one request carries, and async iterables', async () => {
    const h = env.run(() => Array.from({ length: 100 }, (_, i) => i));
    let sum = 0;
    for await (const item of h) sum += await item.fetch();
    expect(sum).toBe(4950);
    const gen = env.run(() => (async function* () { yield 'a'; yield 'b'; })());
    const out: string[] = [];
    for await (const item of gen) out.push(await item.fetch());
    expect(out).toEqual(['a', 'b']);
  });

  test('breaking out of the loop releases what was fetched ahead', async () => {
    const before = (await env.stats()).values;
    const h = env.run(() => Array.from({ length: 100 }, (_, i) => i));
    for await (const item of h) {
      item.release();
      break;
    }
    h.release();
    expect((await env.stats()).values).toBe(before);
  });

  test('fetch of a large typed array brings an intact copy back, the worker keeps its own', async () => {
    const h = env.run((n: number) => Float64Array.from({ length: n }, (_, i) => i), 1 << 20);
    const a = await h.fetch();
    expect(a.length).toBe(1 << 20);
    expect(a[12345]).toBe(12345);
    await expect(h.length.fetch()).resolves.toBe(1 << 20);
  });

  test('put with `transfer` moves the buffer in: the caller\'s copy is detached', async () => {
    const local = new Float64Array(1024).fill(2);
    const h = env.put(local, { transfer: [local.buffer] });
    await env.ready();
    expect(local.byteLength).toBe(0);
    await expect(h.length.fetch()).resolves.toBe(1024);
  });

  test('put of a large typed array copies it once and leaves the caller its own', async () => {
    const local = new Float64Array(1 << 18).fill(7);
    const h = env.put(local);
    expect(local.length).toBe(1 << 18);
    await expect(env.run((a: Float64Array) => a.reduce((s, v) => s + v, 0), h).fetch()).resolves.toBe(7 * (1 << 18));
  });
});
