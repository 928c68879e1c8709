import { types } from 'node:util';
import { describeValue } from '../core/errors.js';

export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

export type TypedArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

/** The typed-array kinds a shared-memory entry can be viewed as, by the name of their constructor. */
export const TYPED_ARRAYS: Readonly<Record<string, TypedArrayConstructor>> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

/**
 * The constructor name of a typed array that is exactly one of the built-in
 * kinds (not a Buffer, not a user subclass, whose class would be lost by
 * viewing its bytes), from any realm; else `undefined`.
 */
export function plainTypedArrayName(value: unknown): string | undefined {
  if (!types.isTypedArray(value)) return undefined;
  const tag = (value as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag];
  const ctor = (value as { constructor?: { name?: unknown } }).constructor;
  return tag in TYPED_ARRAYS && ctor?.name === tag ? tag : undefined;
}

/**
 * A typed array allocated in shared memory from the start: put into a
 * SharedMemoryStore (or posted to a worker) it is never copied, and writes
 * from any thread are seen by all.
 *
 * @example
 * const xs = shared(Float64Array, 1_000_000);
 * const p = store.proxy(xs); // no copy: the store keeps a reference to xs's memory
 * const ys = shared(Int32Array, [1, 2, 3]);
 */
export function shared<C extends TypedArrayConstructor>(ctor: C, lengthOrValues: number | ArrayLike<number | bigint>): InstanceType<C> {
  const name = typeof ctor === 'function' ? ctor.name : undefined;
  if (name === undefined || !(name in TYPED_ARRAYS) || ctor.BYTES_PER_ELEMENT !== TYPED_ARRAYS[name]!.BYTES_PER_ELEMENT) {
    throw new TypeError(`Expected a typed array constructor such as Float64Array, got ${describeValue(ctor)}`);
  }
  const length = typeof lengthOrValues === 'number' ? lengthOrValues : lengthOrValues.length;
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new TypeError(`Expected a non-negative integer length, got ${describeValue(length)}`);
  }
  const Ctor = ctor as unknown as new (buffer: SharedArrayBuffer) => TypedArray;
  const array = new Ctor(new SharedArrayBuffer(length * ctor.BYTES_PER_ELEMENT));
  if (typeof lengthOrValues !== 'number') (array as unknown as { set(a: ArrayLike<unknown>): void }).set(lengthOrValues);
  return array as InstanceType<C>;
}
