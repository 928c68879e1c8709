import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LRUCache } from 'lru-cache';
import type { FunctionInstanceWire, CapturedFunctionWire, SourceFunctionWire } from '../core/wire.js';
import { describeValue } from '../core/errors.js';
import { BUNDLER_PRELUDE, analyzeFunction, type FunctionSource } from './analyze.js';
import { ClosureCaptureError, TaskModuleError, UnshippableFunctionError } from './errors.js';
import { importModule } from './import-module.js';

export { TaskModuleError };
import { assertCloneable } from './cloneable.js';
import { isProxy } from '../proxy/index.js';
import { encodeReferences } from '../store/travel.js';

/** A function ready to travel: its wire form plus the original, for running inline. */
export interface ShippedFunction {
  readonly name: string;
  readonly wire: FunctionInstanceWire;
  /** The function to call when running in the calling thread. */
  readonly local: (...args: unknown[]) => unknown;
}

const wrapped = new WeakSet<Function>();
const shipped = new WeakMap<Function, ShippedFunction>();
// Arrow functions written inline (`delayed((x) => x * 2)`) are new objects on
// every call; keying the parse on source text keeps them cheap too.
const analyses = new LRUCache<string, FunctionSource>({ max: 2048 });

function analyzeCached(fn: Function): FunctionSource {
  const source = Function.prototype.toString.call(fn);
  let info = analyses.get(source);
  if (info === undefined) {
    info = analyzeFunction(fn);
    analyses.set(source, info);
  }
  return info;
}

function sourceUrl(name: string, id: string): string {
  const safe = name.replace(/[^\w$.-]/g, '_') || 'anonymous';
  return `//# sourceURL=skein-task:///${safe}-${id.slice(0, 8)}.js`;
}

