/**
 * A third-party connector written against the public API only: async, no
 * `sync` capability (as a network store would be), one file per entry in a
 * directory. Registered from outside src/ with `registerConnector`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { access, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InvalidKeyError, registerConnector, type Connector, type ConnectorConfigBase } from 'skein';

export interface ToyConnectorConfig extends ConnectorConfigBase {
  readonly type: 'toy';
  readonly dir: string;
}

export class ToyConnector implements Connector<string> {
  readonly type = 'toy';
  readonly dir: string;
  readonly #owner: boolean;

  constructor(config?: ToyConnectorConfig) {
    this.#owner = config === undefined;
    this.dir = config?.dir ?? mkdtempSync(path.join(tmpdir(), 'skein-toy-'));
  }

  static fromConfig(config: ToyConnectorConfig): ToyConnector {
    return new ToyConnector(config);
  }

  get description(): string {
    return `toy:${this.dir}`;
  }

  #file(key: string): string {
    return path.join(this.dir, key);
  }

  async put(bytes: Uint8Array): Promise<string> {
    const key = randomBytes(8).toString('hex');
    await writeFile(this.#file(key), bytes);
    return key;
  }

  async putMany(bytes: readonly Uint8Array[]): Promise<string[]> {
    return Promise.all(bytes.map((b) => this.put(b)));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const data = await readFile(this.#file(key));
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } catch {
      return undefined;
    }
  }

  async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    return Promise.all(keys.map((k) => this.get(k)));
  }

  async exists(key: string): Promise<boolean> {
    return access(this.#file(key)).then(
      () => true,
      () => false,
    );
  }

  async evict(key: string): Promise<void> {
    await unlink(this.#file(key)).catch(() => undefined);
  }

  checkKey(key: unknown): string {
    if (typeof key !== 'string' || !/^[0-9a-f]{16}$/.test(key)) throw new InvalidKeyError(key, this.description, 'not a toy key');
    return key;
  }

  keyId(key: string): string {
    return key;
  }

  config(): ToyConnectorConfig {
    return { type: 'toy', dir: this.dir };
  }

  async close(): Promise<void> {
    if (this.#owner) await rm(this.dir, { recursive: true, force: true });
  }
}

registerConnector('toy', (config: ToyConnectorConfig) => ToyConnector.fromConfig(config));
