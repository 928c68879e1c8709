import { SkeinError, describeValue, registerErrorClass } from '../core/errors.js';
import type { Connector, ConnectorConfigBase } from './connector.js';

/** Rebuilds a connector of one type from its config (in any thread), as a non-owner. */
export type ConnectorFromConfig = (config: ConnectorConfigBase) => Connector<unknown>;

// Per thread, filled by each connector's module as it loads: a worker knows a
// type once the module defining it is imported there.
const types = new Map<string, ConnectorFromConfig>();

/** A connector config whose `type` no module registered in this thread. */
export class UnknownConnectorError extends SkeinError {
  readonly type: string;

  constructor(type: unknown) {
    const known = [...types.keys()].map((t) => `'${t}'`).join(', ');
    super(
      `Unknown connector type ${describeValue(type)}: registered types are ${known || 'none'}. ` +
        'Is the module that calls registerConnector() for it imported in this thread (workers too)?',
      { code: 'ERR_SKEIN_UNKNOWN_CONNECTOR' },
    );
    this.type = String(type);
  }
}
registerErrorClass(UnknownConnectorError, 'ERR_SKEIN_UNKNOWN_CONNECTOR');

/**
 * Makes connectors of `type` rebuildable from config: stores and proxies
 * that travel to a worker rebuild their connector with `fromConfig`.
 * Registering a type again replaces its builder.
 *
 * @example
 * registerConnector('redis', (config) => RedisConnector.fromConfig(config as RedisConnectorConfig));
 */
export function registerConnector(type: string, fromConfig: (config: never) => Connector<unknown>): void {
  if (typeof type !== 'string' || type === '') throw new TypeError(`Expected \`type\` to be a non-empty string, got ${describeValue(type)}`);
  if (typeof fromConfig !== 'function') throw new TypeError(`Expected \`fromConfig\` to be a function, got ${describeValue(fromConfig)}`);
  types.set(type, fromConfig as ConnectorFromConfig);
}

/** Rebuilds a connector from `connector.config()`, in this or another thread, as a non-owner. */
export function connectorFromConfig(config: ConnectorConfigBase): Connector<unknown> {
  const type = (config as { type?: unknown } | null)?.type;
  const fromConfig = typeof type === 'string' ? types.get(type) : undefined;
  if (fromConfig === undefined) throw new UnknownConnectorError(type);
  return fromConfig(config);
}
