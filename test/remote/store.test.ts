import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { types } from 'node:util';
import { Worker } from 'node:worker_threads';
import { createRemoteEnv, FileStore, LocalConnector, SharedMemoryStore, Store } from 'skein';

const N = 1 << 17; // 1 MB of Float64, above the 64 KB bound
const big = () => Float64Array.from({ length: N }, (_, i) => i * 0.5);
/** The kind of buffer behind a typed array, seen in the worker. */
const bufferKind = (a: Float64Array) => Object.prototype.toString.call(a.buffer);

/** Bytes of non-shared ArrayBuffers in every message between this thread and any worker. */
function countPostedBytes(): { bytes: () => number; restore(): void } {
  let bytes = 0;
  const walk = (value: unknown, depth: number): void => {
    if (typeof value !== 'object' || value === null || depth > 6) return;
    if (ArrayBuffer.isView(value)) {
      if (!types.isSharedArrayBuffer(value.buffer)) bytes += value.byteLength;
      return;
    }
    if (types.isArrayBuffer(value)) return void (bytes += value.byteLength);
    for (const v of Object.values(value)) walk(v, depth + 1);
  };
  const post = Worker.prototype.postMessage;
  const emit = Worker.prototype.emit;
  Worker.prototype.postMessage = function (this: Worker, message: unknown, transfer?: never) {
    walk(message, 0);
    return post.call(this, message, transfer);
  };
  Worker.prototype.emit = function (this: Worker, event: string | symbol, ...args: unknown[]) {
    if (event === 'message') walk(args[0], 0);
    return emit.call(this, event, ...args);
  } as typeof emit;
  return {
    bytes: () => bytes,
    restore() {
      Worker.prototype.postMessage = post;
      Worker.prototype.emit = emit;
    },
  };
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('remote environment: the store option', () => {
  test("store: 'shared': a large Float64Array put then fetched is shared memory both ways, never posted", async () => {
    await using env = await createRemoteEnv({ name: 'shared', store: 'shared' });
    const probe = countPostedBytes();
    try {
      const h = env.put(big());
      await expect(env.run(bufferKind, h).fetch()).resolves.toBe('[object SharedArrayBuffer]');
      const back = await h.fetch();
      expect(types.isSharedArrayBuffer(back.buffer)).toBe(true);
      expect(back.length).toBe(N);
      expect(back[N - 1]).toBe((N - 1) * 0.5);
      expect(probe.bytes()).toBe(0);
    } finally {
      probe.restore();
    }
  });

  test('without a store the same round trip posts the array (the baseline the probe above must tell apart)', async () => {
    await using env = await createRemoteEnv({ name: 'plain' });
    const probe = countPostedBytes();
    try {
      const back = await env.put(big()).fetch();
      expect(types.isSharedArrayBuffer(back.buffer)).toBe(false);
      expect(probe.bytes()).toBeGreaterThanOrEqual(2 * N * 8);
    } finally {
      probe.restore();
    }
  });

  test("a SharedMemoryStore of the caller's: values nested one level go through it, and its entries are evicted once taken", async () => {
    await using store = new SharedMemoryStore();
    await using env = await createRemoteEnv({ name: 'user-shared', store });
    const h = env.put({ xs: big(), label: 'v', small: new Float64Array(4) });
    const back = await h.fetch();
    expect(types.isSharedArrayBuffer(back.xs.buffer)).toBe(true);
    expect(back.xs[3]).toBe(1.5);
    expect(back.label).toBe('v');
    expect(types.isSharedArrayBuffer(back.small.buffer)).toBe(false);
    expect(store.stats().entries).toBe(0);
    await env.close();
    expect(store.closed).toBe(false);
  });

  test('a FileStore: the value round-trips through its files, which are gone after use and after close()', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skein-env-store-'));
    dirs.push(dir);
    await using store = new FileStore({ dir });
    const env = await createRemoteEnv({ name: 'file', store });
    const value = big();
    const h = env.put([value, 7]);
    const back = await h.fetch();
    expect(back[1]).toBe(7);
    expect(Array.from(back[0] as Float64Array)).toEqual(Array.from(value));
    expect(readdirSync(dir)).toEqual([]);
    // A put the worker never gets to: its file is written now, and close() removes it.
    env.run(() => {
      const end = Date.now() + 300;
      while (Date.now() < end);
    });
    await new Promise((r) => setTimeout(r, 50));
    env.put(big());
    expect(readdirSync(dir).length).toBe(1);
    await env.close({ force: true });
    expect(readdirSync(dir)).toEqual([]);
    expect(store.closed).toBe(false);
  });

  test("a handle moved out of an environment with a store goes through that store", async () => {
    await using a = await createRemoteEnv({ name: 'from', store: 'shared' });
    await using b = await createRemoteEnv({ name: 'to' });
    const x = a.run((n: number) => new Float64Array(n).fill(2), N);
    const sum = b.run((xs: Float64Array) => xs.reduce((s, v) => s + v, 0), x);
    await expect(sum.fetch()).resolves.toBe(2 * N);
    await expect(b.run(bufferKind, x).fetch()).resolves.toBe('[object SharedArrayBuffer]');
  });

  test('a store that is not one is refused at once', async () => {
    await expect(createRemoteEnv({ store: 'file' as never })).rejects.toThrow('Expected `store` to be \'shared\' or a Store, got `"file"` (string)');
    await expect(createRemoteEnv({ store: {} as never })).rejects.toThrow(/Expected `store` to be 'shared' or a Store/);
    await using local = new Store(new LocalConnector());
    await expect(createRemoteEnv({ store: local })).rejects.toThrow(/LocalConnector \(its entries live in one thread\)/);
  });
});
