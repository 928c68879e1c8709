/**
 * Class instances and errors across threads. Structured clone copies an
 * instance as a plain object and an error without its own fields (`code`),
 * silently; so the sender encodes them as plain data (an instance as a copy
 * of its fields marked with its class's id, an error as its error wire) and
 * the receiver revives them, as cloudpickle does for joblib. The class itself
 * travels by source, as functions do (task/ship.ts on the caller's side).
 * Only values found to hold such things are encoded: plain data costs nothing.
 */
import { types } from 'node:util';
import type { ErrorWire } from '../core/wire.js';
import { decodeError, encodeError } from '../core/error-wire.js';
import { isProxy } from '../proxy/index.js';
import { SerializationError } from '../serialize/errors.js';

/** Own key of an encoded instance's copy naming its class; written last, so deleting it is cheap for V8. */
const CLASS_KEY = '__skeinClass';

/** The id of a function or class shipped by source: the compile-cache key, the same in every thread. */
export function sourceId(valueNames: readonly string[], prelude: string, expression: string): string {
  // Loaded on first use: imported as a module, node:crypto loads all of WebCrypto, a
  // good part of a pool worker's start, and most workers never need an id.
  const { createHash } = process.getBuiltinModule('node:crypto');
  return createHash('sha1').update(valueNames.join(',')).update('\0').update(prelude).update('\0').update(expression).digest('hex');
}

// Classes this thread can give instances of, and revive them as, by id: on
// the caller's side the classes it ships, on a worker's those it compiled.
const classById = new Map<string, Function>();
const idByClass = new WeakMap<Function, string>();
/** Ids of classes the caller inlined in functions it shipped: a worker may send their instances back. */
const callerClassIds = new Set<string>();
const candidateIds = new WeakMap<Function, string>();

export function registerClass(id: string, ctor: Function): void {
  classById.set(id, ctor);
  idByClass.set(ctor, id);
}

export function noteCallerClasses(ids: readonly string[]): void {
  for (const id of ids) callerClassIds.add(id);
}

/** Worker side: the id under which the caller knows `ctor`, or undefined when it does not have it. */
export function knownClassId(ctor: Function): string | undefined {
  const id = idByClass.get(ctor);
  if (id !== undefined) return id;
  // A class the caller inlined in a shipped function was compiled inside its factory: known by its source.
  let candidate = candidateIds.get(ctor);
  if (candidate === undefined) {
    candidate = sourceId([], '', `(${Function.prototype.toString.call(ctor)})`);
    candidateIds.set(ctor, candidate);
  }
  return callerClassIds.has(candidate) ? candidate : undefined;
}

/** Why a value cannot travel, and what to do instead. */
export interface Refusal {
  readonly reason: string;
  readonly fix: string;
}

/**
 * What a non-plain object is to the encoders: `undefined` leaves it to
 * structured clone (a built-in or host object), `'error'` an error to send as
 * its wire, `{ ctor }` an instance of a class of the user's, or why it cannot travel.
 */
export type InstanceKind = undefined | 'error' | { readonly ctor: Function } | Refusal;

const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;
const kinds = new WeakMap<object, InstanceKind>();

export function instanceKind(value: object, proto: object): InstanceKind {
  if (types.isNativeError(value)) return 'error';
  let kind = kinds.get(proto);
  if (kind === undefined && !kinds.has(proto)) {
    kind = classify(value, proto);
    kinds.set(proto, kind);
  }
  return kind;
}

