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
