/** Predicates on values and the walk over them that several layers share. */
import { types } from 'node:util';

/** An object literal (or `Object.create(null)`): what structured clone copies field by field. */
export function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/*
 * The walk over values that several layers share: what the members of a
 * container are (as structured clone copies them), how a path to one is
 * spelled, and how a cycle is stopped. The rare walks (finding what failed:
 * cloneable's locateThrow and findCloneFailure, serialize/locate) use
 * `findPart`/`findInnermost` whole. The hot walks (the argument check, offload,
 * reference encoding, result scans, size estimates, the records serializer)
 * share the paths and `Visited` but inline their loop over arrays and plain
 * objects: a generic walk with a callback per member took 7-11 s over 1e6
 * records where the inlined argument check takes 0.55-0.65 s
 * (benchmarks/micro/walker.ts, on this project's 2-core VM).
 */

/** One step from a container to a member; turned into text only when a path is reported. */
export type PathSegment = string | number | { readonly label: string };

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `.name`, or `["odd key"]` when the key is not an identifier. */
export function propertyPath(key: string): string {
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** `root` followed by each segment: `args[1].model.get("rows")`. */
export function renderPath(root: string, segments: readonly PathSegment[]): string {
  let path = root;
  for (const seg of segments) path += typeof seg === 'number' ? `[${seg}]` : typeof seg === 'string' ? propertyPath(seg) : seg.label;
  return path;
}

/** The path segments of a Map's key and value, and of a Set's item. */
export const mapKeySegment = (key: unknown): PathSegment => ({ label: `<key ${String(key)}>` });
export const mapValueSegment = (key: unknown): PathSegment => ({ label: `.get(${JSON.stringify(key) ?? String(key)})` });
export const setItemSegment = (index: number): PathSegment => ({ label: `<Set item ${index}>` });

/**
 * The members structured clone would copy from `value`, each with its path
 * segment and a read that may throw (a getter, a revoked Proxy): array items,
 * Map keys and values, Set items, else own enumerable keys. Allocates: for
 * the rare walks only.
 */
export function members(value: object): [PathSegment, () => unknown][] {
  const out: [PathSegment, () => unknown][] = [];
  if (types.isMap(value)) {
    for (const [k, item] of value as Map<unknown, unknown>) out.push([mapKeySegment(k), () => k], [mapValueSegment(k), () => item]);
  } else if (types.isSet(value)) {
    let i = 0;
    for (const item of value as Set<unknown>) out.push([setItemSegment(i++), () => item]);
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) out.push([i, () => (value as unknown[])[i]]);
  } else {
    for (const k of Object.keys(value)) out.push([k, () => (value as Record<string, unknown>)[k]]);
  }
  return out;
}

/** What `findPart`'s test says of one part: look inside it, not inside, or this is the part. */
export const DESCEND = 0;
export const SKIP = 1;
export const FOUND = 2;
export type Verdict = typeof DESCEND | typeof SKIP | typeof FOUND;

/** A part `findPart` found: where, what, and what reading it threw, if that is why. */
export interface FoundPart {
  readonly path: string;
  readonly part: unknown;
  readonly thrown?: { readonly error: unknown; readonly container: boolean };
}

/**
 * Depth-first search of `value` for the first part `test` picks (`FOUND`),
 * through the members structured clone copies, each container once (so a
 * cycle ends). A member whose reading throws is found too, with `thrown`
 * (`container` when listing a container's members threw). The path is only
 * spelled for the part found. For the rare walks (locating a failure).
 */
export function findPart(value: unknown, root: string, test: (part: unknown) => Verdict): FoundPart | undefined {
  const seen = new Set<object>();
  const segments: PathSegment[] = [];
  const visit = (part: unknown): FoundPart | undefined => {
    const verdict = test(part);
    if (verdict === FOUND) return { path: renderPath(root, segments), part };
    if (verdict === SKIP || (typeof part !== 'object' && typeof part !== 'function') || part === null || seen.has(part)) return undefined;
    seen.add(part);
    let entries: [PathSegment, () => unknown][];
    try {
      entries = members(part);
    } catch (error) {
      return { path: renderPath(root, segments), part, thrown: { error, container: true } };
    }
    for (const [segment, read] of entries) {
      segments.push(segment);
      let item: unknown;
      try {
        item = read();
      } catch (error) {
        return { path: renderPath(root, segments), part: undefined, thrown: { error, container: false } };
      }
      const found = visit(item);
      if (found) return found;
      segments.pop();
    }
    return undefined;
  };
  return visit(value);
}

/**
 * Containers met by one walk, for cycles: only containers that hold other
 * objects need tracking (a cycle must pass through those), so records of
 * plain fields cost nothing. The outermost container has a field of its own:
 * an argument list holding records is the common case, and it then needs no
 * map at all. Each maps to what the walk made of it.
 */
export class Visited<T> {
  rootState: T | undefined = undefined;
  seen: Map<object, T> | undefined;
  constructor(readonly root: object) {}

  get(value: object): T | undefined {
    return value === this.root ? this.rootState : this.seen?.get(value);
  }

  set(value: object, state: T): void {
    if (value === this.root) this.rootState = state;
    else (this.seen ??= new Map()).set(value, state);
  }
}

/**
 * The innermost part of `value` that `fails` (itself failing, with no member
 * that fails) and its path, or undefined when `value` does not fail.
 * Descends one failing member at a time, never back into a container on the
 * way (a cycle): for locating what a serializer refused, after it refused.
 */
export function findInnermost(value: unknown, root: string, fails: (part: unknown) => boolean): { path: string; part: unknown } | undefined {
  if (!fails(value)) return undefined;
  const within = new Set<object>();
  const segments: PathSegment[] = [];
  let part = value;
  for (;;) {
    if ((typeof part !== 'object' && typeof part !== 'function') || part === null) break;
    within.add(part);
    let next: [PathSegment, unknown] | undefined;
    for (const [segment, read] of members(part)) {
      const item = read();
      if (typeof item === 'object' && item !== null && within.has(item)) continue;
      if (fails(item)) {
        next = [segment, item];
        break;
      }
    }
    if (next === undefined) break;
    segments.push(next[0]);
    part = next[1];
  }
  return { path: renderPath(root, segments), part };
}
