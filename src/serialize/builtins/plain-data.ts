import { types } from 'node:util';
import { isWellFormed } from './string.js';

/**
 * Whether msgpackr (records on) gives back exactly this value: strings
 * without lone surrogates, numbers other than -0, booleans, null, valid
 * Dates, and arrays / plain objects of those. Everything else — undefined,
 * holes, BigInt, class instances, null-prototype objects, `__proto__` keys,
 * Maps, typed arrays, cycles — must go to v8 instead.
 *
 * Cost matters (it runs on every record before msgpackr does): one walk,
 * prototypes compared by identity against the last one accepted, and an
 * array element with the keys of the one before it checked against those
 * keys (no key checks, no allocation); only a new shape allocates its key list.
 */

// Deeper than this is treated as a cycle; v8 handles both.
const MAX_DEPTH = 100;
// Bounds the walk over a DAG whose shared nodes multiply paths (2^depth);
// past this many objects v8 (which keeps shared references) is used instead.
const MAX_OBJECTS = 1 << 24;

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
 * `sameRecord` for one shape, compiled: the keys become constant property
 * names, so each value is one monomorphic load instead of a keyed load inside
 * for-in, which halves the walk over large arrays of records (V8 compiles each
 * checker on its own, with the shape it sees). Same answers as `sameRecord`:
 * undefined for other keys, false for a value that is not plain data.
 */
type ShapeCheck = (walk: Walk, x: object, depth: number, slots: Slots) => boolean | undefined;

/**
 * Per key of a repeated record shape, the keys of the plain object found
 * under that key in the record before: `{id, address: {city, zip}}` repeats
 * the address's shape too, which msgpackr's records reuse (3-4x faster than
 * v8 on such arrays), so it counts as repeated, not as a one-off shape.
 */
type Slots = (string[] | undefined)[];

// Records of one shape in a row before a checker is compiled for it (compiling costs ~50 µs).
const COMPILE_AFTER = 64;
const MAX_COMPILED = 256;
const compiled = new Map<string, ShapeCheck>();
// False where code generation from strings is disallowed (--disallow-code-generation-from-strings).
let canCompile = true;

function compileShape(keys: readonly string[]): ShapeCheck | undefined {
  if (!canCompile) return undefined;
  const id = JSON.stringify(keys);
  let check = compiled.get(id);
  if (check) return check;
  if (compiled.size >= MAX_COMPILED) compiled.clear();
  // The keys enter the source only as JSON string literals (record() checked them well-formed), so no key can inject code.
  // Strings and numbers are checked in the checker itself, where each key's branch sees one kind
  // (through the shared field() every record ran ~20% slower); everything else goes to field().
  const loads = keys.map(
    (k, i) =>
      `v = x[${JSON.stringify(k)}];\n` +
      `if (typeof v === 'string') { if (!wellFormed(v)) return false; }\n` +
      `else if (typeof v === 'number') { if (v === 0 && 1 / v < 0) return false; }\n` +
      `else if (!walk.field(v, depth, slots, ${i})) return false;`,
  );
  const source =
    `return function (walk, x, depth, slots) {\n` +
    `let i = 0;\nfor (const k in x) if (k !== keys[i++]) return undefined;\nif (i !== keys.length) return undefined;\n` +
    `let v;\n${loads.join('\n')}\nreturn true;\n};`;
  try {
    check = new Function('keys', 'wellFormed', source)([...keys], isWellFormed) as ShapeCheck;
  } catch {
    canCompile = false;
    return undefined;
  }
  compiled.set(id, check);
  return check;
}

/** Exported for tests: how many shape checkers are compiled, and a way to start over. */
export const shapeChecks = {
  get size(): number {
    return compiled.size;
  },
  clear(): void {
    compiled.clear();
  },
};

class Walk {
  objects = 0;
  /** Plain objects seen, and how many of them had the same keys as the array element before them (same first key, for ones checked the long way). */
  records = 0;
  repeated = 0;
  constructor(readonly bailOnOneOffShapes = false) {}

  value(x: unknown, depth: number): boolean {
    switch (typeof x) {
      case 'string':
        return isWellFormed(x);
      case 'number':
        // msgpackr writes -0 as the integer 0.
        return x !== 0 || 1 / x > 0;
      case 'boolean':
        return true;
      case 'object':
        return x === null || this.object(x, depth);
      default:
        return false;
    }
  }

  object(x: object, depth: number): boolean {
    if (Array.isArray(x)) return this.array(x, depth);
    const proto = Object.getPrototypeOf(x) as object | null;
    if (proto === lastObjectProto || isObjectPrototype(proto)) return this.record(x, depth, undefined);
    if (depth > MAX_DEPTH || ++this.objects > MAX_OBJECTS) return false;
    if (!types.isDate(x) || !isDatePrototype(proto) || Number.isNaN(x.getTime())) return false;
    for (const _ in x) return false; // own enumerable properties on a Date
    return true;
  }

