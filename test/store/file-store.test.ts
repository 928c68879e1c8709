import { afterEach, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, truncateSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileStore, IntegrityError, InvalidKeyError, ProxyResolveError, getOrCreateStore, storeReference, type StoreConfig } from 'skein';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '../../dist/src/index.js');

const dirs: string[] = [];
const stores: FileStore[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'skein-test-'));
  dirs.push(d);
  return d;
}
function store(dir?: string): FileStore {
  const s = new FileStore(dir === undefined ? {} : { dir });
  stores.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const entryFile = (s: FileStore, key: string): string => path.join(s.dir, `${key}.skein`);

describe('permissions and layout', () => {
  test('a missing directory is created 0700 (parents too), files are 0600', async () => {
    const dir = path.join(tempDir(), 'a', 'b');
    const s = store(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path.dirname(dir)).mode & 0o777).toBe(0o700);
    const key = await s.put({ secret: 1 });
    expect(statSync(entryFile(s, key)).mode & 0o777).toBe(0o600);
    const k2 = s.putSync({ secret: 2 });
    expect(statSync(entryFile(s, k2)).mode & 0o777).toBe(0o600);
  });

  test('without dir: a private temporary directory, removed by close()', async () => {
    const s = new FileStore();
    expect(statSync(s.dir).mode & 0o777).toBe(0o700);
    await s.put({ a: 1 });
    await s.close();
    expect(existsSync(s.dir)).toBe(false);
  });

  test('no temp files are left behind, and a reader never sees a partial entry', async () => {
    const s = store(tempDir());
    const big = new Uint8Array(48 * 2 ** 20).fill(7);
    const writing = s.put(big);
    let done = false;
    void writing.then(() => (done = true));
    const sizes: number[] = [];
    while (!done) {
      for (const name of await readdir(s.dir)) {
        if (name.endsWith('.skein')) sizes.push((await stat(path.join(s.dir, name)).catch(() => ({ size: -1 }))).size);
      }
      await new Promise((r) => setImmediate(r));
    }
    const key = await writing;
    const full = statSync(entryFile(s, key)).size;
    expect(sizes.every((n) => n === full || n === -1)).toBe(true);
    expect(readdirSync(s.dir)).toEqual([`${key}.skein`]);
  });
});

describe('integrity: never garbage', () => {
  async function corrupted(mutate: (file: string) => void): Promise<unknown> {
    const s = store(tempDir());
    const key = await s.put({ payload: 'x'.repeat(1000) });
    mutate(entryFile(s, key));
    return s.get(key).catch((e: unknown) => e);
  }

  test('a flipped payload byte raises IntegrityError', async () => {
    const error = await corrupted((file) => {
      const data = readFileSync(file);
      data[data.length - 10] = data[data.length - 10]! ^ 0xff;
      writeFileSync(file, data);
    });
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as IntegrityError).message).toMatch(/checksum/);
    expect((error as IntegrityError).path).toMatch(/\.skein$/);
  });

  test('a truncated file raises IntegrityError', async () => {
    const error = await corrupted((file) => truncateSync(file, statSync(file).size - 1));
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as Error).message).toMatch(/truncated/);
  });

  test('a file cut inside its header raises IntegrityError', async () => {
    expect(await corrupted((file) => truncateSync(file, 10))).toBeInstanceOf(IntegrityError);
  });

  test('appended bytes and a foreign file raise IntegrityError', async () => {
    expect(await corrupted((file) => writeFileSync(file, Buffer.from('tail'), { flag: 'a' }))).toBeInstanceOf(IntegrityError);
    expect(await corrupted((file) => writeFileSync(file, Buffer.alloc(64, 1)))).toBeInstanceOf(IntegrityError);
  });

  test('corruption under a custom serializer is caught too (the file has its own checksum)', async () => {
    const s = store(tempDir());
    const key = await s.put('abc', { serializer: (v) => new TextEncoder().encode(String(v)) });
    const file = entryFile(s, key);
    const data = readFileSync(file);
    data[data.length - 1] = 'x'.charCodeAt(0);
    writeFileSync(file, data);
    await expect(s.get(key, { deserializer: (b) => new TextDecoder().decode(b) })).rejects.toThrow(IntegrityError);
  });

  test('through a proxy: ProxyResolveError caused by IntegrityError', () => {
    const s = store(tempDir());
    const p = s.proxy({ v: 1 });
    const key = storeReference(p)!.key as string;
    truncateSync(entryFile(s, key), 40);
    let error: unknown;
    try {
      void p.v;
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProxyResolveError);
    expect((error as Error).cause).toBeInstanceOf(IntegrityError);
  });
});

