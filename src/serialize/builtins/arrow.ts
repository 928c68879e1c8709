import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Serializer } from '../serializer.js';

/** The part of an `apache-arrow` Table this serializer relies on (the package is optional, so no type import). */
export interface ArrowTableLike {
  readonly schema: unknown;
  readonly batches: readonly unknown[];
  readonly numRows: number;
}

interface ArrowModule {
  tableToIPC(table: ArrowTableLike, type?: 'stream' | 'file'): Uint8Array;
  tableFromIPC(bytes: Uint8Array): ArrowTableLike;
}

// A variable specifier keeps TypeScript (and bundlers) from requiring the optional package.
const ARROW = 'apache-arrow';
// undefined: not tried yet; null: not installed.
let arrow: ArrowModule | null | undefined;

function isArrowModule(m: unknown): m is ArrowModule {
  return typeof (m as ArrowModule | null)?.tableToIPC === 'function' && typeof (m as ArrowModule).tableFromIPC === 'function';
}

/**
 * Loads `apache-arrow` with a dynamic `import()` so the Arrow serializer uses
 * the same module instance as your code (`instanceof Table` holds for
 * deserialized tables). Optional: without it the first Arrow value loads
 * the package synchronously. Resolves false when the package is not installed.
 *
 * @example
 * await preloadArrow(); // once, at startup, in each thread that reads Arrow frames
 */
export async function preloadArrow(): Promise<boolean> {
  if (arrow) return true;
  try {
    const m: unknown = await import(ARROW);
    arrow = isArrowModule(m) ? m : null;
  } catch {
    arrow = null;
  }
  return arrow !== null;
}

function arrowSync(): ArrowModule | null {
  if (arrow !== undefined) return arrow;
  const require = createRequire(import.meta.url);
  try {
    // Node >= 20.19 can require() the ESM entry, which is the very instance
    // import() returns; older Node falls back to the CommonJS build.
    const resolve = (import.meta as { resolve?: (s: string) => string }).resolve;
    const m: unknown = resolve ? require(fileURLToPath(resolve(ARROW))) : require(ARROW);
    arrow = isArrowModule(m) ? m : null;
  } catch {
    try {
      const m: unknown = require(ARROW);
      arrow = isArrowModule(m) ? m : null;
    } catch {
      arrow = null;
    }
  }
  return arrow;
}

function looksLikeArrowTable(value: unknown): value is ArrowTableLike {
  if (typeof value !== 'object' || value === null) return false;
  const ctor = (value as { constructor?: { [Symbol.toStringTag]?: unknown } }).constructor;
  return ctor?.[Symbol.toStringTag] === 'Table' && Array.isArray((value as ArrowTableLike).batches) && typeof (value as ArrowTableLike).numRows === 'number';
}

/** Apache Arrow tables as Arrow IPC (stream format), when `apache-arrow` is installed. */
export const arrowSerializer: Serializer<ArrowTableLike> = {
  id: 'arrow',
  canSerialize: (value): value is ArrowTableLike => looksLikeArrowTable(value) && arrowSync() !== null,
  serialize(value) {
    const m = arrowSync();
    if (!m) throw new Error('apache-arrow is not installed');
    return m.tableToIPC(value, 'stream');
  },
  deserialize(bytes) {
    const m = arrowSync();
    if (!m) throw new Error('this frame holds an Arrow table, but apache-arrow is not installed here');
    return m.tableFromIPC(bytes);
  },
};