  array(x: unknown[], depth: number): boolean {
    if (depth > MAX_DEPTH || ++this.objects > MAX_OBJECTS) return false;
    if (!isArrayPrototype(Object.getPrototypeOf(x) as object | null)) return false;
    const d = depth + 1;
    // Keys of the previous element when it was a plain object, all checked: an
    // element with the same keys in the same order skips the key checks and allocates nothing.
    let shape: string[] | undefined;
    // A checker compiled for `shape` once it has repeated COMPILE_AFTER times in a row.
    let check: ShapeCheck | undefined;
    let run = 0;
    let slots: Slots = [];
    for (let i = 0; i < x.length; i++) {
      const item: unknown = x[i];
      if (typeof item !== 'object' || item === null) {
        // A hole reads as undefined, so this also sends sparse arrays to v8.
        if (typeof item === 'string' ? !isWellFormed(item) : item === undefined || !this.value(item, d)) return false;
        shape = undefined;
        continue;
      }
      if (Array.isArray(item)) {
        if (!this.array(item, d)) return false;
        shape = undefined;
        continue;
      }
      const proto = Object.getPrototypeOf(item) as object | null;
      if (proto !== lastObjectProto && !isObjectPrototype(proto)) {
        if (!this.object(item, d)) return false;
        shape = undefined;
        continue;
      }
      if (shape !== undefined) {
        const same = check ? this.compiledRecord(check, item, d, slots) : this.sameRecord(item, shape, d, slots);
        if (same === true) {
          if (check === undefined && ++run === COMPILE_AFTER) check = compileShape(shape);
          continue;
        }
        if (same === false) return false;
      }
      const keys: string[] = [];
      if (!this.record(item, d, keys)) return false;
      if (shape !== undefined && shape[0] === keys[0]) this.repeated++;
      shape = keys;
      check = undefined;
      run = 0;
      slots = [];
    }
    return true;
  }

  /** A plain object (its prototype already checked), checked key by key; its keys are appended to `keys` if given. */
  record(x: object, depth: number, keys: string[] | undefined): boolean {
    if (depth > MAX_DEPTH || ++this.objects > MAX_OBJECTS) return false;
    // Past 64 objects with few repeated shapes the answer is v8 anyway (see plainDataShape): stop walking.
    if (++this.records > 64 && this.repeated * 8 < this.records && this.bailOnOneOffShapes) return false;
    for (const key in x) {
      if (key === '__proto__' || !isWellFormed(key)) return false;
      const v: unknown = (x as Record<string, unknown>)[key];
      if (v === undefined || !this.value(v, depth + 1)) return false;
      keys?.push(key);
    }
    return true;
  }

  /**
   * True for an array of strings, numbers, booleans and nulls that msgpackr
   * keeps exactly (tags, coordinates), checked without recursion; false means
   * "check it the long way", not "not plain data".
   */
  primitives(v: unknown[]): boolean {
    if (Object.getPrototypeOf(v) !== lastArrayProto || this.objects >= MAX_OBJECTS) return false;
    for (let i = 0; i < v.length; i++) {
      const e = v[i];
      if (typeof e === 'string' ? !isWellFormed(e) : typeof e === 'object' ? e !== null : !this.value(e, 0)) return false;
    }
    this.objects++;
    return true;
  }

  /**
   * One value of a record, for `sameRecord` and the compiled checkers: the
   * common kinds inline (this runs for every value of every record), arrays
   * of primitives without recursion, a sub-object against the keys in its
   * `slot` when the record's shape repeats, anything else through value().
   */
  field(v: unknown, depth: number, slots: Slots | undefined, slot: number): boolean {
    if (typeof v === 'string') return isWellFormed(v);
    if (typeof v === 'number') return v !== 0 || 1 / v > 0;
    if (typeof v === 'boolean') return true;
    if (Array.isArray(v)) return this.primitives(v) || this.array(v, depth);
    if (typeof v === 'object' && v !== null && slots !== undefined) return this.nested(v, depth, slots, slot);
    return v !== undefined && this.value(v, depth);
  }

  /**
   * An object held under key number `slot` of a repeated record: checked
   * against the keys the object under that key had in the record before
   * (counted as a repeated shape when they match), else the long way.
   */
  nested(v: object, depth: number, slots: Slots, slot: number): boolean {
    const proto = Object.getPrototypeOf(v) as object | null;
    if (proto !== lastObjectProto && !isObjectPrototype(proto)) return this.object(v, depth);
    const shape = slots[slot];
    if (shape !== undefined) {
      const same = this.sameRecord(v, shape, depth);
      if (same !== undefined) return same;
    }
    const keys: string[] = [];
    if (!this.record(v, depth, keys)) return false;
    slots[slot] = keys;
    return true;
  }

  /** `sameRecord` through a checker compiled for the shape. */
  compiledRecord(check: ShapeCheck, x: object, depth: number, slots: Slots): boolean | undefined {
    if (depth > MAX_DEPTH || this.objects >= MAX_OBJECTS) return false;
    const same = check(this, x, depth + 1, slots);
    if (same === true) {
      this.objects++;
      this.records++;
      this.repeated++;
    }
    return same;
  }

  /**
   * A plain object whose keys should be `keys` (checked before), in order:
   * true if it has them and is plain data, false if it is not plain data,
   * undefined for another shape, which the caller checks the long way (the
   * nested values checked so far are then walked twice: that only costs
   * time, and counts against MAX_OBJECTS, so it stays bounded).
   */
  sameRecord(x: object, keys: readonly string[], depth: number, slots?: Slots): boolean | undefined {
    if (depth > MAX_DEPTH || this.objects >= MAX_OBJECTS) return false;
    const d = depth + 1;
    let i = 0;
    for (const key in x) {
      if (key !== keys[i++]) return undefined;
      if (!this.field((x as Record<string, unknown>)[key], d, slots, i - 1)) return false;
    }
    if (i !== keys.length) return undefined;
    this.objects++;
    this.records++;
    this.repeated++;
    return true;
  }
}

/**
 * (The records serializer's own walk: it decides shapes field by field and
 * is the speed-critical path of large results, so it keeps its loop.)
 * Whether msgpackr round-trips `value` exactly (see the module comment), and
 * whether records pay off: they do for arrays of same-shaped objects, and
 * cost ~5x for many one-off shapes (a large nested config), where v8 is faster.
 */
export function plainDataShape(value: unknown): { plain: boolean; records: boolean } {
  const walk = new Walk(true);
  const plain = walk.value(value, 0);
  return { plain, records: walk.records <= 16 || walk.repeated * 2 >= walk.records };
}