describe('keys cannot name paths outside the store', () => {
  test.each([
    '../../etc/passwd',
    '/etc/passwd',
    '..',
    '',
    '0123456789abcdef-0123456789abcdef/../../x',
    '0123456789ABCDEF-0123456789abcdef',
    '0123456789abcdef-0123456789abcdef.skein',
  ])('%j is refused without touching the disk', async (key) => {
    const s = store(tempDir());
    await expect(s.get(key)).rejects.toThrow(InvalidKeyError);
    await expect(s.exists(key)).rejects.toThrow(InvalidKeyError);
    await expect(s.evict(key)).rejects.toThrow(InvalidKeyError);
  });

  test('a key of another store on the same directory is read: the directory is the store', async () => {
    const dir = tempDir();
    const a = store(dir);
    const b = store(dir);
    const key = await a.put(1);
    expect(await b.get(key)).toBe(1);
  });
});

describe('lifetimes and sharing a directory', () => {
  test('close() deletes the files it wrote and nothing else; a given directory stays', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'user-file.txt'), 'mine');
    const a = store(dir);
    const b = store(dir);
    await a.put({ a: 1 });
    a.putSync({ a: 2 });
    const kb = await b.put({ b: 1 });
    expect(readdirSync(dir)).toHaveLength(4);
    await a.close();
    expect(readdirSync(dir).sort()).toEqual([`${kb}.skein`, 'user-file.txt'].sort());
    expect(await b.get(kb)).toEqual({ b: 1 });
    await b.close();
    expect(readdirSync(dir)).toEqual(['user-file.txt']);
  });

  test('two processes on one directory never collide, and read each other by config', async () => {
    const dir = tempDir();
    // The child stays until told to go: a store's files leave with its process.
    const child = `
      const { FileStore } = await import(${JSON.stringify(dist)});
      const s = new FileStore({ dir: ${JSON.stringify(dir)} });
      const keys = [];
      for (let i = 0; i < 50; i++) keys.push(await s.put({ from: 'child', i }));
      console.log(JSON.stringify({ keys, config: s.config() }));
      process.stdin.resume();
      process.stdin.on('end', () => process.exit(0));
    `;
    const parent = store(dir);
    const proc = spawn(process.execPath, ['--input-type=module', '-e', child], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => proc.on('exit', resolve));
    const [out, parentKeys] = await Promise.all([
      new Promise<string>((resolve) => {
        let text = '';
        proc.stdout.on('data', (d: Buffer) => {
          text += String(d);
          if (text.endsWith('\n')) resolve(text);
        });
      }),
      Promise.all(Array.from({ length: 50 }, (_, i) => parent.put({ from: 'parent', i }))),
    ]);
    const { keys, config } = JSON.parse(out) as { keys: string[]; config: StoreConfig };
    expect(new Set([...keys, ...parentKeys]).size).toBe(100);
    expect(readdirSync(dir).filter((n) => n.endsWith('.skein'))).toHaveLength(100);
    const childStore = getOrCreateStore(config);
    expect(await childStore.get(keys[7])).toEqual({ from: 'child', i: 7 });
    expect(await parent.get(parentKeys[7]!)).toEqual({ from: 'parent', i: 7 });
    // Rebuilt from config, a store does not own the files: closing it deletes nothing.
    await childStore.close();
    expect(readdirSync(dir).filter((n) => n.endsWith('.skein'))).toHaveLength(100);
    // The child's process ends without close(): its files go, the parent's stay.
    proc.stdin.end();
    expect(await exited).toBe(0);
    expect(readdirSync(dir).filter((n) => n.endsWith('.skein')).sort()).toEqual(parentKeys.map((k) => `${k}.skein`).sort());
  });
});
