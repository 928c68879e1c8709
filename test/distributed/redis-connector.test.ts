import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Store, connectorContract, connectorFromConfig, proxyFromReference, resolveAsync } from 'skein';
import { RedisConnector, RedisStore } from 'skein/distributed';
import { client, keysMatching, redisUrl, suitePrefix } from './redis.js';

const prefix = suitePrefix('connector');
const redis = client();
const opened: { close(): Promise<void> }[] = [];
function open(options: Partial<ConstructorParameters<typeof RedisConnector>[0]> = {}): RedisConnector {
  const c = new RedisConnector({ connection: redisUrl(), prefix, ...options });
  opened.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()));
  // Every test's connector deleted what it wrote.
  expect(await keysMatching(redis, `${prefix}:*`)).toEqual([]);
});
afterAll(() => redis.quit());

describe('RedisConnector against a real redis-server', () => {
  test('put, get, exists and evict binary bytes (no JSON on the way)', async () => {
    const c = open();
    const bytes = new Uint8Array([0, 255, 1, 254, 10, 13, 0]);
    const key = await c.put(bytes);
    expect(c.checkKey(key)).toBe(key);
    expect(await c.exists(key)).toBe(true);
    expect(Buffer.from((await c.get(key))!)).toEqual(Buffer.from(bytes));
    // Stored as raw bytes: the chunk is exactly the value's length.
    const id = key.split('-')[0]!;
    expect(await redis.strlen(`${c.namespace}:${id}:0`)).toBe(bytes.byteLength);
    await c.evict(key);
    expect(await c.exists(key)).toBe(false);
    expect(await c.get(key)).toBeUndefined();
    await c.evict(key); // evicting twice is not an error
    expect(await c.put(new Uint8Array(0)).then((k) => c.get(k))).toEqual(Buffer.alloc(0));
  });

  test('values larger than a chunk are split across Redis strings and come back whole', async () => {
    const c = open({ chunkBytes: 1 << 20 });
    const bytes = randomBytes(5 * (1 << 20) + 123);
    const key = await c.put(bytes);
    expect(key.endsWith('-6')).toBe(true);
    const id = key.split('-')[0]!;
    expect(await keysMatching(redis, `${c.namespace}:${id}:*`)).toHaveLength(6);
    expect(await redis.strlen(`${c.namespace}:${id}:0`)).toBe(1 << 20);
    expect(Buffer.from((await c.get(key))!).equals(bytes)).toBe(true);
    await c.evict(key);
    expect(await keysMatching(redis, `${c.namespace}:*`)).toEqual([]);
  });

  test('putMany and getMany move many keys in one pipeline, in order', async () => {
    const c = open({ chunkBytes: 64 });
    const values = Array.from({ length: 2000 }, (_, i) => randomBytes(i % 200));
    const keys = await c.putMany(values);
    expect(new Set(keys).size).toBe(values.length);
    const back = await c.getMany([...keys].reverse());
    back.reverse().forEach((b, i) => expect(Buffer.from(b!).equals(values[i]!)).toBe(true));
    await c.evict(keys[0]!);
    expect((await c.getMany([keys[0]!, keys[1]!]))[0]).toBeUndefined();
  });

  test('every key carries a TTL as a backstop; null turns it off', async () => {
    const c = open({ ttl: 60_000, chunkBytes: 4 });
    const key = await c.put(new Uint8Array(10));
    const names = await keysMatching(redis, `${c.namespace}:*`);
    expect(names).toHaveLength(4); // header + 3 chunks
    for (const name of names) {
      const ttl = await redis.pttl(name);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
    const forever = open({ ttl: null });
    await forever.put(new Uint8Array(1));
    for (const name of await keysMatching(redis, `${forever.namespace}:*`)) expect(await redis.pttl(name)).toBe(-1);
    expect(await c.exists(key)).toBe(true);
  });

  test('an entry expires with its TTL', async () => {
    const c = open({ ttl: 50 });
    const key = await c.put(new Uint8Array(3));
    await new Promise((r) => setTimeout(r, 150));
    expect(await c.get(key)).toBeUndefined();
  });

  test('corrupted, truncated or missing chunks are IntegrityError, never wrong bytes', async () => {
    const c = open({ chunkBytes: 8 });
    const key = await c.put(Buffer.from('0123456789abcdefXYZ'));
    const id = key.split('-')[0]!;
    await redis.setrange(`${c.namespace}:${id}:1`, 0, 'Z');
    await expect(c.get(key)).rejects.toMatchObject({ name: 'IntegrityError', code: 'ERR_SKEIN_INTEGRITY', message: expect.stringContaining('checksum') });
    await redis.set(`${c.namespace}:${id}:1`, 'short');
    await expect(c.get(key)).rejects.toMatchObject({ name: 'IntegrityError', message: expect.stringContaining('bytes') });
    await redis.del(`${c.namespace}:${id}:2`);
    await expect(c.get(key)).rejects.toMatchObject({ name: 'IntegrityError', message: expect.stringContaining('missing') });
  });

  test('keys from elsewhere are refused with InvalidKeyError', async () => {
    const c = open();
    for (const bad of ['../x', '0123-1', 'abcdefabcdefabcd-0', 42, { id: 1 }]) {
      expect(() => c.checkKey(bad)).toThrow(expect.objectContaining({ name: 'InvalidKeyError' }) as unknown as Error);
    }
    await expect(c.get('nothex!')).rejects.toMatchObject({ name: 'InvalidKeyError' });
  });

  test('a connector rebuilt from config reads and writes the same entries; only the owner deletes them', async () => {
    const owner = open();
    const key = await owner.put(Buffer.from('shared'));
    const config = structuredClone(owner.config());
    const other = RedisConnector.fromConfig(config);
    expect(Buffer.from((await other.get(key))!).toString()).toBe('shared');
    const written = await other.put(Buffer.from('from a worker'));
    await other.close();
    expect(await owner.exists(key)).toBe(true);
    expect(Buffer.from((await owner.get(written))!).toString()).toBe('from a worker');
    await owner.close();
    expect(await keysMatching(redis, `${owner.namespace}:*`)).toEqual([]);
  });

  test('bad options say what was expected', () => {
    expect(() => new RedisConnector({ connection: redisUrl(), prefix: 'a*b' })).toThrow(/Expected `prefix`/);
    expect(() => new RedisConnector({ connection: redisUrl(), chunkBytes: 0 })).toThrow(/Expected `chunkBytes` to be an integer from 1 to/);
    expect(() => new RedisConnector({ connection: redisUrl(), ttl: -1 })).toThrow(/Expected `ttl`/);
  });

  test('a closed connector refuses operations', async () => {
    const c = open();
    await c.close();
    await expect(c.put(new Uint8Array(1))).rejects.toThrow(/is closed/);
  });
});

// The contract kit over the async paths (the connector has no `sync`), rebuilt from config through the open registry.
connectorContract('redis', () => new RedisConnector({ connection: redisUrl(), prefix }), { describe, test, expect, afterEach });

describe('RedisStore', () => {
  test('a Store on the redis connector: registry frames, putMany in one pipeline, rebuilt from config through the registry; close deletes its keys', async () => {
    const store = new RedisStore({ connection: redisUrl(), prefix, chunkBytes: 1 << 16 });
    opened.push(store);
    expect(store).toBeInstanceOf(Store);
    expect(store.sync).toBe(false);
    const big = new Float64Array(100_000).map((_, i) => i * 0.5);
    const [a, b, c] = await store.putMany([big, { rows: [{ x: 1 }, { x: 2 }] }, new Map([[1, 'one']])]);
    expect(store.stats()).toMatchObject({ entries: 3 });
    const config = structuredClone(store.config());
    expect(config.connector).toMatchObject({ type: 'redis', namespace: store.namespace });
    const rebuilt = connectorFromConfig(config.connector);
    expect(rebuilt).toBeInstanceOf(RedisConnector);
    await rebuilt.close();
    const again = Store.fromConfig(config);
    expect(again.owner).toBe(false);
    expect(await Promise.all([a!, b!, c!].map((k) => again.get(k)))).toEqual([big, { rows: [{ x: 1 }, { x: 2 }] }, new Map([[1, 'one']])]);
    const written = (await again.put('from a worker')) as string;
    await again.close();
    expect(await store.getMany([a!, written])).toEqual([big, 'from a worker']);
    await store.evict(b!);
    await expect(store.get(b!)).rejects.toMatchObject({ name: 'KeyNotFoundError' });
    expect(() => store.getSync(a!)).toThrow(expect.objectContaining({ name: 'SyncUnsupportedError' }) as unknown as Error);
    await store.close();
    expect(await keysMatching(redis, `${store.namespace}:*`)).toEqual([]);
  });

  test('a proxy of a RedisStore entry resolves with resolveAsync, here or from a reference', async () => {
    const store = new RedisStore({ connection: redisUrl(), prefix });
    opened.push(store);
    const key = await store.put({ v: [1, 2, 3] });
    const p = proxyFromReference<{ v: number[] }>(structuredClone(store.referenceOf(key)));
    await resolveAsync(p);
    expect(p.v).toEqual([1, 2, 3]);
  });
});
