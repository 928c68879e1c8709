import { constants } from 'node:buffer';
import { types } from 'node:util';
import { isWellFormed } from './string.js';

/**
 * Plain data to MessagePack in msgpackr's record format, checked as it is
 * written: one pass over the value both proves that msgpackr's Unpackr gives
 * back exactly this value and writes the bytes it reads. Taken: strings
 * without lone surrogates, numbers other than -0, booleans, null, valid Dates
 * without own properties, and arrays / plain objects of those. Anything else —
 * undefined, holes, BigInt, class instances, null-prototype objects,
 * `__proto__` keys, Maps, typed arrays, cycles — makes the writer give up, and
 * the whole value goes to v8 instead.
 *
 * Why not msgpackr's own Packr behind a separate check: that check walked
 * every key and value before Packr walked them again, and cost 20-45% on top
 * of Packr's time on arrays of records (the second pass over ~30 MB of objects
 * misses the cache as the first one did). Packr has no hook that sees every
 * value as it is written (its `useRecords` function sees objects only, not the
 * strings and numbers inside them or arrays). Written here, each record's keys
 * are compared once against its shape's (msgpackr runs two for-in loops with a
 * hasOwnProperty call per key), and a shape seen often gets a writer compiled
 * for it. The output is msgpackr's format (record ids 0x40-0x7f, definitions
 * as fixext 'r'), read by msgpackr's Unpackr as before.
 */

// Deeper than this is treated as a cycle; v8 handles both.
const MAX_DEPTH = 100;
// Bounds the output for a DAG whose shared nodes multiply paths (2^depth);
// past this many objects v8 (which keeps shared references) is used instead.
const MAX_OBJECTS = 1 << 24;

/** Unwinds the writer when the value is not plain data (one preallocated value: thrown, never shown). */
const NOT_PLAIN: unique symbol = Symbol('not plain data');

const nativeObjectProtos = new WeakSet<object>();
const nativeArrayProtos = new WeakSet<object>();
const nativeDateProtos = new WeakSet<object>();
let lastObjectProto: object = Object.prototype;
let lastArrayProto: object = Array.prototype;

function isNativeConstructor(proto: object, name: string): boolean {
  const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as unknown;
  return (
    typeof ctor === 'function' &&
    ctor.name === name &&
    (ctor as { prototype?: unknown }).prototype === proto &&
    Function.prototype.toString.call(ctor).endsWith('{ [native code] }')
  );
}

// Any realm's Object.prototype (jest runs tests in their own realm).
function isObjectPrototype(proto: object | null): boolean {
  if (proto === null) return false;
  if (proto === lastObjectProto || nativeObjectProtos.has(proto)) return true;
  if (Object.getPrototypeOf(proto) !== null || !isNativeConstructor(proto, 'Object')) return false;
  nativeObjectProtos.add(proto);
  lastObjectProto = proto;
  return true;
}

function isArrayPrototype(proto: object | null): boolean {
  if (proto === null) return false;
  if (proto === lastArrayProto || nativeArrayProtos.has(proto)) return true;
  if (!Array.isArray(proto) || !isObjectPrototype(Object.getPrototypeOf(proto) as object | null) || !isNativeConstructor(proto, 'Array')) return false;
  nativeArrayProtos.add(proto);
  lastArrayProto = proto;
  return true;
}

function isDatePrototype(proto: object | null): boolean {
  if (proto === null) return false;
  if (nativeDateProtos.has(proto)) return true;
  if (!isObjectPrototype(Object.getPrototypeOf(proto) as object | null) || !isNativeConstructor(proto, 'Date')) return false;
  nativeDateProtos.add(proto);
  return true;
}

/**
 * The keys of a plain object, in for-in order, and what the writer knows
 * about them. `epoch` equals the current pack's while `id` is this shape's
 * record id in it (defined in the output already); `slots` holds, per key,
 * the shape of the object found under that key last time (`{id, address:
 * {city, zip}}` checks the next address against it first).
 */
interface Shape {
  readonly keys: readonly string[];
  readonly slots: (Shape | undefined)[];
  id: number;
  epoch: number;
  uses: number;
  write: ShapeWriter | undefined;
}

/** A writer compiled for one shape: false (nothing written) when `x` has other keys. */
type ShapeWriter = (x: object, depth: number) => boolean;

// Objects of one shape written (over all packs) before a writer is compiled for it (compiling costs ~50 µs).
const COMPILE_AFTER = 64;
const MAX_SHAPES = 4096;
const MAX_COMPILED = 256;
const shapes = new Map<string, Shape>();
let lastLookedUp: Shape | undefined;
let compiledCount = 0;
// False where code generation from strings is disallowed (--disallow-code-generation-from-strings).
let canCompile = true;

