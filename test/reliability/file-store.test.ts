/**
 * FileStore under hostile or careless conditions: entries that are not
 * files, directories others can write, a directory deleted under a store,
 * processes that end without close(), workers that write into a store.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FileStore, Parallel, delayed, getOrCreateStore, type StoreConfig } from 'skein';
import { runNode, thrown, rejection } from '../helpers.js';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

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
const entries = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.skein'));

describe('an entry that is not a regular file is refused, never read', () => {
  type Read = { name?: string; code?: string; message?: string; path?: string; key?: string; cause?: string; value?: unknown; ok?: boolean };
  type Report = { key: string; file: string; sync: Read; async: Read; evict: Read };

  // In a child process: the old behaviour was a read that blocks forever
  // (FIFO) or reads until memory runs out (/dev/zero); the timeout only
  // guards against that hang.
  async function readSpecial(kind: string): Promise<Report> {
    const result = await runNode([path.join(fixtures, 'read-special.mjs'), kind], 15000);
    expect(result.timedOut).toBe(false);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as Report;
  }

  test('a FIFO: IntegrityError at once, sync and async, without waiting for a writer', async () => {
    const report = await readSpecial('fifo');
    for (const read of [report.sync, report.async]) {
      expect(read).toMatchObject({ name: 'IntegrityError', code: 'ERR_SKEIN_INTEGRITY', path: report.file, key: report.key });
      expect(read.message).toMatch(/not a regular file \(a FIFO\)/);
    }
    expect(report.evict).toEqual({ ok: true });
  });

  test('a symlink to /dev/zero: IntegrityError (O_NOFOLLOW), nothing read', async () => {
    const report = await readSpecial('dev-zero');
    for (const read of [report.sync, report.async]) {
      expect(read).toMatchObject({ name: 'IntegrityError', path: report.file, cause: 'ELOOP' });
      expect(read.message).toMatch(/symbolic link/);
    }
  });

  test('an entry replaced by a directory: IntegrityError on get, StorageError (cause EISDIR) on evict', async () => {
    const report = await readSpecial('directory');
    for (const read of [report.sync, report.async]) {
      expect(read).toMatchObject({ name: 'IntegrityError', path: report.file, key: report.key });
      expect(read.message).toMatch(/not a regular file \(a directory\)/);
    }
    expect(report.evict).toMatchObject({ name: 'StorageError', code: 'ERR_SKEIN_STORAGE', key: report.key, path: report.file, cause: 'EISDIR' });
    expect(report.evict.message).toMatch(/is not an entry file/);
  });

  test('a file longer than its header says is refused before anything past the header is read', async () => {
    const s = store(tempDir());
    const key = await s.put({ payload: 'x'.repeat(100) });
    // Extended to 8 GiB (sparse: no disk used). Reading it whole before
    // checking would need 8 GiB of memory.
    truncateSync(entryFile(s, key), 2 ** 33);
    for (const error of [await rejection(s.get(key)), thrown(() => s.getSync(key))]) {
      expect(error).toMatchObject({ name: 'IntegrityError', path: entryFile(s, key) });
      expect(error.message).toMatch(/file has 8589934560 \(truncated or extended\)/);
    }
  });
});

describe('a directory others could tamper with is refused', () => {
  test.each([
    ['0770', 'its group'],
    ['0707', 'others'],
    ['0777', 'group and others'],
  ])('mode %s: UnsafeDirectoryError naming who can write and the chmod fix', (mode, who) => {
    const dir = tempDir();
    chmodSync(dir, parseInt(mode, 8));
    const error = thrown(() => new FileStore({ dir }));
    expect(error).toMatchObject({ name: 'UnsafeDirectoryError', code: 'ERR_SKEIN_UNSAFE_DIRECTORY', path: dir });
    expect(error.message).toContain(`writable by ${who}`);
    expect(error.message).toContain(`chmod 700 ${dir}`);
    chmodSync(dir, 0o700);
    expect(() => store(dir)).not.toThrow();
  });

  test('a shared sticky directory such as /tmp: the fix is a private subdirectory, not chmod', () => {
    const dir = tempDir();
    chmodSync(dir, 0o1777);
    const error = thrown(() => new FileStore({ dir }));
    expect(error.name).toBe('UnsafeDirectoryError');
    expect(error.message).toMatch(/private subdirectory/);
    expect(error.message).not.toMatch(/chmod/);
    const sub = path.join(dir, 'mine');
    expect(store(sub).dir).toBe(sub);
    expect(lstatSync(sub).mode & 0o777).toBe(0o700);
  });

  test('a directory owned by another user (uid 65534) is refused', () => {
    const dir = tempDir();
    chownSync(dir, 65534, 65534);
    const error = thrown(() => new FileStore({ dir }));
    expect(error.name).toBe('UnsafeDirectoryError');
    expect(error.message).toContain('owned by uid 65534');
  });

  test('a symlink planted where the directory should be is not followed', () => {
    const real = tempDir();
    const link = path.join(tempDir(), 'store');
    symlinkSync(real, link);
    const error = thrown(() => new FileStore({ dir: link }));
    expect(error).toMatchObject({ name: 'UnsafeDirectoryError', path: link });
    expect(error.message).toMatch(/symbolic link/);
    expect(readdirSync(real)).toEqual([]);
    // A dangling one too (mkdir would fail with a bare EEXIST).
    const dangling = path.join(tempDir(), 'gone');
    symlinkSync(path.join(real, 'nowhere'), dangling);
    expect(thrown(() => new FileStore({ dir: dangling })).name).toBe('UnsafeDirectoryError');
  });

  test('a store rebuilt from config checks the directory too', async () => {
    const dir = tempDir();
    const s = store(dir);
    const key = await s.put({ v: 1 });
    chmodSync(dir, 0o777);
    const config: StoreConfig = { ...s.config(), id: 'rebuilt-elsewhere' };
    expect(thrown(() => getOrCreateStore(config)).name).toBe('UnsafeDirectoryError');
    chmodSync(dir, 0o700);
    expect(await getOrCreateStore(config).get(key)).toEqual({ v: 1 });
    await getOrCreateStore(config).close();
  });

  test('an entry swapped for a symlink to a forged file is refused, not returned', async () => {
    const s = store(tempDir());
    const key = await s.put({ amount: 10 });
    const forged = await s.put({ amount: 1_000_000 });
    // A well-formed entry (valid header and checksum) that someone else controls.
    const elsewhere = path.join(tempDir(), 'forged.skein');
    copyFileSync(entryFile(s, forged), elsewhere);
    unlinkSync(entryFile(s, key));
    symlinkSync(elsewhere, entryFile(s, key));
    const error = await rejection(s.get(key));
    expect(error).toMatchObject({ name: 'IntegrityError', path: entryFile(s, key) });
    expect(thrown(() => s.getSync(key)).name).toBe('IntegrityError');
  });

  test("an entry owned by another user is refused, not returned", async () => {
    const s = store(tempDir());
    const key = await s.put({ amount: 10 });
    chownSync(entryFile(s, key), 65534, 65534);
    const error = await rejection(s.get(key));
    expect(error.name).toBe('IntegrityError');
    expect(error.message).toContain('uid 65534');
  });
});

describe('a directory deleted under a store', () => {
  test('the owner recreates it (0700) on the next put instead of failing with ENOENT', async () => {
    for (const s of [store(), store(path.join(tempDir(), 'given'))]) {
      const old = await s.put({ v: 1 });
      rmSync(s.dir, { recursive: true });
      const key = await s.put({ v: 2 });
      expect(await s.get(key)).toEqual({ v: 2 });
      expect(s.getSync(s.putSync({ v: 3 }))).toEqual({ v: 3 });
      expect(lstatSync(s.dir).mode & 0o777).toBe(0o700);
      // What was in the deleted directory is gone: missing, not a raw ENOENT.
      expect((await rejection(s.get(old))).name).toBe('KeyNotFoundError');
    }
  });

  test('a store rebuilt from config does not recreate it: StorageError with the path and cause', async () => {
    const s = store();
    const rebuilt = getOrCreateStore({ ...s.config(), id: 'rebuilt-put' });
    rmSync(s.dir, { recursive: true });
    const error = await rejection(rebuilt.put({ v: 1 }));
    expect(error).toMatchObject({ name: 'StorageError', code: 'ERR_SKEIN_STORAGE' });
    expect(error.message).toContain(`${s.dir} no longer exists`);
    expect((error.cause as { code?: string }).code).toBe('ENOENT');
    expect(thrown(() => rebuilt.putSync({ v: 1 })).name).toBe('StorageError');
    expect(existsSync(s.dir)).toBe(false);
    await rebuilt.close();
  });

  test.each([
    ['its own temp folder', undefined],
    ['a tempFolder', 'given'],
  ])("Parallel({ store: 'file' }) whose folder was deleted (%s) keeps working, run after run", async (_name, sub) => {
    const tempFolder = sub === undefined ? undefined : path.join(tempDir(), sub);
    const par = new Parallel({ nJobs: 2, store: 'file', maxNbytes: 1024, ...(tempFolder === undefined ? {} : { tempFolder }) });
    try {
      const sum = (xs: Float64Array): number => xs.reduce((a, b) => a + b, 0);
      const tasks = () => [1, 2, 3].map((n) => delayed(sum)(new Float64Array(1000).fill(n)));
      expect(await par.run(tasks())).toEqual([1000, 2000, 3000]);
      const dir = (par.offloadStore as FileStore).dir;
      for (let i = 0; i < 3; i++) {
        rmSync(dir, { recursive: true, force: true });
        expect(await par.run(tasks())).toEqual([1000, 2000, 3000]);
      }
    } finally {
      await par.close();
    }
  });
});

describe('whatever any thread wrote is removed when the owner closes', () => {
  async function writeFromWorkers(config: StoreConfig, workers: number, count: number): Promise<string[]> {
    const keys = await Promise.all(
      Array.from({ length: workers }, async () => {
        const worker = new Worker(path.join(fixtures, 'store-writer.mjs'));
        try {
          const reply = await new Promise<{ keys?: string[]; owner?: boolean; error?: unknown }>((resolve, reject) => {
            worker.once('message', resolve);
            worker.once('error', reject);
            worker.postMessage({ config, count });
          });
          expect(reply.error).toBeUndefined();
          expect(reply.owner).toBe(false);
          return reply.keys!;
        } finally {
          await worker.terminate();
        }
      }),
    );
    return keys.flat();
  }

  test('its own temp folder: removed with every entry the workers wrote', async () => {
    const s = new FileStore();
    await s.put({ from: 'owner' });
    const keys = await writeFromWorkers(s.config(), 2, 5);
    expect(entries(s.dir)).toHaveLength(11);
    expect(await s.get(keys[3]!)).toEqual({ i: 3 });
    await s.close();
    expect(existsSync(s.dir)).toBe(false);
  });

  test('a directory of yours: loses exactly the entries this store wrote, from any thread', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'user-file.txt'), 'mine');
    const s = new FileStore({ dir });
    const other = store(dir);
    const kept = await other.put({ other: true });
    await s.put({ from: 'owner' });
    await writeFromWorkers(s.config(), 2, 5);
    expect(entries(dir)).toHaveLength(12);
    await s.close();
    expect(readdirSync(dir).sort()).toEqual([`${kept}.skein`, 'user-file.txt'].sort());
    expect(await other.get(kept)).toEqual({ other: true });
  });
});

describe('the temp folder is removed however the process ends', () => {
  type Ended = { code: number | null; signal: NodeJS.Signals | null; dirs: string[]; stderr: string };

  // Runs the fixture, waits until its store holds files, then (for the
  // signal scenarios) sends `signal`; resolves once the child has ended.
  function endChild(scenario: string, signal?: NodeJS.Signals, extra: string[] = []): Promise<Ended> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(fixtures, 'file-store-exit.mjs'), scenario, ...extra], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let dirs: string[] = [];
      // A guard against a child that never ends, not a measurement.
      const guard = setTimeout(() => child.kill('SIGKILL'), 20000);
      child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
      child.stdout.on('data', (d: Buffer) => {
        stdout += String(d);
        if (!stdout.endsWith('\n') || dirs.length > 0) return;
        const ready = JSON.parse(stdout) as { dirs: string[]; files: number[] };
        dirs = ready.dirs;
        // The folders held files before the process was ended.
        for (const n of ready.files) expect(n).toBeGreaterThan(0);
        if (signal !== undefined) child.kill(signal);
      });
      child.on('error', reject);
      child.on('exit', (code, sig) => {
        clearTimeout(guard);
        resolve({ code, signal: sig, dirs, stderr });
      });
    });
  }

  test.each([
    { signal: 'SIGINT', scenario: 'sigint' },
    { signal: 'SIGTERM', scenario: 'sigterm' },
  ] as const)('$signal in the middle of a run: folder removed, and the process still dies of $signal', async ({ signal, scenario }) => {
    const ended = await endChild(scenario, signal);
    expect(ended.dirs).toHaveLength(1);
    expect(ended.signal).toBe(signal);
    expect(existsSync(ended.dirs[0]!)).toBe(false);
    expect(ended.stderr).toBe('');
  });

  test('process.exit(7) in the middle of a run: folder removed, exit code 7', async () => {
    const ended = await endChild('exit');
    expect(ended).toMatchObject({ code: 7, signal: null, stderr: '' });
    expect(existsSync(ended.dirs[0]!)).toBe(false);
  });

  test('an uncaught error in the middle of a run: folder removed, exit code 1', async () => {
    const ended = await endChild('throw');
    expect(ended).toMatchObject({ code: 1, signal: null });
    expect(ended.stderr).toMatch(/boom/);
    expect(existsSync(ended.dirs[0]!)).toBe(false);
  });

  test('no close() at all: the temp folder is removed, a directory of yours loses only the store files', async () => {
    const mine = tempDir();
    writeFileSync(path.join(mine, 'user-file.txt'), 'mine');
    const ended = await endChild('no-close', undefined, [mine]);
    expect(ended).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(existsSync(ended.dirs[0]!)).toBe(false);
    expect(readdirSync(mine)).toEqual(['user-file.txt']);
  });

  test('SIGKILL leaves the folder; the next process that makes a store removes it, and only such folders', async () => {
    const ended = await endChild('sigkill', 'SIGKILL');
    expect(ended.signal).toBe('SIGKILL');
    const killed = ended.dirs[0]!;
    const name = path.basename(killed);
    const [, pid, namespace] = /^skein-store-(\d+)-(\d+)-(\d+)-[A-Za-z0-9]{6}$/.exec(name)!;
    expect(existsSync(killed)).toBe(true);
    expect(entries(killed).length).toBeGreaterThan(0);

    const root = path.dirname(killed);
    const planted = (n: string): string => {
      const d = path.join(root, n);
      mkdirSync(d, { mode: 0o700 });
      dirs.push(d);
      return d;
    };
    // Same dead pid, but another user's folder, or not exactly the pattern: kept.
    const foreign = planted(`${name.slice(0, -6)}Foreig`);
    chownSync(foreign, 65534, 65534);
    const near = planted(`${name}-x`);
    // A live pid (this process) with another start time: the pid was reused, so the folder is stale.
    const reused = planted(`skein-store-${process.pid}-${namespace}-1-reused`);
    // A live store of this process: kept.
    const live = store();
    expect(pid).toBe(String(Number(pid)));

    const next = await runNode(['--input-type=module', '-e', "import { FileStore } from 'skein'; await new FileStore().close();"]);
    expect(next).toMatchObject({ code: 0, stderr: '', timedOut: false });
    expect(existsSync(killed)).toBe(false);
    expect(existsSync(reused)).toBe(false);
    expect(existsSync(foreign)).toBe(true);
    expect(existsSync(near)).toBe(true);
    expect(existsSync(live.dir)).toBe(true);
  });
});
