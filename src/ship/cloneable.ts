import { types } from 'node:util';
import { SerializationError } from '../serialize/errors.js';
import { typeName } from '../errors.js';

/** A value that may stand in an argument list without being cloned (a store proxy travels as its reference). */
export type PassThrough = (value: object) => boolean;

const noPassThrough: PassThrough = () => false;

function key(k: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
}

function uncloneableReason(value: unknown): string | undefined {
  switch (typeof value) {
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    case 'object':
      if (value === null) return undefined;
      if (types.isPromise(value)) return 'a Promise';
      if (types.isWeakMap(value) || types.isWeakSet(value)) return `a ${typeName(value)}`;
      if (typeof WeakRef === 'function' && Object.prototype.toString.call(value) === '[object WeakRef]') return 'a WeakRef';
      if (types.isProxy(value)) return 'a Proxy object';
      return undefined;
    default:
      return undefined;
  }
}

/** Leaves structured clone copies whole, with nothing inside to check. */
function isOpaqueLeaf(value: object): boolean {
  return ArrayBuffer.isView(value) || types.isAnyArrayBuffer(value) || types.isDate(value) || types.isRegExp(value);
}

/**
 * Finds the first part of `value` that structured clone cannot carry and
 * returns its path (e.g. `args[1].model.predict`) and why, or undefined.
 * Objects already found clean are remembered in `clean` so a large value
 * passed to many tasks is walked once.
 */
export function findUncloneable(
  value: unknown,
  root: string,
  options: { clean?: WeakSet<object>; passThrough?: PassThrough; onPassThrough?: (count: number) => void } = {},
): { path: string; reason: string } | undefined {
  const clean = options.clean;
  const passThrough = options.passThrough ?? noPassThrough;
  const seen = new Set<object>();
  let passed = 0;

  const visit = (v: unknown, path: string): { path: string; reason: string } | undefined => {
    if (typeof v !== 'object' && typeof v !== 'function') {
      return typeof v === 'symbol' ? { path, reason: 'a symbol' } : undefined;
    }
    if (v === null) return undefined;
    if (passThrough(v)) {
      passed++;
      return undefined;
    }
    const reason = uncloneableReason(v);
    if (reason !== undefined) return { path, reason };
    if (seen.has(v) || clean?.has(v) || isOpaqueLeaf(v)) return undefined;
    seen.add(v);
    const passedBefore = passed;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (typeof item === 'object' || typeof item === 'function' || typeof item === 'symbol') {
          const found = visit(item, `${path}[${i}]`);
          if (found) return found;
        }
      }
    } else if (types.isMap(v)) {
      for (const [k, item] of v) {
        const found = visit(k, `${path}<key ${String(k)}>`) ?? visit(item, `${path}.get(${JSON.stringify(k) ?? String(k)})`);
        if (found) return found;
      }
    } else if (types.isSet(v)) {
      let i = 0;
      for (const item of v) {
        const found = visit(item, `${path}<Set item ${i++}>`);
        if (found) return found;
      }
    } else {
      for (const k of Object.keys(v)) {
        const found = visit((v as Record<string, unknown>)[k], path + key(k));
        if (found) return found;
      }
    }
    // What holds a pass-through value is walked again next time, so that
    // every task that carries one is seen to carry it.
    if (passed === passedBefore) clean?.add(v);
    return undefined;
  };
  const found = visit(value, root);
  options.onPassThrough?.(passed);
  return found;
}

export function assertCloneable(value: unknown, root: string, options?: Parameters<typeof findUncloneable>[2]): void {
  const found = findUncloneable(value, root, options);
  if (found) throw uncloneableError(found);
}

export function uncloneableError(found: { path: string; reason: string }, cause?: unknown): SerializationError {
  const fix =
    found.reason === 'a function'
      ? ' Functions cannot be cloned: send data and rebuild the function inside the task, or capture it with wrapNonSerializable(fn, { ... }).'
      : '';
  return new SerializationError(`\`${found.path}\` is ${found.reason}, which cannot be sent to a worker.${fix}`, {
    path: found.path,
    cause,
  });
}

/**
 * Locates what structured clone refuses, after the fact: used when a post
 * failed for a reason the cheap walk does not know (a native handle, a port).
 * Returns undefined when `value` clones.
 */
export function findCloneFailure(value: unknown, path: string): string | undefined {
  try {
    structuredClone(value);
    return undefined;
  } catch {
    if (typeof value !== 'object' || value === null) return path;
    const entries: [string, unknown][] = Array.isArray(value)
      ? value.map((v, i) => [`${path}[${i}]`, v])
      : Object.keys(value).map((k) => [path + key(k), (value as Record<string, unknown>)[k]]);
    for (const [p, v] of entries) {
      const inner = findCloneFailure(v, p);
      if (inner !== undefined) return inner;
    }
    return path;
  }
}