function sourceWire(name: string, prelude: string, expression: string, valueNames: readonly string[]): SourceFunctionWire {
  const id = createHash('sha1').update(valueNames.join(',')).update('\0').update(prelude).update('\0').update(expression).digest('hex');
  const helpers = /\b__name\(/.test(prelude + expression) ? BUNDLER_PRELUDE : '';
  const body = `${helpers}${prelude}return ${expression};\n${sourceUrl(name, id)}`;
  return { kind: 'source', id, name, body, valueNames };
}

function shipPlain(fn: Function): ShippedFunction {
  const info = analyzeCached(fn);
  if (info.isClass) throw new UnshippableFunctionError(info.name, 'class');
  if (info.free.length > 0) throw new ClosureCaptureError(info.name, info.free);
  return { name: info.name, wire: { fn: sourceWire(fn.name, '', info.expression, []), values: [] }, local: fn as ShippedFunction['local'] };
}

function shipWrapped(wrapper: Function, fn: Function, captures: Record<string, unknown>): ShippedFunction {
  const info = analyzeFunction(fn);
  const names = Object.keys(captures);
  const missing = info.free.filter((id) => !names.includes(id));
  if (missing.length > 0) throw new ClosureCaptureError(info.name, missing, { alreadyCaptured: names });

  // Plain captured functions and classes are inlined as declarations of the
  // factory, so they may refer to each other; everything else is a value.
  let prelude = '';
  const valueNames: string[] = [];
  const values: unknown[] = [];
  let references = 0;
  for (const name of names) {
    const value = captures[name];
    if (typeof value === 'function' && !wrapped.has(value) && !modules.has(value)) {
      const inner = analyzeCached(value);
      const unknown = inner.free.filter((id) => !names.includes(id));
      if (unknown.length > 0) throw new ClosureCaptureError(inner.name || name, unknown, { alreadyCaptured: names });
      prelude += `const ${name} = ${inner.expression};\n`;
    } else if (typeof value === 'function') {
      valueNames.push(name);
      values.push({ __skeinFunction: shipFunction(value).wire } satisfies CapturedFunctionWire);
    } else {
      let found = 0;
      assertCloneable(value, `captures.${name}`, { passThrough: isProxy, onPassThrough: (n) => (found = n) });
      valueNames.push(name);
      // Store proxies travel as references; the caller's stay unresolved.
      values.push(found > 0 ? encodeReferences(value) : value);
      references += found;
    }
  }
  const fnWire = sourceWire(fn.name, prelude, info.expression, valueNames);
  const wire: FunctionInstanceWire = references > 0 ? { fn: fnWire, values, refs: true } : { fn: fnWire, values };
  return { name: info.name, wire, local: wrapper as ShippedFunction['local'] };
}

/** How `fn` travels to a worker; computed once per function object. */
export function shipFunction(fn: unknown): ShippedFunction {
  if (typeof fn !== 'function') {
    throw new TypeError(`Expected a function, got ${describeValue(fn)}`);
  }
  // Wrapped functions and task() references are registered when they are made.
  let result = shipped.get(fn) ?? modules.get(fn);
  if (result === undefined) {
    result = shipPlain(fn);
    shipped.set(fn, result);
  }
  return result;
}

/**
 * Marks a closure (or class) to travel by source together with the values it
 * captures, the analogue of joblib's `wrap_non_picklable_objects`. Captured
 * functions and classes travel by source too; other values by structured clone.
 *
 * @example
 * const factor = 3;
 * const scale = wrapNonSerializable((x: number) => x * factor, { factor });
 * await parallel(xs.map((x) => delayed(scale)(x)));
 */
export function wrapNonSerializable<F extends Function>(fn: F, captures: Record<string, unknown> = {}): F {
  if (typeof fn !== 'function') throw new TypeError(`Expected \`fn\` to be a function, got ${describeValue(fn)}`);
  if (typeof captures !== 'object' || captures === null || Array.isArray(captures)) {
    throw new TypeError(`Expected \`captures\` to be an object of named values, got ${describeValue(captures)}`);
  }
  for (const name of Object.keys(captures)) {
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new TypeError(`Capture names must be identifiers, got ${describeValue(name)}`);
  }
  if (/^class\b/.test(Function.prototype.toString.call(fn))) {
    // A class is its own wrapper: it must stay constructible with `new`.
    const copy = class extends (fn as unknown as new (...a: unknown[]) => object) {};
    Object.defineProperty(copy, 'name', { value: fn.name });
    wrapped.add(copy);
    shipped.set(copy, shipWrapped(copy, fn, captures));
    return copy as unknown as F;
  }
  const wrapper = Object.defineProperty(
    function (this: unknown, ...args: unknown[]) {
      return (fn as unknown as (...a: unknown[]) => unknown).apply(this, args);
    },
    'name',
    { value: fn.name },
  );
  wrapped.add(wrapper);
  // Fail now, where the closure is written, rather than at dispatch.
  shipped.set(wrapper, shipWrapped(wrapper, fn, captures));
  return wrapper as unknown as F;
}


const modules = new WeakMap<Function, ShippedFunction>();

/**
 * Worker threads do not inherit the caller's `--import` loader hooks on Node
 * 20 (nodejs/node#47747), so a TypeScript task module needs its worker to
 * register tsx itself: find the tsx this process runs under.
 */
function typeScriptLoader(url: string): string | undefined {
  if ((process.features as { typescript?: unknown }).typescript) return undefined;
  const flag = process.execArgv.find((a) => /[\\/]tsx[\\/]dist[\\/](loader|esm[\\/]index)\.m?js$/.test(a));
  if (flag === undefined) {
    throw new TaskModuleError(
      `Task module ${url} is TypeScript: run the caller under tsx (npx tsx your-script.ts) so workers can load it, or point task() at built JavaScript.`,
      url,
    );
  }
  // The ESM build of tsx's API: its CommonJS build registers hooks by a path
  // that does not resolve from inside a worker.
  const require = createRequire(flag.startsWith('file:') ? fileURLToPath(flag) : flag);
  const manifest = require.resolve('tsx/package.json');
  const exportsMap = (require('tsx/package.json') as { exports: Record<string, { import?: { default?: string } }> }).exports;
  const entry = exportsMap['./esm/api']?.import?.default ?? './dist/esm/api/index.mjs';
  return pathToFileURL(path.join(path.dirname(manifest), entry)).href;
}

// The sources a missing module may have been compiled from, in the order
// TypeScript looks for them when a `.ts` file imports `./fib.js`.
const TYPESCRIPT_SOURCES: Readonly<Record<string, readonly string[]>> = {
  '.js': ['.ts', '.tsx'],
  '.jsx': ['.tsx'],
  '.mjs': ['.mts'],
  '.cjs': ['.cts'],
};

/**
 * `url` if its file exists, else the TypeScript source beside it: TypeScript
 * code names `fib.ts` by the `./fib.js` it compiles to, and under tsx there
 * is no build to make that file.
 */
function existingModule(url: string): string | undefined {
  const target = new URL(url);
  if (existsSync(target)) return url;
  const extension = path.posix.extname(target.pathname);
  for (const source of TYPESCRIPT_SOURCES[extension] ?? []) {
    const candidate = new URL(target.href);
    candidate.pathname = target.pathname.slice(0, -extension.length) + source;
    if (existsSync(candidate)) return candidate.href;
  }
  return undefined;
}

/** A function named by reference to a module export; calling it locally imports the module. */
export type TaskFunction<F extends (...args: any[]) => any> = ((...args: Parameters<F>) => Promise<Awaited<ReturnType<F>>>) & {
  readonly url: string;
  readonly exportName: string;
};

/**
 * Names a function by module and export, for functions that use imports. Each
 * worker imports the module once. `.ts` modules work when the caller runs under
 * tsx, named either way: `./fib.ts`, or `./fib.js` as TypeScript imports it
 * (a missing `.js`, `.mjs`, `.cjs` stands for the `.ts`, `.mts`, `.cts` beside it).
 *
 * @example
 * const fib = task<typeof import('./fib.js').fib>(new URL('./fib.js', import.meta.url), 'fib');
 * await parallel([delayed(fib)(30)]);
 */
export function task<F extends (...args: any[]) => any = (...args: any[]) => any>(
  moduleUrl: string | URL,
  exportName = 'default',
): TaskFunction<F> {
  let url: string;
  if (typeof moduleUrl === 'object' && moduleUrl !== null && typeof (moduleUrl as URL).href === 'string') {
    url = (moduleUrl as URL).href;
  } else if (typeof moduleUrl === 'string' && path.isAbsolute(moduleUrl)) {
    url = pathToFileURL(moduleUrl).href;
  } else if (typeof moduleUrl === 'string' && /^[a-z][a-z0-9+.-]*:/i.test(moduleUrl)) {
    url = moduleUrl;
  } else {
    throw new TypeError(
      `Expected \`moduleUrl\` to be a URL or an absolute path, got ${describeValue(moduleUrl)}; ` +
        "resolve relative modules with new URL('./mod.js', import.meta.url).",
    );
  }
  if (typeof exportName !== 'string' || exportName === '') {
    throw new TypeError(`Expected \`exportName\` to be a non-empty string, got ${describeValue(exportName)}`);
  }
  if (url.startsWith('file:')) {
    const found = existingModule(url);
    if (found === undefined) throw new TaskModuleError(`Task module not found: ${url}`, url);
    url = found;
  }
  const call = async (...args: unknown[]): Promise<unknown> => {
    const mod = await importModule(url);
    const fn = mod[exportName];
    if (typeof fn !== 'function') throw new TaskModuleError(`Module ${url} has no function export \`${exportName}\``, url);
    return (fn as (...a: unknown[]) => unknown)(...args);
  };
  const loader = /\.(ts|mts|cts|tsx)$/.test(new URL(url).pathname) ? typeScriptLoader(url) : undefined;
  const id = `${url}#${exportName}`;
  Object.defineProperty(call, 'name', { value: exportName });
  Object.defineProperties(call, { url: { value: url, enumerable: true }, exportName: { value: exportName, enumerable: true } });
  modules.set(call, { name: exportName, wire: { fn: { kind: 'module', id, url, exportName, ...(loader ? { loader } : {}) }, values: [] }, local: call });
  return call as unknown as TaskFunction<F>;
}
