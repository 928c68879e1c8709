import { types } from 'node:util';

const tag = (x: object): string => Object.prototype.toString.call(x);

/**
 * Deep equality with structured-clone eyes: Object.is for primitives (so -0
 * and NaN count), same kind of object by its toString tag, same own
 * enumerable keys in the same order, holes as holes. Prototypes are not
 * compared: v8 rebuilds objects in Node's main realm, not jest's.
 */
export function sameValue(a: unknown, b: unknown, seen = new Map<object, object>()): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (tag(a) !== tag(b)) return false;
  if (types.isDate(a)) return Object.is((a as Date).getTime(), (b as Date).getTime());
  if (types.isBoxedPrimitive(a)) return Object.is((a as object).valueOf(), (b as object).valueOf());
  if (types.isRegExp(a)) return String(a) === String(b);
  if (ArrayBuffer.isView(a) || types.isAnyArrayBuffer(a)) {
    const x = ArrayBuffer.isView(a) ? new Uint8Array(a.buffer, a.byteOffset, a.byteLength) : new Uint8Array(a as ArrayBuffer);
    const y = ArrayBuffer.isView(b) ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : new Uint8Array(b as ArrayBuffer);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (types.isMap(a)) {
    const x = [...(a as Map<unknown, unknown>)];
    const y = [...(b as Map<unknown, unknown>)];
    return x.length === y.length && x.every(([k, v], i) => sameValue(k, y[i]![0], seen) && sameValue(v, y[i]![1], seen));
  }
  if (types.isSet(a)) {
    const x = [...(a as Set<unknown>)];
    const y = [...(b as Set<unknown>)];
    return x.length === y.length && x.every((v, i) => sameValue(v, y[i], seen));
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (i in a !== i in b) return false;
    }
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], seen));
}
