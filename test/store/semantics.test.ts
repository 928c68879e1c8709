/**
 * Store semantics users expect from ProxyStore: a directory is a store (any
 * FileStore on it, in any process or a later run, reads its entries by key;
 * each deletes only what it wrote, or nothing with `clear: false`), and a
 * custom serializer or deserializer that fails raises SerializationError on
 * every store.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  FileStore,
  IntegrityError,
  InvalidKeyError,
  LocalConnector,
  ProxyResolveError,
  SerializationError,
  SharedMemoryStore,
  Store,
  extract,
  getOrCreateStore,
} from 'skein';
import { runNode, rejection, thrown } from '../helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/dir-store.mjs', import.meta.url));

const dirs: string[] = [];
const open: Store<unknown>[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'skein-test-'));
  dirs.push(d);
  return d;
}
function fileStore(dir?: string): FileStore {
  const s = new FileStore(dir === undefined ? {} : { dir });
  open.push(s as Store<unknown>);
  return s;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const entries = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.skein')).sort();
const files = (keys: string[]): string[] => keys.map((k) => `${k}.skein`).sort();

describe('a directory is a store', () => {
  test('another FileStore on the same directory reads the entries by key', async () => {
    const dir = tempDir();
    const a = fileStore(dir);
    const b = fileStore(dir);
    const k1 = await a.put({ from: 'a' });
    const k2 = a.putSync(new Float64Array([1, 2, 3]));
    expect(await b.get(k1)).toEqual({ from: 'a' });
    expect(b.getSync(k2)).toEqual(new Float64Array([1, 2, 3]));
    expect(await b.exists(k1)).toBe(true);
    expect(b.proxyFromKey<{ from: string }>(k1).from).toBe('a');
    // A store rebuilt from B's config (what a worker holding B's proxy uses) reads A's keys too.
    expect(await getOrCreateStore(b.config()).get(k1)).toEqual({ from: 'a' });
    // Evicting through B removes the entry for everyone: one directory, one store.
    await b.evict(k1);
    expect(await a.exists(k1)).toBe(false);
  });

  test('keys stay validated: other shapes are refused before the disk, a symlink named as a key is refused', async () => {
    const dir = tempDir();
    const a = fileStore(dir);
    const b = fileStore(dir);
    const key = await a.put({ v: 1 });
    for (const bad of ['../../etc/passwd', `${key}/../../x`, `${key}.skein`, key.toUpperCase(), `../${path.basename(dir)}/${key}`]) {
      await expect(b.get(bad)).rejects.toThrow(InvalidKeyError);
      await expect(b.evict(bad)).rejects.toThrow(InvalidKeyError);
    }
    // A well-formed name planted as a symlink to a real entry is still not followed.
    const planted = `${'f'.repeat(16)}-${'0'.repeat(16)}`;
    symlinkSync(path.join(dir, `${key}.skein`), path.join(dir, `${planted}.skein`));
    const error = await rejection(b.get(planted));
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toMatch(/symbolic link/);
  });

  test('close() deletes only what that store wrote; close({ clear: false }) deletes nothing', async () => {
    const dir = tempDir();
    const a = fileStore(dir);
    const b = fileStore(dir);
    const ka = [await a.put({ a: 1 }), a.putSync({ a: 2 })];
    await b.put({ b: 1 });
    expect(await b.get(ka[0]!)).toEqual({ a: 1 }); // B has read (and cached) A's entry
    await b.close();
    expect(entries(dir)).toEqual(files(ka));
    await a.close({ clear: false });
    expect(entries(dir)).toEqual(files(ka));
    const c = fileStore(dir);
    expect(await c.get(ka[1]!)).toEqual({ a: 2 });
    await c.close();
    expect(entries(dir)).toEqual(files(ka));
  });

  test('the store that made its temporary directory leaves it to other stores that wrote there', async () => {
    const owner = fileStore();
    const guest = fileStore(owner.dir);
    const mine = await owner.put({ owner: true });
    const theirs = await guest.put({ guest: true });
    await owner.close();
    expect(entries(owner.dir)).toEqual(files([theirs]));
    expect(await guest.get(theirs)).toEqual({ guest: true });
    expect(await guest.exists(mine)).toBe(false);
    await guest.close();
    dirs.push(owner.dir);
  });

  test('close({ clear: false }) of a store without dir keeps its temporary directory', async () => {
    const s = new FileStore();
    dirs.push(s.dir);
    const key = await s.put([1, 2]);
    await s.close({ clear: false });
    const later = fileStore(s.dir);
    expect(await later.get(key)).toEqual([1, 2]);
  });

  test('a process that wrote and closed with clear: false is read by a later process, whose close() leaves those entries', async () => {
    const dir = tempDir();
    const a = await runNode([fixture, 'write', dir, 'keep']);
    expect(a).toMatchObject({ code: 0, stderr: '' });
    const { keys } = JSON.parse(a.stdout) as { keys: string[] };
    // A has exited: its entries stay, neither close() nor the exit hook removed them.
    expect(entries(dir)).toEqual(files(keys));

    const b = await runNode([fixture, 'read', dir, JSON.stringify(keys)]);
    expect(b).toMatchObject({ code: 0, stderr: '' });
    const { values, own } = JSON.parse(b.stdout) as { values: unknown[]; own: string };
    expect(values).toEqual([{ from: 'A', n: 1 }, { Float64Array: [1.5, -2, 3] }, 'a string']);
    // B's close() deleted B's own entry and none of A's.
    expect(entries(dir)).toEqual(files(keys));
    expect(existsSync(path.join(dir, `${own}.skein`))).toBe(false);

    // And a third run (this process) still reads what A wrote.
    const c = fileStore(dir);
    expect(await c.get(keys[1]!)).toEqual(new Float64Array([1.5, -2, 3]));
    await c.close();
    expect(entries(dir)).toEqual(files(keys));
  });

  test('a process that closed with plain close() leaves nothing for a later one', async () => {
    const dir = tempDir();
    const a = await runNode([fixture, 'write', dir, 'clear']);
    expect(a).toMatchObject({ code: 0, stderr: '' });
    expect(entries(dir)).toEqual([]);
    const { keys } = JSON.parse(a.stdout) as { keys: string[] };
    await expect(fileStore(dir).get(keys[0]!)).rejects.toMatchObject({ code: 'ERR_SKEIN_KEY_NOT_FOUND' });
  });
});

describe('close({ clear })', () => {
  test('`clear` must be a boolean', async () => {
    const s = fileStore(tempDir());
    await expect(s.close({ clear: 'no' as unknown as boolean })).rejects.toThrow(
      'Expected `clear` to be a boolean, got `"no"` (string)',
    );
    expect(s.closed).toBe(false);
  });

  test.each([
    ['shared-memory', () => new SharedMemoryStore() as Store<unknown>],
    ['local', () => new Store(new LocalConnector()) as Store<unknown>],
  ])('%s: entries cannot outlive the process, so clear: false still frees them', async (_name, make) => {
    const s = make();
    const p = s.proxy({ v: 1 });
    await s.close({ clear: false });
    expect(thrown(() => p.v)).toBeInstanceOf(ProxyResolveError);
  });
});

const backends: [string, () => Store<unknown>][] = [
  ['local', () => new Store(new LocalConnector()) as Store<unknown>],
  ['shared-memory', () => new SharedMemoryStore() as Store<unknown>],
  ['file', () => new FileStore() as Store<unknown>],
];

describe.each(backends)('custom serializers on the %s store', (_name, make) => {
  const create = (): Store<unknown> => {
    const s = make();
    open.push(s);
    return s;
  };
  const boom = new RangeError('no bytes for you');
  const failing = (): Uint8Array => {
    throw boom;
  };

  test('a serializer that throws raises SerializationError with the cause (put, putSync, proxy)', async () => {
    const store = create();
    for (const error of [
      await rejection(store.put({ v: 1 }, { serializer: failing })),
      thrown(() => store.putSync({ v: 1 }, { serializer: failing })),
      thrown(() => store.proxy({ v: 1 }, { serializer: failing })),
      // Typed arrays take their own path in the shared-memory store: not with a custom serializer.
      thrown(() => store.putSync(new Float64Array(4), { serializer: failing })),
    ]) {
      expect(error).toBeInstanceOf(SerializationError);
      expect(error.code).toBe('ERR_SKEIN_SERIALIZATION');
      expect(error.cause).toBe(boom);
      expect(error.message).toMatch(/custom serializer failed on .*RangeError: no bytes for you/);
    }
    expect(store.stats().entries).toBe(0);
  });

  test('a serializer that returns something other than a Uint8Array raises SerializationError', async () => {
    const store = create();
    const wrong = (): Uint8Array => 'nope' as unknown as Uint8Array;
    const error = await rejection(store.put(1, { serializer: wrong }));
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.message).toBe('Expected the custom serializer to return a Uint8Array, got `"nope"` (string)');
    expect(thrown(() => store.putSync(1, { serializer: wrong }))).toBeInstanceOf(SerializationError);
  });

  test('a deserializer that throws raises SerializationError with the cause (get, getSync; a proxy wraps it)', async () => {
    const store = create();
    const key = await store.put('abc', { serializer: (v) => new TextEncoder().encode(String(v)) });
    const failingDecode = (): unknown => {
      throw boom;
    };
    for (const error of [await rejection(store.get(key, { deserializer: failingDecode })), thrown(() => store.getSync(key, { deserializer: failingDecode }))]) {
      expect(error).toBeInstanceOf(SerializationError);
      expect(error.cause).toBe(boom);
      expect(error.message).toMatch(/custom deserializer failed on entry `.+` of store `.+`: RangeError: no bytes for you/);
    }
    const p = store.proxy({ v: 1 }, { serializer: () => new Uint8Array(1), deserializer: failingDecode as () => { v: number } });
    const error = thrown(() => extract(p));
    expect(error).toBeInstanceOf(ProxyResolveError);
    expect(error.cause).toBeInstanceOf(SerializationError);
    expect((error.cause as Error).cause).toBe(boom);
    // The entry is intact: a working deserializer still reads it.
    expect(await store.get(key, { deserializer: (b) => new TextDecoder().decode(b) })).toBe('abc');
  });
});
