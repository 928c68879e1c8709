import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writevSync,
  type Stats,
} from 'node:fs';
import { access, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from '../serialize/checksum.js';
import { SkeinError } from '../core/errors.js';
import type { Connector, FileConnectorConfig, SyncConnector } from './connector.js';
import { IntegrityError, InvalidKeyError, StorageError } from './errors.js';
import { registerConnector } from './registry.js';
import { checkDirectory, cleanupOnExit, makeOwnedDirectory, removeStoreFiles, removeStoreFilesSync } from './file-directory.js';

export interface FileConnectorOptions {
  /**
   * Directory of the entry files, created (mode 0700) if missing. It must
   * belong to this user and not be writable by others, nor be a symbolic
   * link. The directory is the store: entries any FileStore wrote there (in
   * any process, in an earlier run) are read by their keys. An existing
   * directory is never removed; `close()` deletes only the files this store
   * wrote.
   * @default a new private temporary directory, removed by `close()`
   * @example
   * new FileStore({ dir: '/var/tmp/my-cache' });
   */
  readonly dir?: string;
}

/*
 * File layout: a 32-byte header, then the payload.
 *   0  magic "SKFE"    4  version (1)   5..7 reserved
 *   8  crc32 of payload (u32 LE)        12 reserved
 *   16 payload length (u64 LE)          24 reserved
 * The header is checked on every read, so whatever bytes a caller stored
 * (custom serializers carry no checksum of their own), a truncated, extended
 * or corrupted file raises IntegrityError. 32 bytes keep the payload 8-byte
 * aligned, so typed arrays in it can be viewed without a copy.
 */
const HEADER = 32;
const MAGIC = 0x45464b53; // "SKFE" little-endian (not the serializer frame's "SKNF": a different layer)
const VERSION = 1;

// A key is `<writer's prefix>-<entry id>`, 16 lowercase hex digits each: it
// can never contain a path separator or a dot, so it cannot leave the directory.
const KEY = /^[0-9a-f]{16}-[0-9a-f]{16}$/;
const SUFFIX = '.skein';

// O_NOFOLLOW: a planted symlink (to /dev/zero, to a forged file) is refused,
// not read. O_NONBLOCK: opening a FIFO returns at once instead of waiting for
// a writer (it is then refused as not a regular file, before any read).
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * One file per entry in a directory. Writes are atomic (a private temp file
 * renamed into place), so a reader sees a whole entry or none.
 */
export class FileConnector implements Connector<string> {
  readonly type = 'file' as const;
  // Bytes on a disk: stores checksum frame payloads unless told not to.
  readonly checksumByDefault = true;
  readonly #dir: string;
  readonly #prefix: string;
  readonly #owner: boolean;
  readonly #ownsDir: boolean;
  /** Removes the owner's hook that deletes its files when the process ends without `close()`. */
  readonly #releaseExitHook: (() => void) | undefined;
  #closed = false;
  readonly sync: SyncConnector<string> = {
    put: (bytes) => this.#putSync(bytes),
    get: (key) => this.#getSync(key),
    exists: (key) => existsSync(this.#path(key)),
    evict: (key) => this.#evictSync(key),
  };

  constructor(options?: FileConnectorOptions);
  // The second form is fromConfig's only: callers rebuild through fromConfig.
  constructor(options: FileConnectorOptions = {}, config?: FileConnectorConfig) {
    this.#owner = config === undefined;
    if (config !== undefined) {
      this.#dir = config.dir;
      this.#prefix = config.prefix;
      this.#ownsDir = false;
      try {
        checkDirectory(this.#dir);
      } catch (error) {
        // Gone (its owner closed it): reads find nothing, which is the truth.
        if (errorCode(error) !== 'ENOENT') throw error;
      }
      return;
    }
    this.#prefix = randomBytes(8).toString('hex');
    if (options.dir === undefined) {
      this.#dir = makeOwnedDirectory();
      this.#ownsDir = true;
    } else {
      if (typeof options.dir !== 'string' || options.dir === '') {
        throw new TypeError(`Expected \`dir\` to be a non-empty string, got \`${String(options.dir)}\``);
      }
      this.#dir = path.resolve(options.dir);
      this.#ownsDir = false;
      this.#makeDirectory();
    }
    const [dir, prefix, whole] = [this.#dir, this.#prefix, this.#ownsDir];
    this.#releaseExitHook = cleanupOnExit(() => removeStoreFilesSync(dir, prefix, whole));
  }

  /** Creates the directory if missing (0700, parents too) and refuses one others could tamper with. */
  #makeDirectory(): void {
    try {
      // Not recursive for a temp directory of ours: its parent is the system's.
      mkdirSync(this.#dir, { recursive: !this.#ownsDir, mode: 0o700 });
    } catch (error) {
      // A dangling symlink fails mkdir: checkDirectory says what is wrong.
      try {
        checkDirectory(this.#dir);
      } catch (refused) {
        if (refused instanceof SkeinError) throw refused;
      }
      throw this.#failed('create the directory', undefined, this.#dir, error);
    }
    checkDirectory(this.#dir);
  }

  /**
   * After ENOENT on a write: the owner recreates a directory deleted under it
   * (a cleaner of /tmp, a user) so that one deletion does not fail every
   * later put. Returns whether it did.
   */
  #recreated(error: unknown): boolean {
    if (!this.#owner || errorCode(error) !== 'ENOENT') return false;
    try {
      lstatSync(this.#dir);
      return false;
    } catch {
      this.#makeDirectory();
      return true;
    }
  }

  /** A system error of an operation as a StorageError naming the key, the path and what to do. */
  #failed(operation: string, key: string | undefined, file: string, error: unknown): Error {
    if (error instanceof SkeinError) return error;
    const code = errorCode(error);
    let reason = error instanceof Error ? error.message : String(error);
    if (code === 'ENOENT') {
      reason = `the store directory ${this.#dir} no longer exists (deleted while in use${this.#owner ? '' : ', or its owner closed the store'})`;
    } else if (code === 'ENOTDIR') {
      reason = `${this.#dir} is no longer a directory (something replaced the store directory)`;
    } else if (code === 'EISDIR' || code === 'EPERM') {
      reason = `${file} is not an entry file (${code}: a directory or a protected file took its place)`;
    }
    const what = key === undefined ? operation : `${operation} entry \`${key}\``;
    return new StorageError(`Could not ${what} in ${this.description}: ${reason}`, {
      ...(key === undefined ? {} : { key }),
      connector: this.description,
      path: file,
      cause: error,
    });
  }

  /** A connector on the files of the one that made `config` (any thread or process). */
  static fromConfig(config: FileConnectorConfig): FileConnector {
    if (typeof config.dir !== 'string' || !/^[0-9a-f]{16}$/.test(config.prefix)) {
      throw new TypeError(`Invalid file connector config: ${JSON.stringify(config)}`);
    }
    return new (FileConnector as new (options: undefined, config: FileConnectorConfig) => FileConnector)(undefined, config);
  }

  get description(): string {
    return `file:${this.#dir}`;
  }

  get dir(): string {
    return this.#dir;
  }

  #path(key: string): string {
    return path.join(this.#dir, key + SUFFIX);
  }

  #newKey(): { key: string; file: string; temp: string } {
    if (this.#closed) throw new Error(`${this.description} is closed`);
    const key = `${this.#prefix}-${randomBytes(8).toString('hex')}`;
    const file = this.#path(key);
    // Dot-prefixed and unique per attempt: never mistaken for an entry, never shared.
    const temp = path.join(this.#dir, `.${key}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    return { key, file, temp };
  }

  #putSync(bytes: Uint8Array): string {
    const { key, file, temp } = this.#newKey();
    try {
      writeEntrySync(temp, file, bytes);
    } catch (error) {
      if (!this.#recreated(error)) throw this.#failed('store an entry', undefined, file, error);
      try {
        writeEntrySync(temp, file, bytes);
      } catch (again) {
        throw this.#failed('store an entry', undefined, file, again);
      }
    }
    return key;
  }

  async put(bytes: Uint8Array): Promise<string> {
    const { key, file, temp } = this.#newKey();
    try {
      await writeEntry(temp, file, bytes);
    } catch (error) {
      if (!this.#recreated(error)) throw this.#failed('store an entry', undefined, file, error);
      try {
        await writeEntry(temp, file, bytes);
      } catch (again) {
        throw this.#failed('store an entry', undefined, file, again);
      }
    }
    return key;
  }

  #getSync(key: string): Uint8Array | undefined {
    const file = this.#path(key);
    let fd: number;
    try {
      fd = openSync(file, READ_FLAGS);
    } catch (error) {
      return this.#notOpened(key, file, error);
    }
    try {
      const size = this.#checkFile(key, file, fstatSync(fd));
      const head = Buffer.alloc(HEADER);
      const length = this.#checkHeader(key, file, head, readFully(HEADER, (at, n) => readSync(fd, head, at, n, at)), size);
      const data = entryBuffer(head, length);
      const got = readFully(length, (at, n) => readSync(fd, data, HEADER + at, n, HEADER + at));
      return this.#checkPayload(key, file, data, got);
    } catch (error) {
      throw this.#failed('read', key, file, error);
    } finally {
      closeSync(fd);
    }
  }

  async putMany(bytes: readonly Uint8Array[]): Promise<string[]> {
    return Promise.all(bytes.map((b) => this.put(b)));
  }

  async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    return Promise.all(keys.map((k) => this.get(k)));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const file = this.#path(key);
    let handle: FileHandle;
    try {
      handle = await open(file, READ_FLAGS);
    } catch (error) {
      return this.#notOpened(key, file, error);
    }
    try {
      const size = this.#checkFile(key, file, await handle.stat());
      const head = Buffer.alloc(HEADER);
      const read = async (into: Buffer, from: number, length: number): Promise<number> => {
        let got = 0;
        while (got < length) {
          const { bytesRead } = await handle.read(into, from + got, length - got, from + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got;
      };
      const length = this.#checkHeader(key, file, head, await read(head, 0, HEADER), size);
      const data = entryBuffer(head, length);
      return this.#checkPayload(key, file, data, await read(data, HEADER, length));
    } catch (error) {
      throw this.#failed('read', key, file, error);
    } finally {
      await handle.close();
    }
  }

  /** Missing is `undefined`; a symlink where an entry should be is refused; anything else is a StorageError. */
  #notOpened(key: string, file: string, error: unknown): undefined {
    if (isMissing(error)) return undefined;
    // O_NOFOLLOW fails with ELOOP on a symlink (EMLINK on some BSDs).
    if (errorCode(error) === 'ELOOP' || errorCode(error) === 'EMLINK') {
      throw new IntegrityError(key, this.description, 'the entry is a symbolic link (entries never are: planted?)', { path: file, cause: error });
    }
    throw this.#failed('read', key, file, error);
  }

  #integrity(key: string, file: string, reason: string): never {
    throw new IntegrityError(key, this.description, reason, { path: file });
  }

  /**
   * The size of the opened file, once it is known to be a regular file of
   * this user: a FIFO, a device or a directory is refused before any read,
   * so a read can neither block nor run on forever.
   */
  #checkFile(key: string, file: string, stats: Stats): number {
    if (!stats.isFile()) this.#integrity(key, file, `not a regular file (${fileKind(stats)})`);
    const uid = process.getuid?.();
    if (uid !== undefined && stats.uid !== uid) {
      this.#integrity(key, file, `the file belongs to uid ${stats.uid}, not to this user (uid ${uid}): not written by this store`);
    }
    return stats.size;
  }

  /** Checks the header read (`got` bytes) against the file's size; returns the payload length it declares. */
  #checkHeader(key: string, file: string, head: Buffer, got: number, size: number): number {
    if (got < HEADER) this.#integrity(key, file, `file is ${got} bytes, shorter than its ${HEADER}-byte header`);
    const view = new DataView(head.buffer, head.byteOffset, HEADER);
    if (view.getUint32(0, true) !== MAGIC) this.#integrity(key, file, 'not a skein entry file (bad magic)');
    if (view.getUint8(4) !== VERSION) this.#integrity(key, file, `unknown format version ${view.getUint8(4)}`);
    const length = view.getBigUint64(16, true);
    const actual = BigInt(size - HEADER);
    if (length !== actual) this.#integrity(key, file, `header says ${length} payload bytes, file has ${actual} (truncated or extended)`);
    return size - HEADER;
  }

  #checkPayload(key: string, file: string, data: Buffer, got: number): Uint8Array {
    const payload = data.subarray(HEADER);
    if (got < payload.byteLength) this.#integrity(key, file, `file ended after ${got} of ${payload.byteLength} payload bytes (truncated while read)`);
    if (crc32(payload) !== data.readUInt32LE(8)) this.#integrity(key, file, 'checksum mismatch (corrupted)');
    return payload;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await access(this.#path(key));
      return true;
    } catch {
      return false;
    }
  }

  #evictSync(key: string): void {
    const file = this.#path(key);
    try {
      unlinkSync(file);
    } catch (error) {
      if (!isMissing(error)) throw this.#failed('evict', key, file, error);
    }
  }

  async evict(key: string): Promise<void> {
    const file = this.#path(key);
    try {
      await unlink(file);
    } catch (error) {
      if (!isMissing(error)) throw this.#failed('evict', key, file, error);
    }
  }

  /** Any writer's key is valid (the directory is the store); only the shape is checked, which keeps it inside the directory. */
  checkKey(key: unknown): string {
    if (typeof key !== 'string' || !KEY.test(key)) {
      throw new InvalidKeyError(key, this.description, 'a file store key is `<16 hex>-<16 hex>`; anything else could name a path outside the store');
    }
    return key;
  }

  keyId(key: string): string {
    return key;
  }

  config(): FileConnectorConfig {
    return { type: 'file', dir: this.#dir, prefix: this.#prefix };
  }

  /**
   * The owner deletes what the store wrote from any thread or process (the
   * files named with its prefix), and the directory if it made it and no
   * other store's entries are in it. `clear: false` deletes nothing, and
   * nothing is deleted at exit either: a later run reads the entries.
   */
  async close(options: { readonly clear?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#owner) return;
    this.#releaseExitHook?.();
    if (options.clear === false) return;
    await removeStoreFiles(this.#dir, this.#prefix, this.#ownsDir);
  }
}

// 'wx' = O_CREAT|O_EXCL: fails rather than follow a planted symlink.
function writeEntrySync(temp: string, file: string, bytes: Uint8Array): void {
  const fd = openSync(temp, 'wx', 0o600);
  try {
    try {
      writeAllSync(fd, [header(bytes), bytes]);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
    throw error;
  }
}

async function writeEntry(temp: string, file: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(temp, 'wx', 0o600);
  try {
    try {
      let chunks = [header(bytes), bytes];
      while (chunks.length > 0) chunks = advance(chunks, (await handle.writev(chunks)).bytesWritten);
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

// read() may return less than asked: carry on until `length` bytes or the end of the file.
function readFully(length: number, read: (at: number, n: number) => number): number {
  let got = 0;
  while (got < length) {
    const n = read(got, length - got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** The whole entry in memory of its own: the header read, then room for the payload, 8-byte aligned for typed-array views. */
function entryBuffer(head: Buffer, length: number): Buffer {
  const data = Buffer.allocUnsafeSlow(HEADER + length);
  data.set(head);
  return data;
}

function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isSocket()) return 'a socket';
  return 'not a file';
}

function header(bytes: Uint8Array): Uint8Array {
  const h = new Uint8Array(HEADER);
  const view = new DataView(h.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint8(4, VERSION);
  view.setUint32(8, crc32(bytes), true);
  view.setBigUint64(16, BigInt(bytes.byteLength), true);
  return h;
}

// writev may write less than asked (very large buffers): carry on from where it stopped.
function writeAllSync(fd: number, chunks: Uint8Array[]): void {
  while (chunks.length > 0) chunks = advance(chunks, writevSync(fd, chunks));
}

function advance(chunks: Uint8Array[], written: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  for (const c of chunks) {
    if (written >= c.byteLength) {
      written -= c.byteLength;
    } else {
      rest.push(written > 0 ? c.subarray(written) : c);
      written = 0;
    }
  }
  return rest;
}

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

function isMissing(error: unknown): boolean {
  return errorCode(error) === 'ENOENT';
}

registerConnector('file', (config: FileConnectorConfig) => FileConnector.fromConfig(config));
