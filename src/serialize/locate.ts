import v8 from 'node:v8';
import { types } from 'node:util';

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function cloneable(value: unknown): boolean {
  if (typeof value === 'function' || typeof value === 'symbol') return false;
  if (typeof value !== 'object' || value === null) return true;
  try {
    v8.serialize(value);
    return true;
  } catch {
    return false;
  }
}

function children(value: object): [string, unknown][] {
  if (types.isMap(value)) {
    const out: [string, unknown][] = [];
    let i = 0;
    for (const [k, v] of value as Map<unknown, unknown>) {
      out.push([`<Map key #${i}>`, k], [`.get(${typeof k === 'string' ? JSON.stringify(k) : `<key #${i}>`})`, v]);
      i++;
    }
    return out;
  }
  if (types.isSet(value)) return [...(value as Set<unknown>)].map((v, i) => [`<Set item #${i}>`, v]);
  return Object.keys(value).map((k) => [
    Array.isArray(value) && /^\d+$/.test(k) ? `[${k}]` : IDENTIFIER.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`,
    (value as Record<string, unknown>)[k],
  ]);
}

/**
 * The path (`root.a[2].handler`) of the innermost part of `value` that the
 * structured-clone algorithm rejects, or `root` itself when no single part
 * is to blame. Only runs on the error path, so it may re-serialize subtrees.
 */
export function locateUnserializable(value: unknown, root = 'value'): { path: string; part: unknown } {
  let path = root;
  let part = value;
  const seen = new Set<object>();
  for (;;) {
    if (typeof part !== 'object' || part === null || seen.has(part)) return { path, part };
    seen.add(part);
    const bad = children(part).find(([, v]) => !cloneable(v));
    if (!bad) return { path, part };
    path += bad[0].startsWith('<') ? ` ${bad[0]}` : bad[0];
    part = bad[1];
  }
}
