import { types } from 'node:util';
import { SerializationError } from '../serialize/errors.js';
import { typeName } from '../core/errors.js';
import { DESCEND, FOUND, SKIP, findInnermost, findPart, mapKeySegment, mapValueSegment, renderPath, setItemSegment, type PathSegment } from '../core/values.js';

/** A value that may stand in an argument list without being cloned (a store proxy travels as its reference). */
export type PassThrough = (value: object) => boolean;

const noPassThrough: PassThrough = () => false;

/** Arguments remembered as clean that hold instances or errors to encode: a later task passing them encodes too. */
const encodedClean = new WeakSet<object>();

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

type Segment = PathSegment;
const render = renderPath;

/** Where a value cannot be sent and why; `cause` when reading it threw; `fix` when there is one to give. */
export interface Uncloneable {
  readonly path: string;
  readonly reason: string;
  readonly cause?: unknown;
  readonly fix?: string;
}

/**
 * Told of each object that is neither plain data nor a built-in structured
 * clone copies whole (a class instance, an error): `true` if it will be
 * encoded to travel (see task/instances.ts), `false` to leave it, or why it cannot travel.
 */
export type OnInstance = (value: object, proto: object) => boolean | { readonly reason: string; readonly fix: string };

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
  options: {
    clean?: WeakMap<object, number>;
    passThrough?: PassThrough;
    onPassThrough?: (count: number) => void;
    /** Told what `value` would cost to clone, as the offloader measures it (Infinity when a shared part makes it unsure). */
    onBytes?: (bytes: number) => void;
    strict?: boolean;
    onInstance?: OnInstance;
    /** Told how many objects `onInstance` said will be encoded. */
    onEncoded?: (count: number) => void;
  } = {},
): Uncloneable | undefined {
  const clean = options.clean;
  const strict = options.strict === true;
  const passThrough = options.passThrough ?? noPassThrough;
  const onInstance = options.onInstance;
  const seen = new Set<object>();
  const segments: Segment[] = [];
  let passed = 0;
  let encoded = 0;
  // Counted on the way, so the offloader need not walk a small argument again.
  let bytes = 0;

  const fail = (reason: string, fix?: string): Uncloneable => (fix === undefined ? { path: render(root, segments), reason } : { path: render(root, segments), reason, fix });
  /** Visits a child under `segment`; objects with no object inside them are never tracked. */
  const child = (item: unknown, segment: Segment): Uncloneable | undefined => {
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
  const visit = (v: object): Uncloneable | undefined => {
    if (passThrough(v)) {
      passed++;
      bytes += 64;
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
      if (isOpaqueLeaf(v)) {
        bytes += ArrayBuffer.isView(v) || types.isAnyArrayBuffer(v) ? v.byteLength : 64;
        return undefined;
      }
      if (strict && isHostObject(proto as object)) {
        try {
          structuredClone(v);
          return undefined;
        } catch (error) {
          return fail(`a ${typeName(v)} (${messageOf(error)})`);
        }
      }
      if (onInstance !== undefined) {
        const verdict = onInstance(v, proto as object);
        if (verdict === true) encoded++;
        else if (verdict !== false) return fail(verdict.reason, verdict.fix);
      }
    } else if (typeof v === 'function') {
      return fail('a function');
    }
    if (seen.has(v)) {
      // Met again: its size was counted once, though each path to it is cloned.
      bytes = Infinity;
      return undefined;
    }
    // Tracked for cycles only once it proves to hold an object: records of
    // plain fields never are.
    let tracked = false;
    bytes += 16;
    if (Array.isArray(v)) {
      bytes += 8 * v.length;
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (typeof item === 'string') bytes += 8 + 2 * item.length;
        else if (typeof item === 'object' || typeof item === 'function' || typeof item === 'symbol') {
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
        const found = child(k, mapKeySegment(k)) ?? child(item, mapValueSegment(k));
        if (found) return found;
      }
    } else if (types.isSet(v)) {
      seen.add(v);
      let i = 0;
      for (const item of v) {
        const found = child(item, setItemSegment(i++));
        if (found) return found;
      }
    } else {
      const keys = Object.keys(v);
      bytes += 8 * keys.length;
      for (let i = 0; i < keys.length; i++) {
        bytes += 2 * keys[i]!.length;
        let item: unknown;
        try {
          item = (v as Record<string, unknown>)[keys[i]!];
        } catch (error) {
          if (!strict) throw error;
          segments.push(keys[i]!);
          return fail(`a getter that throws (${messageOf(error)})`);
        }
        if (typeof item === 'string') bytes += 8 + 2 * item.length;
        else if (typeof item === 'object' || typeof item === 'function' || typeof item === 'symbol') {
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
  if (typeof value === 'object' && value !== null && clean !== undefined) {
    const known = clean.get(value);
    if (known !== undefined) {
      options.onBytes?.(known);
      options.onPassThrough?.(0);
      options.onEncoded?.(encodedClean.has(value) ? 1 : 0);
      return undefined;
    }
  }
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
  if (found === undefined && passed === 0 && typeof value === 'object' && value !== null && clean !== undefined) {
    clean.set(value, bytes);
    if (encoded > 0) encodedClean.add(value);
  }
  options.onPassThrough?.(passed);
  options.onEncoded?.(encoded);
  options.onBytes?.(bytes);
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
  let threw: { error: unknown } | undefined;
  const found = findPart(value, root, (v) => {
    if ((typeof v !== 'object' && typeof v !== 'function') || v === null) return SKIP;
    try {
      if (passThrough(v)) return SKIP;
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== Array.prototype && proto !== null && (uncloneableReason(v) !== undefined || isOpaqueLeaf(v))) return SKIP;
      return DESCEND;
    } catch (error) {
      threw = { error };
      return FOUND;
    }
  });
  if (found === undefined) return undefined;
  const cause = found.thrown?.error ?? threw?.error;
  const reason =
    found.thrown?.container === false
      ? 'a getter that threw'
      : types.isProxy(found.part)
        ? /revoked/.test(errorText(cause))
          ? 'a revoked Proxy'
          : 'a Proxy that threw'
        : 'an object that threw when read';
  return { path: found.path, reason: `${reason} (${errorText(cause)})`, cause };
}

export function uncloneableError(found: Uncloneable, cause: unknown = found.cause): SerializationError {
  const back = found.path.startsWith('result');
  const fix =
    found.reason !== 'a function'
      ? ''
      : back
        ? ' Functions cannot be cloned: return data and rebuild the function in the calling thread.'
        : ' Functions cannot be cloned: send data and rebuild the function inside the task, or capture it with wrapNonSerializable(fn, { ... }).';
  const where = back ? 'sent back from the worker' : 'sent to a worker';
  const message =
    found.fix === undefined ? `\`${found.path}\` is ${found.reason}, which cannot be ${where}.${fix}` : `\`${found.path}\` is ${found.reason}: it cannot be ${where}. ${found.fix}`;
  return new SerializationError(message, {
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
  return findInnermost(value, path, refusedByClone)?.path;
}

function refusedByClone(value: unknown): boolean {
  try {
    structuredClone(value);
    return false;
  } catch {
    return true;
  }
}
