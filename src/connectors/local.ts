import { randomBytes } from 'node:crypto';
import type { Connector, LocalConnectorConfig, SyncConnector } from './connector.js';
import { InvalidKeyError } from './errors.js';
import { registerConnector } from './registry.js';

// Per thread: a LocalConnector rebuilt from config in this thread sees the
// same entries; in another thread it sees none (its keys are then missing).
const spaces = new Map<string, Map<string, Uint8Array>>();

/** Bytes in a Map of this thread. For tests and single-thread use. */
export class LocalConnector implements Connector<string> {
  readonly type = 'local' as const;
  readonly #id: string;
  readonly #owner: boolean;
  #next = 0;
  readonly sync: SyncConnector<string> = {
    put: (bytes) => {
      const space = this.#space();
      if (space === undefined) throw new Error(`${this.description} is closed or belongs to another thread`);
      const key = `${this.#id}-${(this.#next++).toString(36)}`;
      // A copy: the caller may reuse its buffer, as it may with a file or shared memory.
      space.set(key, bytes.slice());
      return key;
    },
    get: (key) => this.#space()?.get(key),
    exists: (key) => this.#space()?.has(key) ?? false,
    evict: (key) => {
      this.#space()?.delete(key);
    },
  };

  constructor();
  // The second form is fromConfig's only: callers rebuild through fromConfig.
  constructor(attach?: LocalConnectorConfig) {
    this.#owner = attach === undefined;
    this.#id = attach?.id ?? randomBytes(8).toString('hex');
    if (this.#owner) spaces.set(this.#id, new Map());
  }

  /** A connector on the entries of the one that made `config` (in this thread). */
  static fromConfig(config: LocalConnectorConfig): LocalConnector {
    if (typeof config?.id !== 'string') throw new TypeError(`Invalid local connector config: ${JSON.stringify(config)}`);
    return new (LocalConnector as new (attach: LocalConnectorConfig) => LocalConnector)(config);
  }

  get description(): string {
    return `local:${this.#id}`;
  }

  #space(): Map<string, Uint8Array> | undefined {
    return spaces.get(this.#id);
  }

  async put(bytes: Uint8Array): Promise<string> {
    return this.sync.put(bytes);
  }

  async putMany(bytes: readonly Uint8Array[]): Promise<string[]> {
    return bytes.map((b) => this.sync.put(b));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.sync.get(key);
  }

  async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    return keys.map((k) => this.sync.get(k));
  }

  async exists(key: string): Promise<boolean> {
    return this.sync.exists(key);
  }

  async evict(key: string): Promise<void> {
    this.sync.evict(key);
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

registerConnector('local', (config: LocalConnectorConfig) => LocalConnector.fromConfig(config));