function classify(value: object, proto: object): InstanceKind {
  let ctor: unknown;
  try {
    ctor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value;
  } catch {
    return undefined;
  }
  if (typeof ctor !== 'function') {
    return {
      reason: "an object whose prototype is not a class's (made with Object.create?)",
      fix: 'Only plain data and instances of classes travel. Fix: send its fields ({ ...value }) and rebuild it in the task.',
    };
  }
  const name = ctor.name || 'anonymous';
  // Built-ins, host objects and plain objects or arrays of another realm: structured clone's own business.
  if (NATIVE.test(Function.prototype.toString.call(ctor))) return undefined;
  const base = Array.isArray(value) ? 'Array' : types.isMap(value) ? 'Map' : types.isSet(value) ? 'Set' : undefined;
  if (base !== undefined) {
    return {
      reason: `an instance of class ${name}, a subclass of ${base}`,
      fix: `Structured clone keeps only the ${base}. Fix: send a plain ${base} and rebuild the instance in the task.`,
    };
  }
  if ((globalThis as Record<string, unknown>)[name] === ctor) {
    // Node's own classes written in JavaScript: some clone whole (Blob), others as an empty object (URL).
    try {
      if (Object.getPrototypeOf(structuredClone(value)) === proto) return undefined;
    } catch {
      return undefined;
    }
    return { reason: `a ${name}, which structured clone copies as an empty object`, fix: `Fix: send its data instead (for a URL, its href) and rebuild the ${name} in the task.` };
  }
  return { ctor };
}

/** An array, plain object, Map or Set, of this realm or another: what the encoders look inside. */
function isPlainLike(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as { constructor?: unknown } | null;
  if (proto === null || proto === Object.prototype) return true;
  // Objects from another realm (a vm context, a test runner's) have that realm's Object.prototype.
  return Object.getPrototypeOf(proto) === null && typeof proto.constructor === 'function' && proto.constructor.name === 'Object';
}

/** How far the encoder got with a container: its copy, once it needs one. */
interface Visit {
  copy: object | undefined;
  done: boolean;
}

/**
 * `value` with every class instance replaced by a plain object of its own
 * enumerable fields marked with its class's id (`idOf`), and every error by
 * its error wire: data that structured clone (or a serializer) carries
 * whole. Copy on write: a container is copied only when something inside it
 * changes, so plain data keeps its identity (the offloader stores a value
 * shared by many tasks once). Shared parts and cycles stay so. Store proxies
 * are left for the reference encoding.
 */
export function encodeInstances(value: unknown, idOf: (ctor: Function) => string): unknown {
  const visits = new Map<object, Visit>();
  const encode = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    const met = visits.get(v);
    if (met !== undefined) {
      // A way back into a container still being walked: it gets its copy now, for the cycle to close on.
      if (!met.done && met.copy === undefined) met.copy = shallowCopy(v);
      return met.copy ?? v;
    }
    if (isProxy(v)) return v;
    const proto = Object.getPrototypeOf(v) as object | null;
    const plain = Array.isArray(v) || types.isMap(v) || types.isSet(v) || isPlainLike(v);
    let id: string | undefined;
    if (!plain) {
      const kind = instanceKind(v, proto!);
      if (kind === undefined) return v;
      if (kind === 'error') {
        const wire = encodeError(v);
        visits.set(v, { copy: wire, done: true });
        return wire;
      }
      if (!('ctor' in kind)) throw new SerializationError(`A value is ${kind.reason}, which cannot travel. ${kind.fix}`);
      id = idOf(kind.ctor);
    }
    // An instance always becomes a copy; a container only once a member changes.
    const visit: Visit = { copy: id === undefined ? undefined : {}, done: false };
    visits.set(v, visit);
    const set = (key: unknown, item: unknown, encoded: unknown): void => {
      if (encoded === item && visit.copy === undefined) return;
      visit.copy ??= shallowCopy(v);
      if (Array.isArray(visit.copy)) visit.copy[key as number] = encoded;
      else if (types.isMap(visit.copy)) visit.copy.set(key, encoded);
      else (visit.copy as Record<string, unknown>)[key as string] = encoded;
    };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) set(i, v[i], encode(v[i]));
    } else if (types.isMap(v)) {
      for (const [k, item] of v) {
        const ek = encode(k);
        if (ek !== k) {
          // A changed key: the copy is rebuilt with every key encoded.
          visit.copy = rebuildMap(v, encode);
          break;
        }
        set(k, item, encode(item));
      }
    } else if (types.isSet(v)) {
      for (const item of v) {
        if (encode(item) !== item) {
          visit.copy = new Set([...v].map(encode));
          break;
        }
      }
    } else {
      for (const k of Object.keys(v)) {
        const item = (v as Record<string, unknown>)[k];
        set(k, item, encode(item));
      }
    }
    if (id !== undefined) (visit.copy as Record<string, unknown>)[CLASS_KEY] = id;
    visit.done = true;
    return visit.copy ?? v;
  };
  return encode(value);
}

