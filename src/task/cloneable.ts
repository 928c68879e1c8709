import { types } from 'node:util';
import { SerializationError } from '../serialize/errors.js';
import { typeName } from '../core/errors.js';

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

// Built-ins with native constructors that structured clone copies (Map and Set are walked below).
const cloneableBuiltins = new Set<unknown>([Map, Set, Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError, AggregateError, Boolean, Number, String]);
const hostPrototypes = new WeakMap<object, boolean>();

/** Objects made by a native constructor skein does not know (a MessagePort, a native handle): only structured clone can say. */
function isHostObject(proto: object): boolean {
  let host = hostPrototypes.get(proto);
  if (host === undefined) {
    const ctor = (proto as { constructor?: unknown }).constructor;
    host = typeof ctor === 'function' && !cloneableBuiltins.has(ctor) && /\{\s*\[native code\]\s*\}$/.test(Function.prototype.toString.call(ctor));
    hostPrototypes.set(proto, host);
  }
  return host;
}

function messageOf(error: unknown): string {
  return typeof error === 'object' && error !== null && 'message' in error ? String(error.message) : String(error);
}

type Segment = string | number | { readonly label: string };

function render(root: string, segments: readonly Segment[]): string {
  let path = root;
  for (const seg of segments) path += typeof seg === 'number' ? `[${seg}]` : typeof seg === 'string' ? key(seg) : seg.label;
  return path;
}

/** Where a value cannot be sent and why; `cause` when reading it threw. */
export interface Uncloneable {
  readonly path: string;
  readonly reason: string;
  readonly cause?: unknown;
}

/**
 * Finds the first part of `value` that structured clone cannot carry and
 * returns its path (e.g. `args[1].model.predict`) and why, or undefined.
 * Argument values found clean are remembered in `clean`, so a large value
 * passed to many tasks is walked once. Built for arrays of millions of
 * records: the path is only spelled out when something is found, and only
 * objects that hold other objects are tracked for cycles.
 * `strict` (results, which a worker must be able to post or its reply is
 * lost): also finds a Proxy posing as a plain object, a getter that throws,
 * and host objects (a MessagePort) that structured clone refuses.
 */
export function findUncloneable(
  value: unknown,
  root: string,
  options: { clean?: WeakSet<object>; passThrough?: PassThrough; onPassThrough?: (count: number) => void; strict?: boolean } = {},
): Uncloneable | undefined {
  const clean = options.clean;
  const strict = options.strict === true;
  const passThrough = options.passThrough ?? noPassThrough;
  const seen = new Set<object>();
  const segments: Segment[] = [];
  let passed = 0;

  const fail = (reason: string) => ({ path: render(root, segments), reason });
  /** Visits a child under `segment`; objects with no object inside them are never tracked. */
  const child = (item: unknown, segment: Segment): { path: string; reason: string } | undefined => {
    if (typeof item === 'symbol') {
      segments.push(segment);
      return fail('a symbol');
    }
    if ((typeof item !== 'object' && typeof item !== 'function') || item === null) return undefined;
    segments.push(segment);
    const found = visit(item);
    segments.pop();
    return found;
  };
  const visit = (v: object): { path: string; reason: string } | undefined => {
    if (passThrough(v)) {
      passed++;
      return undefined;
    }
    // Arrays and plain objects (the bulk of any large argument) need none of
    // the checks below; a Proxy posing as one is still caught when the batch
    // is posted, or here when strict.
    if (strict && types.isProxy(v)) return fail('a Proxy object');
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) {
      const reason = uncloneableReason(v);
      if (reason !== undefined) return fail(reason);
      if (isOpaqueLeaf(v)) return undefined;
      if (strict && isHostObject(proto as object)) {
        try {
          structuredClone(v);
          return undefined;
        } catch (error) {
          return fail(`a ${typeName(v)} (${messageOf(error)})`);
        }
      }
    } else if (typeof v === 'function') {
      return fail('a function');
    }
    if (seen.has(v)) return undefined;
    // Tracked for cycles only once it proves to hold an object: records of
    // plain fields never are.
    let tracked = false;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (typeof item === 'object' || typeof item === 'function' || typeof item === 'symbol') {
          if (!tracked) {
            tracked = true;
            seen.add(v);
          }
          const found = child(item, i);
          if (found) return found;
        }
      }
    } else if (types.isMap(v)) {
      seen.add(v);
      for (const [k, item] of v) {
        const found = child(k, { label: `<key ${String(k)}>` }) ?? child(item, { label: `.get(${JSON.stringify(k) ?? String(k)})` });
        if (found) return found;
      }
    } else if (types.isSet(v)) {
      seen.add(v);
      let i = 0;
      for (const item of v) {
        const found = child(item, { label: `<Set item ${i++}>` });
        if (found) return found;
      }
    } else {
      const keys = Object.keys(v);
      for (let i = 0; i < keys.length; i++) {
        let item: unknown;
        try {
          item = (v as Record<string, unknown>)[keys[i]!];
        } catch (error) {
          if (!strict) throw error;
          segments.push(keys[i]!);
          return fail(`a getter that throws (${messageOf(error)})`);
        }
        if (typeof item === 'object' || typeof item === 'function' || typeof item === 'symbol') {
          if (!tracked) {
            tracked = true;
            seen.add(v);
          }
          const found = child(item, keys[i]!);
          if (found) return found;
        }
      }
    }
    return undefined;
  };
  if (typeof value === 'object' && value !== null && clean?.has(value)) return undefined;
  let found: Uncloneable | undefined;
  try {
    found = typeof value === 'symbol' ? fail('a symbol') : (typeof value === 'object' || typeof value === 'function') && value !== null ? visit(value) : undefined;
  } catch (error) {
    // A revoked Proxy, or a getter or trap that throws. Rare enough to be
    // located by a second, guarded walk instead of guarding every step here.
    found = locateThrow(value, root, passThrough) ?? { path: root, reason: `a value that threw when read (${errorText(error)})`, cause: error };
  }
  // Only the argument itself is remembered: a task that carries a pass-through
  // value is walked again, so that every such task is seen to carry one.
  if (found === undefined && passed === 0 && typeof value === 'object' && value !== null) clean?.add(value);
  options.onPassThrough?.(passed);
  return found;
}

