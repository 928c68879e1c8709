import v8 from 'node:v8';
import { findInnermost } from '../core/values.js';

function uncloneable(value: unknown): boolean {
  if (typeof value === 'function' || typeof value === 'symbol') return true;
  if (typeof value !== 'object' || value === null) return false;
  try {
    v8.serialize(value);
    return false;
  } catch {
    return true;
  }
}

/**
 * The path (`root.a[2].handler`) of the innermost part of `value` that the
 * structured-clone algorithm rejects, or `root` itself when no single part
 * is to blame. Only runs on the error path, so it may re-serialize subtrees.
 */
export function locateUnserializable(value: unknown, root = 'value'): { path: string; part: unknown } {
  return findInnermost(value, root, uncloneable) ?? { path: root, part: value };
}
