import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { Worker } from 'node:worker_threads';
import { createRemoteEnv, type RemoteEnv } from 'skein';

/** Whether `needle` occurs anywhere inside `value` (strings, arrays, objects, maps). */
function contains(value: unknown, needle: string, seen = new Set<object>()): boolean {
  if (typeof value === 'string') return value.includes(needle);
  if (typeof value !== 'object' || value === null || seen.has(value)) return false;
  seen.add(value);
  if (ArrayBuffer.isView(value)) return false;
  if (value instanceof Map) return [...value].some(([k, v]) => contains(k, needle, seen) || contains(v, needle, seen));
  return Object.values(value).some((v) => contains(v, needle, seen));
}

/** Records every message between this thread and any worker: what the caller sends and what it receives. */
function instrument(): { seen: unknown[]; restore(): void } {
  const seen: unknown[] = [];
  const post = Worker.prototype.postMessage;
  const emit = Worker.prototype.emit;
  Worker.prototype.postMessage = function (this: Worker, message: unknown, transfer?: never) {
    seen.push(message);
    return post.call(this, message, transfer);
  };
  Worker.prototype.emit = function (this: Worker, event: string | symbol, ...args: unknown[]) {
    if (event === 'message') seen.push(args[0]);
    return emit.call(this, event, ...args);
  } as typeof emit;
  return {
    seen,
    restore() {
      Worker.prototype.postMessage = post;
      Worker.prototype.emit = emit;
    },
  };
}

let a: RemoteEnv;
let b: RemoteEnv;
beforeAll(async () => {
  [a, b] = await Promise.all([createRemoteEnv({ name: 'a' }), createRemoteEnv({ name: 'b' })]);
});
afterAll(() => Promise.all([a.close(), b.close()]));

describe('remote environment: handles of another environment move worker to worker', () => {
  let probe: ReturnType<typeof instrument> | undefined;
  afterEach(() => probe?.restore());

  test('y = x1 + x2 runs in x1\'s env and fetches x2 directly, never through the caller', async () => {
    const x1 = a.put(40);
    const x2 = b.run(() => ({ secret: 'SECRET-PAYLOAD', data: new Float64Array(1 << 17).fill(0.5) }));
    await b.ready();
    probe = instrument();
    const y = a.run((n: number, o: { secret: string; data: Float64Array }) => n + o.data.reduce((s, v) => s + v, 0) + o.secret.length, x1, x2);
    await expect(y.fetch()).resolves.toBe(40 + (1 << 16) + 'SECRET-PAYLOAD'.length);
    expect(probe.seen.length).toBeGreaterThan(0);
    expect(probe.seen.some((m) => contains(m, 'SECRET-PAYLOAD'))).toBe(false);
    // The probe does see the value when it is fetched through the caller.
    await expect(x2.secret.fetch()).resolves.toBe('SECRET-PAYLOAD');
    expect(probe.seen.some((m) => contains(m, 'SECRET-PAYLOAD'))).toBe(true);
  });

  test('moves in both directions, nested in arguments, many times', async () => {
    const p = a.put(2);
    const q = b.put(3);
    const inB = b.run((o: { p: number }, k: number) => o.p * k, { p } as never, q);
    const inA = a.run((xs: number[]) => xs[0]! + xs[1]!, [inB, q] as never);
    await expect(inA.fetch()).resolves.toBe(9);
    const sums = Array.from({ length: 50 }, (_, i) => a.run((x: number, y: number) => x + y, p, b.put(i)));
    await expect(Promise.all(sums.map((s) => s.fetch()))).resolves.toEqual(Array.from({ length: 50 }, (_, i) => 2 + i));
  });

  test('a failed value moves as its failure: the dependent operation fails with the same error', async () => {
    const bad = b.run(() => {
      throw new TypeError('made in b', { cause: new Error('root') });
    });
    const h = a.run((x: unknown) => x, bad);
    const error = (await h.fetch().catch((e: unknown) => e)) as TypeError;
    expect(error.name).toBe('TypeError');
    expect(error.message).toBe('made in b');
    expect((error.cause as Error).message).toBe('root');
    expect(error.stack).toMatch(/made in b/);
  });
});
