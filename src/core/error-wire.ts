import type { ErrorWire } from './wire.js';
import { types } from 'node:util';
import { errorClassFor, registerErrorClass, type ErrorClass } from './errors.js';

const builtins: readonly ErrorClass[] = [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError];
const builtinNames = new Set(builtins.map((c) => c.name));
for (const ctor of builtins) registerErrorClass(ctor);

function cloneOrString(value: unknown): unknown {
  try {
    return structuredClone(value);
  } catch {
    return String(value);
  }
}

function isErrorLike(value: unknown): value is Error {
  return types.isNativeError(value) || (typeof value === 'object' && value !== null && 'message' in value && 'stack' in value);
}

/**
 * Constructor names from the error's class up to the first built-in one: a
 * subclass (`class MyTypeError extends TypeError`) unknown on the other side
 * is rebuilt as the nearest class that is known there.
 */
function classChain(error: object): string[] {
  const names: string[] = [];
  try {
    let proto = Object.getPrototypeOf(error) as object | null;
    for (let i = 0; i < 16 && proto !== null; i++) {
      const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as unknown;
      const name = typeof ctor === 'function' ? ctor.name : '';
      if (name === 'Object') break;
      if (name !== '') names.push(name);
      if (builtinNames.has(name)) break;
      proto = Object.getPrototypeOf(proto) as object | null;
    }
  } catch {
    // A Proxy posing as an error may refuse; its name alone still travels.
  }
  return names;
}

function encodeNested(value: unknown, depth: number): ErrorWire | { value: unknown } {
  return isErrorLike(value) && depth < 8 ? encodeError(value, depth + 1) : { value: cloneOrString(value) };
}

/** Turns whatever a task threw into plain data that survives structured clone. */
export function encodeError(error: unknown, depth = 0): ErrorWire {
  if (!isErrorLike(error)) {
    return {
      __skeinError: 1,
      name: 'Error',
      message: `Task threw a non-error value: ${typeof error === 'string' ? JSON.stringify(error) : String(error)}`,
      thrown: { value: cloneOrString(error) },
    };
  }
  const props: Record<string, unknown> = {};
  let hasProps = false;
  for (const k of Object.keys(error)) {
    if (k === 'cause' || k === 'name' || k === 'message' || k === 'stack') continue;
    props[k] = cloneOrString((error as unknown as Record<string, unknown>)[k]);
    hasProps = true;
  }
  const { cause } = error as { cause?: unknown };
  const wireCause = cause === undefined ? undefined : encodeNested(cause, depth);
  // AggregateError's list is an own property, but not an enumerable one.
  const list = Object.getOwnPropertyDescriptor(error, 'errors');
  const errors = list && !list.enumerable && Array.isArray(list.value) ? (list.value as unknown[]).map((e) => encodeNested(e, depth)) : undefined;
  const name = String(error.name);
  const chain = classChain(error);
  return {
    __skeinError: 1,
    name,
    message: String(error.message),
    ...(error.stack === undefined ? {} : { stack: String(error.stack) }),
    ...('code' in error ? { code: cloneOrString((error as { code: unknown }).code) } : {}),
    ...(wireCause === undefined ? {} : { cause: wireCause }),
    ...(errors === undefined ? {} : { errors }),
    ...(chain.length > 1 || (chain.length === 1 && chain[0] !== name) ? { classes: chain } : {}),
    ...(hasProps ? { props } : {}),
  };
}

let mapStack: ((stack: string) => string) | undefined;

/**
 * Installs what rewrites the stacks of errors rebuilt in this thread (the
 * task layer points frames of shipped code to where it was written).
 */
export function setStackMapper(mapper: (stack: string) => string): void {
  mapStack = mapper;
}

function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: false });
}

/**
 * Rebuilds an error sent by `encodeError`, as an instance of its class where
 * that class is registered here: by its code, else the nearest of its class names.
 */
export function decodeError(wire: ErrorWire): Error {
  const ctor = errorClassFor(wire.code, wire.classes === undefined ? [wire.name] : [wire.name, ...wire.classes]) ?? Error;
  const error = Object.create(ctor.prototype as object) as Error;
  define(error, 'message', wire.message);
  if (ctor.prototype.name !== wire.name || Object.prototype.hasOwnProperty.call(ctor.prototype, 'name') === false) {
    define(error, 'name', wire.name);
  }
  const stack = wire.stack ?? `${wire.name}: ${wire.message}`;
  define(error, 'stack', mapStack === undefined ? stack : mapStack(stack));
  if (wire.code !== undefined) Object.defineProperty(error, 'code', { value: wire.code, writable: true, configurable: true, enumerable: true });
  if (wire.cause !== undefined) define(error, 'cause', decodeNested(wire.cause));
  if (wire.errors !== undefined) define(error, 'errors', wire.errors.map(decodeNested));
  if (wire.thrown !== undefined) define(error, 'thrown', wire.thrown.value);
  if (wire.props) Object.assign(error, wire.props);
  return error;
}

function decodeNested(wire: ErrorWire | { readonly value: unknown }): unknown {
  return '__skeinError' in wire ? decodeError(wire) : wire.value;
}