/** Exported for tests: how many shape writers are compiled, and a way to start over. */
export const shapeChecks = {
  get size(): number {
    return compiledCount;
  },
  clear(): void {
    forgetShapes();
  },
};

// msgpackr's Packr has 64 record ids of its own per pack (0x40-0x7f), reused round-robin past that.
const RECORD_IDS = 64;
const idOwner: (Shape | undefined)[] = new Array<Shape | undefined>(RECORD_IDS).fill(undefined);
let nextId = 0;
// Numbers each pack; never wraps (2^53 packs), so a shape's `epoch` can only match the pack that defined it.
let epoch = 0;

// The output buffer, reused from pack to pack (warm memory writes ~2x faster than a fresh one);
// every value is copied out of it. `safeEnd` leaves room for any fixed-size token (at most 15 bytes).
const SLACK = 16;
let buf = Buffer.allocUnsafeSlow(8192);
let view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
let safeEnd = buf.length - SLACK;
let pos = 0;
let objects = 0;
let records = 0;
let repeated = 0;
let busy = false;

// Buffer's own UTF-8 writer, as msgpackr uses: Buffer#write parses its arguments on every call.
type Utf8Write = (this: Buffer, s: string, offset: number, length: number) => number;
const utf8Write = (Buffer.prototype as unknown as { utf8Write?: Utf8Write }).utf8Write ?? function (this: Buffer, s: string, offset: number, length: number): number {
  return this.write(s, offset, length, 'utf8');
};

function grow(end: number): void {
  if (end > constants.MAX_LENGTH) throw NOT_PLAIN;
  const size = Math.min(constants.MAX_LENGTH, Math.max(end + (end >> 1), 2 * buf.length));
  const next = Buffer.allocUnsafeSlow(size);
  buf.copy(next, 0, 0, pos);
  buf = next;
  view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  safeEnd = buf.length - SLACK;
}

function writeString(s: string): void {
  const n = s.length;
  if (pos + 5 + n * 3 > buf.length) grow(pos + 5 + n * 3);
  let length: number;
  let headerSize: number;
  if (n < 64) {
    // Encoded here, as msgpackr does below 64 characters (a native call costs more); a lone surrogate gives up.
    headerSize = n < 32 ? 1 : 2;
    let p = pos + headerSize;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) {
        buf[p++] = c;
      } else if (c < 0x800) {
        buf[p++] = (c >> 6) | 0xc0;
        buf[p++] = (c & 0x3f) | 0x80;
      } else if ((c & 0xf800) !== 0xd800) {
        buf[p++] = (c >> 12) | 0xe0;
        buf[p++] = ((c >> 6) & 0x3f) | 0x80;
        buf[p++] = (c & 0x3f) | 0x80;
      } else {
        const d = s.charCodeAt(i + 1); // NaN past the end
        if (c >= 0xdc00 || (d & 0xfc00) !== 0xdc00) throw NOT_PLAIN;
        const u = 0x10000 + ((c & 0x03ff) << 10) + (d & 0x03ff);
        i++;
        buf[p++] = (u >> 18) | 0xf0;
        buf[p++] = ((u >> 12) & 0x3f) | 0x80;
        buf[p++] = ((u >> 6) & 0x3f) | 0x80;
        buf[p++] = (u & 0x3f) | 0x80;
      }
    }
    length = p - pos - headerSize;
  } else {
    if (!isWellFormed(s)) throw NOT_PLAIN;
    headerSize = n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
    length = utf8Write.call(buf, s, pos + headerSize, buf.length - pos - headerSize);
  }
  // The header's size was guessed from the length in characters; UTF-8 may need a larger one.
  if (length < 0x20 && headerSize === 1) {
    buf[pos++] = 0xa0 | length;
  } else if (length < 0x100) {
    if (headerSize < 2) buf.copyWithin(pos + 2, pos + headerSize, pos + headerSize + length);
    buf[pos++] = 0xd9;
    buf[pos++] = length;
  } else if (length < 0x10000) {
    if (headerSize < 3) buf.copyWithin(pos + 3, pos + headerSize, pos + headerSize + length);
    buf[pos++] = 0xda;
    buf[pos++] = length >> 8;
    buf[pos++] = length & 0xff;
  } else {
    if (headerSize < 5) buf.copyWithin(pos + 5, pos + headerSize, pos + headerSize + length);
    buf[pos++] = 0xdb;
    view.setUint32(pos, length);
    pos += 4;
  }
  pos += length;
}

