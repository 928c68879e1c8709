import { randomBytes } from 'node:crypto';
import type { Connector, LocalConnectorConfig } from './connector.js';
import { InvalidKeyError } from './errors.js';

// Per thread: a LocalConnector rebuilt from config in this thread sees the
// same entries; in another thread it sees none (its keys are then missing).
const spaces = new Map<string, Map<string, Uint8Array>>();

let attaching: LocalConnectorConfig | undefined;

/** Bytes in a Map of this thread. For tests and single-thread use. */
export class LocalConnector implements Connector<string> {
  readonly type = 'local' as const;
  readonly #id: string;
  readonly #owner: boolean;
  #next = 0;

  constructor() {
    const config = attaching;
    this.#owner = config === undefined;
    this.#id = config?.id ?? randomBytes(8).toString('hex');
    if (this.#owner) spaces.set(this.#id, new Map());
  }

  /** A connector on the entries of the one that made `config` (in this thread). */
  static fromConfig(config: LocalConnectorConfig): LocalConnector {
    attaching = config;
    try {
      return new LocalConnector();
    } finally {
      attaching = undefined;
    }
  }

  get description(): string {
    return `local:${this.#id}`;
  }

  #space(): Map<string, Uint8Array> | undefined {
    return spaces.get(this.#id);
  }

  putSync(bytes: Uint8Array): string {
    const space = this.#space();
    if (space === undefined) throw new Error(`${this.description} is closed or belongs to another thread`);
    const key = `${this.#id}-${(this.#next++).toString(36)}`;
    // A copy: the caller may reuse its buffer, as it may with a file or shared memory.
    space.set(key, bytes.slice());
    return key;
  }

  async put(bytes: Uint8Array): Promise<string> {
    return this.putSync(bytes);
  }

  getSync(key: string): Uint8Array | undefined {
    return this.#space()?.get(key);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.getSync(key);
  }

  existsSync(key: string): boolean {
    return this.#space()?.has(key) ?? false;
  }

  async exists(key: string): Promise<boolean> {
    return this.existsSync(key);
  }

  evictSync(key: string): void {
    this.#space()?.delete(key);
  }

  async evict(key: string): Promise<void> {
    this.evictSync(key);
  }

  checkKey(key: unknown): string {
    if (typeof key !== 'string' || !key.startsWith(`${this.#id}-`)) {
      throw new InvalidKeyError(key, this.description, 'not a key of this store');
    }
    return key;
  }

  keyId(key: string): string {
    return key;
  }

  config(): LocalConnectorConfig {
    return { type: 'local', id: this.#id };
  }

  async close(): Promise<void> {
    if (this.#owner) spaces.delete(this.#id);
  }
}
