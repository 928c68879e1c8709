import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writevSync,
} from 'node:fs';
import { access, open, readFile, rename, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 } from '../serialize/checksum.js';
import type { Connector, FileConnectorConfig } from './connector.js';
import { IntegrityError, InvalidKeyError } from './errors.js';

export interface FileConnectorOptions {
  /**
   * Directory of the entry files, created (mode 0700) if missing. An
   * existing directory is used as it is and never removed.
   * @default a new private temporary directory, removed by `close()`
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

// A key is `<store prefix>-<entry id>`, 16 lowercase hex digits each: it can
// never contain a path separator or a dot, so it cannot leave the directory.
const KEY = /^([0-9a-f]{16})-([0-9a-f]{16})$/;
const SUFFIX = '.skein';

let attaching: FileConnectorConfig | undefined;

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
  /** Files this (owner) connector wrote and has not evicted: what `close()` deletes. */
  readonly #written = new Set<string>();
  #closed = false;

  constructor(options: FileConnectorOptions = {}) {
    const config = attaching;
    this.#owner = config === undefined;
    if (config !== undefined) {
      this.#dir = config.dir;
      this.#prefix = config.prefix;
      this.#ownsDir = false;
      return;
    }
    this.#prefix = randomBytes(8).toString('hex');
    if (options.dir === undefined) {
      this.#dir = mkdtempSync(path.join(tmpdir(), 'skein-'));
      this.#ownsDir = true;
    } else {
      if (typeof options.dir !== 'string' || options.dir === '') {
        throw new TypeError(`Expected \`dir\` to be a non-empty string, got \`${String(options.dir)}\``);
      }
      this.#dir = path.resolve(options.dir);
      mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
      if (!statSync(this.#dir).isDirectory()) throw new Error(`\`dir\` ${this.#dir} is not a directory`);
      this.#ownsDir = false;
    }
  }

  /** A connector on the files of the one that made `config` (any thread or process). */
  static fromConfig(config: FileConnectorConfig): FileConnector {
    if (typeof config.dir !== 'string' || !/^[0-9a-f]{16}$/.test(config.prefix)) {
      throw new TypeError(`Invalid file connector config: ${JSON.stringify(config)}`);
    }
    attaching = config;
    try {
      return new FileConnector();
    } finally {
      attaching = undefined;
    }
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

  putSync(bytes: Uint8Array): string {
    const { key, file, temp } = this.#newKey();
    // 'wx' = O_CREAT|O_EXCL: fails rather than follow a planted symlink.
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
    this.#written.add(key);
    return key;
  }

  async put(bytes: Uint8Array): Promise<string> {
    const { key, file, temp } = this.#newKey();
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
    this.#written.add(key);
    return key;
  }

  getSync(key: string): Uint8Array | undefined {
    const file = this.#path(key);
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    return this.#verify(key, file, data);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const file = this.#path(key);
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    return this.#verify(key, file, data);
  }

  #verify(key: string, file: string, data: Uint8Array): Uint8Array {
    const fail = (reason: string): never => {
      throw new IntegrityError(key, this.description, reason, { path: file });
    };
    if (data.byteLength < HEADER) fail(`file is ${data.byteLength} bytes, shorter than its ${HEADER}-byte header`);
    const view = new DataView(data.buffer, data.byteOffset, HEADER);
    if (view.getUint32(0, true) !== MAGIC) fail('not a skein entry file (bad magic)');
    if (view.getUint8(4) !== VERSION) fail(`unknown format version ${view.getUint8(4)}`);
    const length = view.getBigUint64(16, true);
    const actual = BigInt(data.byteLength - HEADER);
    if (length !== actual) fail(`header says ${length} payload bytes, file has ${actual} (truncated or extended)`);
    const payload = data.subarray(HEADER);
    if (crc32(payload) !== view.getUint32(8, true)) fail('checksum mismatch (corrupted)');
    return payload;
  }

  existsSync(key: string): boolean {
    return existsSync(this.#path(key));
  }

  async exists(key: string): Promise<boolean> {
    try {
      await access(this.#path(key));
      return true;
    } catch {
      return false;
    }
  }

  evictSync(key: string): void {
    try {
      unlinkSync(this.#path(key));
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    this.#written.delete(key);
  }

  async evict(key: string): Promise<void> {
    try {
      await unlink(this.#path(key));
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    this.#written.delete(key);
  }

  checkKey(key: unknown): string {
    const match = typeof key === 'string' ? KEY.exec(key) : null;
    if (match === null) {
      throw new InvalidKeyError(key, this.description, 'a file store key is `<16 hex>-<16 hex>`; anything else could name a path outside the store');
    }
    if (match[1] !== this.#prefix) throw new InvalidKeyError(key, this.description, 'a key of another store');
    return key as string;
  }

  keyId(key: string): string {
    return key;
  }

  config(): FileConnectorConfig {
    return { type: 'file', dir: this.#dir, prefix: this.#prefix };
  }

  /** The owner deletes the files it wrote (and the directory if it made a temporary one). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#owner) return;
    await Promise.all([...this.#written].map((key) => unlink(this.#path(key)).catch(() => undefined)));
    this.#written.clear();
    if (this.#ownsDir) {
      try {
        rmdirSync(this.#dir); // not recursive: never delete what others put there
      } catch {
        // not empty (someone else's files) or already gone
      }
    }
  }
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

function isMissing(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}