// The encodings msgpackr's Packr chooses (with records on, 0x40-0x7f are record ids, so fixints stop at 0x3f).
function writeNumber(v: number): void {
  if (pos > safeEnd) grow(pos + SLACK);
  if (v >>> 0 === v) {
    if (v < 0x40) {
      // msgpackr writes -0 as the integer 0.
      if (v === 0 && 1 / v < 0) throw NOT_PLAIN;
      buf[pos++] = v;
    } else if (v < 0x100) {
      buf[pos++] = 0xcc;
      buf[pos++] = v;
    } else if (v < 0x10000) {
      buf[pos++] = 0xcd;
      buf[pos++] = v >> 8;
      buf[pos++] = v & 0xff;
    } else {
      buf[pos++] = 0xce;
      view.setUint32(pos, v);
      pos += 4;
    }
  } else if (v >> 0 === v) {
    if (v >= -0x20) {
      buf[pos++] = 0x100 + v;
    } else if (v >= -0x80) {
      buf[pos++] = 0xd0;
      buf[pos++] = v + 0x100;
    } else if (v >= -0x8000) {
      buf[pos++] = 0xd1;
      view.setInt16(pos, v);
      pos += 2;
    } else {
      buf[pos++] = 0xd2;
      view.setInt32(pos, v);
      pos += 4;
    }
  } else {
    buf[pos++] = 0xcb;
    view.setFloat64(pos, v);
    pos += 8;
  }
}

// msgpackr's timestamp extension (-1), byte for byte, so its Unpackr gives back the same Date.
function writeDate(date: Date): void {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw NOT_PLAIN;
  for (const _ in date) throw NOT_PLAIN; // own enumerable properties on a Date
  const seconds = ms / 1000;
  const millis = date.getMilliseconds();
  if (pos > safeEnd) grow(pos + SLACK);
  if (millis === 0 && seconds >= 0 && seconds < 0x100000000) {
    buf[pos++] = 0xd6;
    buf[pos++] = 0xff;
    view.setUint32(pos, seconds);
    pos += 4;
  } else if (seconds > 0 && seconds < 0x100000000) {
    buf[pos++] = 0xd7;
    buf[pos++] = 0xff;
    view.setUint32(pos, millis * 4000000);
    view.setUint32(pos + 4, seconds);
    pos += 8;
  } else {
    buf[pos++] = 0xc7;
    buf[pos++] = 12;
    buf[pos++] = 0xff;
    view.setUint32(pos, millis * 1000000);
    view.setBigInt64(pos + 4, BigInt(Math.floor(seconds)));
    pos += 12;
  }
}

function writeArrayHeader(n: number): void {
  if (pos > safeEnd) grow(pos + SLACK);
  if (n < 0x10) {
    buf[pos++] = 0x90 | n;
  } else if (n < 0x10000) {
    buf[pos++] = 0xdc;
    buf[pos++] = n >> 8;
    buf[pos++] = n & 0xff;
  } else {
    buf[pos++] = 0xdd;
    view.setUint32(pos, n);
    pos += 4;
  }
}

/** Any value; objects through writeObject (whose shape hint, for a value that is not in a slot, is dropped). */
function writeValue(v: unknown, depth: number): void {
  if (typeof v === 'string') writeString(v);
  else if (typeof v === 'number') writeNumber(v);
  else if (typeof v === 'boolean') writeBoolean(v);
  else if (v === null) writeNull();
  else if (typeof v === 'object') writeObject(v, depth, undefined);
  else throw NOT_PLAIN; // undefined (and holes), BigInt, symbols, functions
}

function writeBoolean(v: boolean): void {
  if (pos > safeEnd) grow(pos + SLACK);
  buf[pos++] = v ? 0xc3 : 0xc2;
}

function writeNull(): void {
  if (pos > safeEnd) grow(pos + SLACK);
  buf[pos++] = 0xc0;
}

/** An array, plain object or Date; returns the shape a plain object was written with, as the hint for the next one. */
function writeObject(x: object, depth: number, hint: Shape | undefined): Shape | undefined {
  if (Array.isArray(x)) {
    writeArray(x, depth);
    return undefined;
  }
  const proto = Object.getPrototypeOf(x) as object | null;
  if (proto === lastObjectProto || isObjectPrototype(proto)) return writeRecord(x, depth, hint);
  if (types.isDate(x) && isDatePrototype(proto)) {
    writeDate(x);
    return undefined;
  }
  throw NOT_PLAIN;
}

