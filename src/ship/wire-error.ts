import type { ErrorWire } from '../protocol/messages.js';
import { types } from 'node:util';

type ErrorClass = abstract new (...args: never[]) => Error;

/** Error classes rebuilt by name on the receiving side, so `instanceof` holds across the thread. */
const classes = new Map<string, ErrorClass>(
  [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError].map((c) => [c.name, c]),
);

export function registerErrorClass(ctor: ErrorClass): void {
  classes.set(ctor.name, ctor);
}

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
  let wireCause: ErrorWire['cause'];
  if (cause !== undefined) {
    wireCause = isErrorLike(cause) && depth < 8 ? encodeError(cause, depth + 1) : { value: cloneOrString(cause) };
  }
  return {
    __skeinError: 1,
    name: String(error.name),
    message: String(error.message),
    ...(error.stack === undefined ? {} : { stack: String(error.stack) }),
    ...('code' in error ? { code: cloneOrString((error as { code: unknown }).code) } : {}),
    ...(wireCause === undefined ? {} : { cause: wireCause }),
    ...(hasProps ? { props } : {}),
  };
}

function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: false });
}

/** Rebuilds an error sent by `encodeError`, as an instance of its class where that class is known here. */
export function decodeError(wire: ErrorWire): Error {
  const ctor = classes.get(wire.name) ?? Error;
  const error = Object.create(ctor.prototype as object) as Error;
  define(error, 'message', wire.message);
  if (ctor.prototype.name !== wire.name || Object.prototype.hasOwnProperty.call(ctor.prototype, 'name') === false) {
    define(error, 'name', wire.name);
  }
  define(error, 'stack', wire.stack ?? `${wire.name}: ${wire.message}`);
  if (wire.code !== undefined) Object.defineProperty(error, 'code', { value: wire.code, writable: true, configurable: true, enumerable: true });
  if (wire.cause !== undefined) define(error, 'cause', '__skeinError' in wire.cause ? decodeError(wire.cause) : wire.cause.value);
  if (wire.thrown !== undefined) define(error, 'thrown', wire.thrown.value);
  if (wire.props) Object.assign(error, wire.props);
  return error;
}

export function isErrorWire(value: unknown): value is ErrorWire {
  return typeof value === 'object' && value !== null && (value as { __skeinError?: unknown }).__skeinError === 1;
}