function shallowCopy(v: object): object {
  if (Array.isArray(v)) return v.slice();
  if (types.isMap(v)) return new Map(v as Map<unknown, unknown>);
  if (types.isSet(v)) return new Set(v as Set<unknown>);
  const copy: Record<string, unknown> = Object.getPrototypeOf(v) === null ? Object.create(null) : {};
  // Fields only: an instance's copy is its fields, in order, the class id added last.
  for (const k of Object.keys(v)) copy[k] = (v as Record<string, unknown>)[k];
  return copy;
}

function rebuildMap(v: Map<unknown, unknown>, encode: (x: unknown) => unknown): Map<unknown, unknown> {
  const copy = new Map<unknown, unknown>();
  for (const [k, item] of v) copy.set(encode(k), encode(item));
  return copy;
}

function isErrorWire(value: Record<string, unknown>): value is Record<string, unknown> & ErrorWire {
  return value.__skeinError === 1 && typeof value.name === 'string' && typeof value.message === 'string';
}

/**
 * The receiving side of `encodeInstances`, in place: each marked copy takes
 * its class's prototype (`classOf`; the constructor is not run, as pickle
 * does not run `__init__`), each error wire becomes the error.
 */
export function reviveInstances(value: unknown, classOf: (id: string) => Function | undefined = (id) => classById.get(id)): unknown {
  const seen = new Map<object, unknown>();
  const revive = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    const met = seen.get(v);
    if (met !== undefined) return met;
    // A store proxy's target is not ours to walk: reading it would resolve it.
    if (isProxy(v)) return v;
    seen.set(v, v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        const revived = revive(item);
        if (revived !== item) v[i] = revived;
      }
    } else if (types.isMap(v)) {
      for (const [k, item] of [...v]) {
        const rk = revive(k);
        const ri = revive(item);
        if (rk !== k) v.delete(k);
        if (rk !== k || ri !== item) v.set(rk, ri);
      }
    } else if (types.isSet(v)) {
      for (const item of [...v]) {
        const revived = revive(item);
        if (revived !== item) {
          v.delete(item);
          v.add(revived);
        }
      }
    } else if (isPlainLike(v)) {
      const fields = v as Record<string, unknown>;
      if (isErrorWire(fields)) {
        const error = decodeError(fields);
        seen.set(v, error);
        return error;
      }
      for (const k of Object.keys(fields)) {
        if (k === CLASS_KEY) continue;
        const item = fields[k];
        const revived = revive(item);
        if (revived !== item) fields[k] = revived;
      }
      const id = fields[CLASS_KEY];
      if (typeof id === 'string') {
        const ctor = classOf(id);
        if (ctor === undefined) throw new SerializationError(`An instance of a class this thread does not have (id ${id.slice(0, 8)}) came in: it cannot be rebuilt.`);
        delete fields[CLASS_KEY];
        Object.setPrototypeOf(fields, ctor.prototype as object);
      }
    }
    return v;
  };
  return revive(value);
}

/** A result holding instances or errors, encoded by the worker (see `encodeResult`). */
export interface EncodedResult {
  readonly __skeinEncoded: 1;
  readonly value: unknown;
}

export function isEncodedResult(value: unknown): value is EncodedResult {
  return typeof value === 'object' && value !== null && (value as { __skeinEncoded?: unknown }).__skeinEncoded === 1;
}

/** Worker side: a result found to hold instances or errors, as data the caller revives. */
export function encodeResult(value: unknown): EncodedResult {
  return { __skeinEncoded: 1, value: encodeInstances(value, (ctor) => knownClassId(ctor)!) };
}