function writeArray(x: unknown[], depth: number): void {
  if (depth > MAX_DEPTH || ++objects > MAX_OBJECTS) throw NOT_PLAIN;
  if (!isArrayPrototype(Object.getPrototypeOf(x) as object | null)) throw NOT_PLAIN;
  const n = x.length;
  writeArrayHeader(n);
  const d = depth + 1;
  // Elements that are objects pass the shape of the one before as the hint: an array of records checks each against it.
  let hint: Shape | undefined;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    if (typeof v === 'object' && v !== null) hint = writeObject(v, d, hint);
    else writeValue(v, d); // a hole reads as undefined, which gives up
  }
}

function writeRecord(x: object, depth: number, hint: Shape | undefined): Shape {
  if (depth > MAX_DEPTH || ++objects > MAX_OBJECTS) throw NOT_PLAIN;
  records++;
  // Without a hint, the shape last looked up: a small object serialized call after call skips the lookup.
  hint ??= lastLookedUp;
  if (hint !== undefined) {
    const write = hint.write;
    if (write !== undefined) {
      if (write(x, depth + 1)) return hint;
    } else if (sameKeys(x, hint.keys)) {
      writeShaped(x, hint, depth + 1);
      return hint;
    }
  }
  const keys: string[] = [];
  for (const key in x) {
    if (key === '__proto__' || !isWellFormed(key)) throw NOT_PLAIN;
    keys.push(key);
  }
  const shape = shapeOf(keys);
  lastLookedUp = shape;
  const write = shape.write;
  if (write === undefined || !write(x, depth + 1)) writeShaped(x, shape, depth + 1);
  return shape;
}

function sameKeys(x: object, keys: readonly string[]): boolean {
  let i = 0;
  for (const key in x) if (key !== keys[i++]) return false;
  return i === keys.length;
}

function shapeOf(keys: string[]): Shape {
  const id = JSON.stringify(keys);
  let shape = shapes.get(id);
  if (shape === undefined) {
    if (shapes.size >= MAX_SHAPES || compiledCount >= MAX_COMPILED) forgetShapes();
    shape = { keys, slots: new Array<Shape | undefined>(keys.length).fill(undefined), id: 0, epoch: -1, uses: 0, write: undefined };
    shapes.set(id, shape);
  }
  return shape;
}

/** The record's header: its id when this pack defined the shape already, else a definition (msgpackr's fixext 'r' and the keys). */
function writeRecordHeader(shape: Shape): void {
  if (pos > safeEnd) grow(pos + SLACK);
  if (++shape.uses === COMPILE_AFTER) shape.write = compileShape(shape);
  if (shape.epoch === epoch) {
    buf[pos++] = shape.id;
    repeated++;
    return;
  }
  // Past 64 objects with few repeated shapes (a large config) v8 is faster both ways: give up early.
  if (records > 64 && repeated * 8 < records) throw NOT_PLAIN;
  const slot = nextId;
  nextId = (nextId + 1) % RECORD_IDS;
  // The shape that had this id gives it up (an entry left from an earlier pack may name a shape that has another id now).
  const previous = idOwner[slot];
  if (previous !== undefined && previous.id === 0x40 + slot) previous.epoch = -1;
  idOwner[slot] = shape;
  shape.id = 0x40 + slot;
  shape.epoch = epoch;
  buf[pos++] = 0xd4;
  buf[pos++] = 0x72;
  buf[pos++] = shape.id;
  const keys = shape.keys;
  writeArrayHeader(keys.length);
  for (let i = 0; i < keys.length; i++) writeString(keys[i]!);
}

/** The record's header and values, its keys already compared with the shape's. */
function writeShaped(x: object, shape: Shape, d: number): void {
  writeRecordHeader(shape);
  const keys = shape.keys;
  const slots = shape.slots;
  for (let i = 0; i < keys.length; i++) {
    // Read by the shape's keys, not a second for-in: a getter that adds or deletes keys cannot make the count disagree with the header.
    const v = (x as Record<string, unknown>)[keys[i]!];
    if (typeof v === 'object' && v !== null) slots[i] = writeObject(v, d, slots[i]);
    else writeValue(v, d);
  }
}

/**
 * `writeShaped` for one shape, compiled once the shape has repeated: the keys
 * become constant property names, so each value is one monomorphic load
 * instead of a keyed one (V8 compiles each writer on its own, with the
 * kinds it sees per key), and the keys are compared by the same for-in.
 */
// Shapes (and their writers) already in use stay valid: hints hold them until the next shape replaces them.
function forgetShapes(): void {
  shapes.clear();
  compiledCount = 0;
}

