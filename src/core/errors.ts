// Our declarations name these globals (SharedArrayBuffer, AsyncIterable,
// WeakRef, PromiseSettledResult, Symbol.asyncDispose); every Node that
// `engines` allows has them, so a consumer whose `lib` stops earlier, without
// @types/node, still type-checks. Every entry's .d.ts loads this file.
/// <reference lib="es2022" preserve="true" />
/// <reference lib="esnext.disposable" preserve="true" />
/**
 * Every error skein raises extends SkeinError: a stable `code` for programs,
 * a message for people, and `cause` chained as in ES2022.
 */
export class SkeinError extends Error {
  readonly code: string;

  constructor(message: string, options: { code: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    // Non-enumerable like Error.prototype.name, so it is not mistaken for a
    // user field when errors are copied across threads.
    Object.defineProperty(this, 'name', { value: new.target.name, configurable: true, writable: true });
  }
}

/** Human-readable `value (type)` for error messages, p-queue style. */
export function describeValue(value: unknown): string {
  let shown: string;
  try {
    shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  if (shown.length > 60) shown = `${shown.slice(0, 57)}...`;
  return `\`${shown}\` (${typeName(value)})`;
}

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object' && typeof value !== 'function') return typeof value;
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  const ctor = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof ctor === 'string' && ctor !== '' && ctor !== tag ? ctor : tag;
}

/** Any error class; abstract so classes with required constructor arguments fit. */
export type ErrorClass = abstract new (...args: never[]) => Error;

// Error classes a thread can rebuild from an error's wire form, so `instanceof` holds across it.
const byCode = new Map<string, ErrorClass[]>();
const byName = new Map<string, ErrorClass>();

/**
 * Makes errors with this `code` come back from other threads as instances of
 * `ctor`. Each error module registers its own classes; built-ins are keyed by
 * name. Subclasses may share their base's code: the error's name picks among them.
 */
export function registerErrorClass(ctor: ErrorClass, code: string = ctor.name): void {
  const list = byCode.get(code);
  if (list === undefined) byCode.set(code, [ctor]);
  else if (!list.includes(ctor)) list.push(ctor);
  byName.set(ctor.name, ctor);
}

/**
 * The registered class for an error's `code`, narrowed by its class `names`
 * (its own first, then its bases'); without a registered code, the first of
 * `names` registered here.
 */
export function errorClassFor(code: unknown, names: readonly string[]): ErrorClass | undefined {
  const list = typeof code === 'string' ? byCode.get(code) : undefined;
  if (list !== undefined) {
    for (const name of names) {
      const match = list.find((c) => c.name === name);
      if (match !== undefined) return match;
    }
    return list[0];
  }
  for (const name of names) {
    const ctor = byName.get(name);
    if (ctor !== undefined) return ctor;
  }
  return undefined;
}
