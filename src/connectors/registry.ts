import type { Connector, ConnectorConfig } from './connector.js';
import { FileConnector } from './file.js';
import { LocalConnector } from './local.js';
import { SharedMemoryConnector } from './shared-memory.js';

/** Rebuilds a connector from `connector.config()`, in this or another thread, as a non-owner. */
export function connectorFromConfig(config: ConnectorConfig): Connector<unknown> {
  switch (config.type) {
    case 'local':
      return LocalConnector.fromConfig(config) as Connector<unknown>;
    case 'shared-memory':
      return SharedMemoryConnector.fromConfig(config) as Connector<unknown>;
    case 'file':
      return FileConnector.fromConfig(config) as Connector<unknown>;
    default:
      throw new TypeError(`Unknown connector type in config: ${JSON.stringify((config as { type?: unknown }).type)}`);
  }
}
