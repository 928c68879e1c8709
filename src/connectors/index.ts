/** Connectors move bytes: put/get/exists/evict and a config any thread can rebuild them from. */
export type {
  Connector,
  SyncConnector,
  ViewConnector,
  ConnectorConfig,
  ConnectorConfigBase,
  LocalConnectorConfig,
  SharedMemoryConnectorConfig,
  FileConnectorConfig,
} from './connector.js';
export { LocalConnector } from './local.js';
export { SharedMemoryConnector } from './shared-memory.js';
export type { SharedMemoryKey } from './shared-memory.js';
export { FileConnector } from './file.js';
export type { FileConnectorOptions } from './file.js';
export { InvalidKeyError, IntegrityError, StorageError, UnsafeDirectoryError } from './errors.js';
export { connectorFromConfig, registerConnector, UnknownConnectorError } from './registry.js';
export type { ConnectorFromConfig } from './registry.js';
