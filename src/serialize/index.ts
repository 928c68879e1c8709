/**
 * The serializer registry: values to self-describing frames and back.
 * Imports nothing else of skein but its errors, so every thread can load it.
 */
import { SerializerRegistry } from './registry.js';
import type { DeserializeOptions, RegisterOptions, SerializeOptions } from './registry.js';
import type { Serializer } from './serializer.js';

export { SerializationError, UnknownSerializerError, CorruptFrameError } from './errors.js';
export type { FrameDefect } from './errors.js';
export type { Serializer, Compression, FrameInfo } from './serializer.js';
export { SerializerRegistry, BUILTIN_SERIALIZERS, inspectFrame } from './registry.js';
export type { SerializeOptions, DeserializeOptions, RegisterOptions, SerializeFunction, DeserializeFunction } from './registry.js';
export { availableCompressions } from './compression.js';
export { preloadArrow } from './builtins/arrow.js';
export type { ArrowTableLike } from './builtins/arrow.js';
export { FORMAT_VERSION } from './frame.js';

/** The registry behind the free functions; per process and per worker thread. */
export const defaultRegistry = new SerializerRegistry();

/**
 * Adds a serializer to the default registry, tried before the built-ins
 * (after user serializers registered earlier) unless `before` places it.
 * Register it in every thread that reads its frames.
 *
 * @example
 * registerSerializer(pointSerializer);                        // before all built-ins
 * registerSerializer(fastRecords, { before: 'msgpack' });      // between built-ins
 */
export function registerSerializer<T>(serializer: Serializer<T>, options?: RegisterOptions): void {
  defaultRegistry.register(serializer, options);
}

/** Removes a serializer from the default registry; returns whether it was there. */
export function unregisterSerializer(id: string): boolean {
  return defaultRegistry.unregister(id);
}

/** The default registry's serializer with this id. */
export function getSerializer(id: string): Serializer | undefined {
  return defaultRegistry.get(id);
}

/**
 * Serializer ids in the order `serialize` tries them.
 * @example
 * listSerializers(); // ['bytes', 'string', 'typed-array', 'arrow', 'msgpack', 'v8', 'identity']
 */
export function listSerializers(): string[] {
  return defaultRegistry.list();
}

/**
 * Turns a value into a frame: the first serializer that takes it, its id,
 * optional compression, and checksums.
 *
 * @example
 * const frame = serialize(new Float64Array(1e6));             // ~8 MB, one copy
 * const small = serialize(records, { compression: 'gzip' });
 * const raw = serialize(bytes, { serializer: 'identity' });   // payload is `bytes` as is
 */
export function serialize(value: unknown, options?: SerializeOptions): Uint8Array {
  return defaultRegistry.serialize(value, options);
}

/**
 * Turns a frame back into its value; throws `SerializationError` (never
 * returns garbage) for anything that is not an intact frame.
 *
 * @example
 * const xs = deserialize(serialize(new Float64Array([1, 2]))) as Float64Array;
 */
export function deserialize(bytes: Uint8Array | ArrayBuffer | SharedArrayBuffer, options?: DeserializeOptions): unknown {
  return defaultRegistry.deserialize(bytes, options);
}
