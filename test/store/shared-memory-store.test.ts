import { afterEach, describe, expect, test } from '@jest/globals';
import { types } from 'node:util';
import { InvalidKeyError, SharedMemoryStore, extract, shared, storeReference, type SharedMemoryStoreKey } from 'skein';

const stores: SharedMemoryStore[] = [];
function store(): SharedMemoryStore {
  const s = new SharedMemoryStore();
  stores.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

describe('shared()', () => {
  test.each([
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
  ])('%p allocates in shared memory', (Ctor) => {
    const xs = shared(Ctor, 5);
    expect(xs).toBeInstanceOf(Ctor);
    expect(xs.length).toBe(5);
    expect(types.isSharedArrayBuffer(xs.buffer)).toBe(true);
  });

  test('from values, and refusing what is not a typed array constructor or a length', () => {
    expect(Array.from(shared(Int32Array, [1, 2, 3]))).toEqual([1, 2, 3]);
    expect(shared(BigInt64Array, [5n])[0]).toBe(5n);
    expect(() => shared(Array as never, 3)).toThrow(TypeError);
    expect(() => shared(Float64Array, -1)).toThrow(TypeError);
    expect(() => shared(Float64Array, 1.5)).toThrow(TypeError);
  });
});

describe('zero copy', () => {
  test('a shared() array is stored without a copy: the store reads the very same memory', async () => {
    const s = store();
    const xs = shared(Float64Array, 4);
    const key = await s.put(xs);
    expect(key.buffer).toBe(xs.buffer);
    const back = await s.get<Float64Array>(key);
    expect(back).toBeInstanceOf(Float64Array);
    expect(back.buffer).toBe(xs.buffer);
    xs[0] = 42;
    expect(back[0]).toBe(42);
  });

  test('a subarray keeps its offset and length', async () => {
    const s = store();
    const xs = shared(Int32Array, [0, 1, 2, 3, 4, 5]);
    const back = await s.get<Int32Array>(await s.put(xs.subarray(2, 5)));
    expect(Array.from(back)).toEqual([2, 3, 4]);
    back[0] = 20;
    expect(xs[2]).toBe(20);
  });

  test('an ordinary typed array is copied once into shared memory and read back as a view of it', async () => {
    const s = store();
    const xs = new Float64Array([1, 2, 3]);
    const key = await s.put(xs);
    const a = await s.get<Float64Array>(key);
    expect(types.isSharedArrayBuffer(a.buffer)).toBe(true);
    expect(a.buffer).toBe(key.buffer);
    expect(Array.from(a)).toEqual([1, 2, 3]);
    a[0] = 10;
    expect(xs[0]).toBe(1); // the original was copied
    expect(new Float64Array(key.buffer)[0]).toBe(10);
  });

  test('a store proxy of a typed array resolves to a view of shared memory', () => {
    const s = store();
    const p = s.proxy(new Uint16Array([1, 2]));
    const ref = storeReference(p)!;
    const view = extract(p);
    expect(view.buffer).toBe((ref.key as SharedMemoryStoreKey).buffer);
  });

  test('Buffers and other objects go through the serializer and keep their class', async () => {
    const s = store();
    expect(Buffer.isBuffer(await s.get(await s.put(Buffer.from('hi'))))).toBe(true);
    class Vec extends Float32Array {}
    const key = await s.put(new Vec([1]));
    expect(key.view).toBeUndefined();
  });
});

describe('accounting and liveness', () => {
  test('stats count bytes; evict and close release them', async () => {
    const s = store();
    const k1 = await s.put(new Float64Array(1024));
    await s.put(shared(Uint8Array, 100));
    expect(s.stats()).toMatchObject({ entries: 2, bytes: 1024 * 8 + 100 });
    await s.evict(k1);
    expect(s.stats()).toMatchObject({ entries: 1, bytes: 100 });
    await s.close();
    expect(s.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  test('evict marks the key gone in the shared status table; a reused slot does not revive old keys', async () => {
    const s = store();
    const old = await s.put({ v: 'old' });
    await s.evict(old);
    expect(new Int32Array(old.table)[old.slot]).toBe(0);
    const next = await s.put({ v: 'new' });
    expect(next.slot).toBe(old.slot);
    expect(next.generation).not.toBe(old.generation);
    expect(await s.exists(old)).toBe(false);
    expect(await s.get(next)).toEqual({ v: 'new' });
  });

  test('many entries spill into further status pages', async () => {
    const s = store();
    const keys = [];
    for (let i = 0; i < 1500; i++) keys.push(s.putSync(shared(Uint8Array, 1)));
    expect(new Set(keys.map((k) => k.table)).size).toBe(2);
    expect(s.stats().entries).toBe(1500);
  });

  test('forged keys are refused', async () => {
    const s = store();
    const key = await s.put({ x: 1 });
    await expect(s.get({ ...key, slot: 99999 })).rejects.toThrow(InvalidKeyError);
    await expect(s.get({ ...key, byteLength: key.buffer.byteLength + 1 })).rejects.toThrow(InvalidKeyError);
    await expect(s.get({ ...key, buffer: new ArrayBuffer(8) as never })).rejects.toThrow(InvalidKeyError);
    const viewKey = await s.put(new Float64Array(2));
    await expect(s.get({ ...viewKey, view: 'Function' })).rejects.toThrow(InvalidKeyError);
  });
});