export function assertCloneable(value: unknown, root: string, options?: Parameters<typeof findUncloneable>[2]): void {
  const found = findUncloneable(value, root, options);
  if (found) throw uncloneableError(found);
}

function errorText(error: unknown): string {
  try {
    return types.isNativeError(error) ? `${error.name}: ${error.message}` : String(error);
  } catch {
    return typeName(error);
  }
}

/**
 * The walk of `findUncloneable` again, every read guarded: finds the part of
 * `value` whose reading throws, or undefined when none does this time.
 */
function locateThrow(value: unknown, root: string, passThrough: PassThrough): Uncloneable | undefined {
  const seen = new Set<object>();
  const segments: Segment[] = [];
  const threw = (reason: string, cause: unknown): Uncloneable => ({ path: render(root, segments), reason: `${reason} (${errorText(cause)})`, cause });
  const visit = (v: unknown): Uncloneable | undefined => {
    if ((typeof v !== 'object' && typeof v !== 'function') || v === null || seen.has(v)) return undefined;
    seen.add(v);
    const entries: [Segment, () => unknown][] = [];
    try {
      if (passThrough(v)) return undefined;
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== Array.prototype && proto !== null && (uncloneableReason(v) !== undefined || isOpaqueLeaf(v))) {
        return undefined;
      }
      if (types.isMap(v)) {
        for (const [k, item] of v) entries.push([{ label: `<key ${String(k)}>` }, () => k], [{ label: `.get(${JSON.stringify(k) ?? String(k)})` }, () => item]);
      } else if (types.isSet(v)) {
        let i = 0;
        for (const item of v) entries.push([{ label: `<Set item ${i++}>` }, () => item]);
      } else if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) entries.push([i, () => (v as unknown[])[i]]);
      } else {
        for (const k of Object.keys(v)) entries.push([k, () => (v as Record<string, unknown>)[k]]);
      }
    } catch (error) {
      return threw(types.isProxy(v) ? (/revoked/.test(errorText(error)) ? 'a revoked Proxy' : 'a Proxy that threw') : 'an object that threw when read', error);
    }
    for (const [segment, read] of entries) {
      segments.push(segment);
      let item: unknown;
      try {
        item = read();
      } catch (error) {
        return threw('a getter that threw', error);
      }
      const found = visit(item);
      if (found) return found;
      segments.pop();
    }
    return undefined;
  };
  return visit(value);
}

export function uncloneableError(found: Uncloneable, cause: unknown = found.cause): SerializationError {
  const fix =
    found.reason === 'a function'
      ? ' Functions cannot be cloned: send data and rebuild the function inside the task, or capture it with wrapNonSerializable(fn, { ... }).'
      : '';
  const where = found.path.startsWith('result') ? 'sent back from a worker' : 'sent to a worker';
  return new SerializationError(`\`${found.path}\` is ${found.reason}, which cannot be ${where}.${fix}`, {
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
  return cloneFailure(value, path, new Set());
}

/** `within`: the objects being searched further up, so a cycle back to one is not searched again. */
function cloneFailure(value: unknown, path: string, within: Set<object>): string | undefined {
  try {
    structuredClone(value);
    return undefined;
  } catch {
    if (typeof value !== 'object' || value === null) return path;
    if (within.has(value)) return undefined;
    within.add(value);
    const entries: [string, unknown][] = Array.isArray(value)
      ? value.map((v, i) => [`${path}[${i}]`, v])
      : Object.keys(value).map((k) => [path + key(k), (value as Record<string, unknown>)[k]]);
    for (const [p, v] of entries) {
      const inner = cloneFailure(v, p, within);
      if (inner !== undefined) return inner;
    }
    return path;
  }
}