function compileShape(shape: Shape): ShapeWriter | undefined {
  if (!canCompile || compiledCount >= MAX_COMPILED) return undefined;
  const keys = shape.keys;
  // The keys enter the source only as JSON string literals (checked well-formed), so no key can inject code.
  const loads = keys.map(
    (k, i) =>
      `v = x[${JSON.stringify(k)}];\n` +
      `if (typeof v === 'string') writeString(v);\n` +
      `else if (typeof v === 'number') writeNumber(v);\n` +
      `else if (typeof v === 'object' && v !== null) slots[${i}] = writeObject(v, d, slots[${i}]);\n` +
      `else writeValue(v, d);`,
  );
  const source =
    `return function (x, d) {\n` +
    `let i = 0;\nfor (const k in x) if (k !== keys[i++]) return false;\nif (i !== ${keys.length}) return false;\n` +
    `writeRecordHeader(shape);\nlet v;\n${loads.join('\n')}\nreturn true;\n};`;
  try {
    const make = new Function('keys', 'slots', 'shape', 'writeRecordHeader', 'writeString', 'writeNumber', 'writeObject', 'writeValue', source) as (
      ...args: unknown[]
    ) => ShapeWriter;
    const write = make(keys, shape.slots, shape, writeRecordHeader, writeString, writeNumber, writeObject, writeValue);
    compiledCount++;
    return write;
  } catch {
    canCompile = false;
    return undefined;
  }
}

/**
 * The msgpack bytes of `value` after `reserved` bytes of room, in a buffer
 * of their own; undefined when `value` is not plain data, or when its
 * objects mostly have one-off shapes (a large config), where v8 is faster.
 */
export function packPlainData(value: unknown, reserved: number): Buffer | undefined {
  // A getter that serializes while we write would share this writer's state: let v8 take the inner value.
  if (busy) return undefined;
  busy = true;
  pos = reserved;
  objects = 0;
  records = 0;
  repeated = 0;
  nextId = 0;
  epoch++;
  try {
    if (reserved > safeEnd) grow(reserved + SLACK);
    writeValue(value, 0);
  } catch (error) {
    if (error === NOT_PLAIN) return undefined;
    throw error;
  } finally {
    busy = false;
  }
  if (records > 16 && repeated * 2 < records) return undefined;
  // Not zero-filled (pooled below 4 KB): the copy and the caller's header overwrite every byte.
  const out = Buffer.allocUnsafe(pos);
  if (pos - reserved < 256) {
    // Buffer#copy checks its arguments at a cost of a few hundred bytes' worth of copying.
    for (let i = reserved; i < pos; i++) out[i] = buf[i]!;
  } else {
    buf.copy(out, reserved, reserved, pos);
  }
  retain();
  return out;
}

// A buffer grown past RETAIN_LIMIT is kept only while large values keep
// coming: a timer drops it RELEASE_MS after the last one (timers run when the
// thread yields), so a burst does not pin its memory for the thread's life.
const RETAIN_LIMIT = 8 << 20;
const RELEASE_MS = 1000;
let lastLargePack = 0;
let releaseTimer: NodeJS.Timeout | undefined;

function retain(): void {
  if (buf.length <= RETAIN_LIMIT) return;
  // Grown up to 1.5x at a time: a buffer much larger than what it held (one huge value) is cut back.
  if (buf.length > 2 * pos) resize(Math.max(RETAIN_LIMIT, Math.ceil(pos * 1.25)));
  lastLargePack = performance.now();
  if (releaseTimer === undefined) releaseLater();
}

function resize(size: number): void {
  buf = Buffer.allocUnsafeSlow(size);
  view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  safeEnd = buf.length - SLACK;
}

function releaseLater(): void {
  const idle = performance.now() - lastLargePack;
  if (idle >= RELEASE_MS) {
    releaseTimer = undefined;
    resize(8192);
    return;
  }
  releaseTimer = setTimeout(releaseLater, RELEASE_MS - idle);
  releaseTimer.unref();
}

/** Whether the top of `value` is plain data (what `packPlainData` checks everywhere): a cheap first cut. */
export function isPlainRoot(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
      return isWellFormed(value);
    case 'number':
      return value !== 0 || 1 / value > 0;
    case 'boolean':
      return true;
    case 'object': {
      if (value === null) return true;
      const proto = Object.getPrototypeOf(value) as object | null;
      if (Array.isArray(value)) return isArrayPrototype(proto);
      return proto === lastObjectProto || isObjectPrototype(proto) || (types.isDate(value) && isDatePrototype(proto) && !Number.isNaN(value.getTime()));
    }
    default:
      return false;
  }
}
