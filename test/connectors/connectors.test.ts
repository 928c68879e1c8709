/** Connectors move bytes: the same contract on every backend, sync and async. */
import { afterEach, describe, expect, test } from '@jest/globals';
import { types } from 'node:util';
import {
  FileConnector,
  InvalidKeyError,
  LocalConnector,
  SharedMemoryConnector,
  connectorFromConfig,
  type Connector,
} from 'skein';

type AnyConnector = Connector<unknown>;
const made: AnyConnector[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((c) => c.close()));
});

describe.each([
  ['local', () => new LocalConnector() as AnyConnector],
  ['shared-memory', () => new SharedMemoryConnector() as AnyConnector],
  ['file', () => new FileConnector() as AnyConnector],
])('%s connector', (type, make) => {
  const create = (): AnyConnector => {
    const c = make();
    made.push(c);
    return c;
  };
  const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);

  test('put/get/exists/evict, async and sync', async () => {
    const c = create();
    expect(c.type).toBe(type);
    const k1 = await c.put(bytes(1, 2, 3));
    const k2 = c.sync!.put(bytes(4));
    expect(Array.from((await c.get(k1))!)).toEqual([1, 2, 3]);
    expect(Array.from(c.sync!.get(k2)!)).toEqual([4]);
    expect(await c.exists(k1)).toBe(true);
    expect(c.sync!.exists(k2)).toBe(true);
    await c.evict(k1);
    c.sync!.evict(k2);
    expect(await c.get(k1)).toBeUndefined();
    expect(c.sync!.get(k2)).toBeUndefined();
    expect(c.sync!.exists(k1)).toBe(false);
    await expect(c.evict(k1)).resolves.toBeUndefined();
  });

  test('empty payloads and distinct keys', async () => {
    const c = create();
    const keys = await Promise.all([0, 1, 2].map(() => c.put(new Uint8Array(0))));
    expect(new Set(keys.map((k) => c.keyId(k))).size).toBe(3);
    expect((await c.get(keys[0]))!.byteLength).toBe(0);
  });

  test('the stored bytes do not change when the caller reuses its buffer', async () => {
    const c = create();
    const buf = bytes(9, 9);
    const key = await c.put(buf);
    buf[0] = 0;
    expect(Array.from((await c.get(key))!)).toEqual([9, 9]);
  });

  test('a connector rebuilt from config reaches the same bytes, and closing it frees nothing', async () => {
    const c = create();
    const key = await c.put(bytes(7));
    const config = structuredClone(c.config());
    const again = connectorFromConfig(config);
    expect(Array.from((await again.get(again.checkKey(key)))!)).toEqual([7]);
    await again.close();
    expect(await c.exists(key)).toBe(true);
  });

  test('the owner closing frees its entries for everyone', async () => {
    const c = make();
    const key = await c.put(bytes(1));
    const again = connectorFromConfig(c.config());
    await c.close();
    expect(again.sync!.exists(key)).toBe(false);
  });

  test("checkKey refuses another connector's keys (files: any well-formed key, the directory is the store) and non-keys", async () => {
    const c = create();
    const other = create();
    const key = await other.put(bytes(1));
    if (type === 'file') {
      expect(c.checkKey(key)).toBe(key);
      expect(c.sync!.get(key)).toBeUndefined(); // written in another directory
    } else {
      expect(() => c.checkKey(key)).toThrow(InvalidKeyError);
    }
    expect(() => c.checkKey(42)).toThrow(InvalidKeyError);
    expect(() => c.checkKey(null)).toThrow(InvalidKeyError);
    expect(c.checkKey(await c.put(bytes(1)))).toBeDefined();
  });
});

test('shared-memory get is a view of shared memory, not a copy', async () => {
  const c = new SharedMemoryConnector();
  made.push(c as AnyConnector);
  const key = await c.put(Uint8Array.from([1, 2]));
  const a = c.sync!.get(key)!;
  expect(types.isSharedArrayBuffer(a.buffer)).toBe(true);
  a[0] = 5;
  expect(c.sync!.get(key)![0]).toBe(5);
});

test('connectorFromConfig refuses unknown types', () => {
  expect(() => connectorFromConfig({ type: 'redis' } as never)).toThrow(/Unknown connector type/);
  expect(() => connectorFromConfig({ type: 'redis' })).toThrow(/registered types are .*'shared-memory'.*imported in this thread/);
});
