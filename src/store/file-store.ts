import { FileConnector } from '../connectors/file.js';
import type { FileConnectorOptions } from '../connectors/file.js';
import { STORE_OPTION_KEYS, Store } from './store.js';
import { checkKnownOptions } from '../core/options.js';
import type { StoreOptions } from './store.js';

export interface FileStoreOptions extends StoreOptions, FileConnectorOptions {}

/**
 * A store of files, one per entry: `new Store(new FileConnector({ dir }), options)`.
 * Written atomically (temp file + rename),
 * checked (length and CRC-32) on every read, directory 0700 and files 0600,
 * keys that can only name entry files of the directory, a directory others
 * cannot tamper with. The directory is the store: any FileStore on it, in
 * any process or a later run, reads the entries by key. `close()`, or
 * failing that the end of the process, deletes what this store wrote from
 * any thread; `close({ clear: false })` keeps it.
 *
 * @example
 * const store = new FileStore({ dir: '/var/tmp/my-cache', cacheSize: 16 });
 * const key = await store.put({ weights: new Float32Array(1e6) });
 * await store.close({ clear: false }); // a later `new FileStore({ dir })` reads `key`
 */
export class FileStore extends Store<string> {
  readonly #dir: string;

  constructor(options: FileStoreOptions = {}) {
    if (typeof options === 'object' && options !== null) checkKnownOptions(options, [...STORE_OPTION_KEYS, 'dir']);
    const connector = new FileConnector(options.dir === undefined ? {} : { dir: options.dir });
    super(connector, options);
    this.#dir = connector.dir;
  }

  /** The directory of the entry files. */
  get dir(): string {
    return this.#dir;
  }
}
