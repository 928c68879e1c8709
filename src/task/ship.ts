import { existsSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LRUCache } from 'lru-cache';
import type { FunctionInstanceWire, CapturedFunctionWire, SourceFunctionWire } from '../core/wire.js';
import { describeValue } from '../core/errors.js';
import { BUNDLER_PRELUDE, analyzeFunction, type FunctionSource } from './analyze.js';
import { ClosureCaptureError, TaskModuleError, UnshippableFunctionError, type ModuleOrigin } from './errors.js';
import { closureValues } from './inspect.js';
import { types } from 'node:util';
import { importModule } from './import-module.js';

export { TaskModuleError };
import { assertCloneable, type OnInstance } from './cloneable.js';
import { isProxy } from '../proxy/index.js';
import { encodeReferences } from '../store/travel.js';
import { encodeInstances, instanceKind, registerClass, sourceId, type Refusal } from './instances.js';
import { keepShippedFile, noteShippedFile, shippedFileName } from './origins.js';
import { SerializationError } from '../serialize/errors.js';

/** A function ready to travel: its wire form plus the original, for running inline. */
export interface ShippedFunction {
  readonly name: string;
  readonly wire: FunctionInstanceWire;
  /** The function to call when running in the calling thread. */
  readonly local: (...args: unknown[]) => unknown;
  /** Calls made with this hold class instances or errors in their arguments: encode them to travel (task/instances.ts). */
  readonly encodeArgs?: true;
  /** The arguments are encoded already (the offloader encodes before it stores): the classes they name. */
  readonly argClasses?: readonly FunctionInstanceWire[];
}

const wrapped = new WeakSet<Function>();
const shipped = new WeakMap<Function, ShippedFunction>();
// Arrow functions written inline (`delayed((x) => x * 2)`) are new objects on
// every call; keying the parse on source text keeps them cheap too.
const analyses = new LRUCache<string, FunctionSource>({ max: 2048 });

// The wire of a plain function, by name and source: equal inline arrows share one
// (made once, and sent once per batch however many tasks use it).
const plainWires = new LRUCache<string, FunctionInstanceWire & { readonly fn: SourceFunctionWire }>({ max: 2048 });

function analyzeCached(fn: Function, source = sourceOf(fn)): FunctionSource {
  let info = analyses.get(source);
  if (info === undefined) {
    info = analyzeFunction(fn);
    analyses.set(source, info);
  }
  return info;
}

/**
 * A function whose source is part of a shipped body: its source starts at
 * `before` plus its offset in `info.expression`, counted from the start of
 * the prelude followed by `return <expression>`.
 */
interface Piece {
  readonly fn: Function;
  readonly info: FunctionSource;
  readonly before: number;
}

function sourceWire(
  name: string,
  prelude: string,
  expression: string,
  valueNames: readonly string[],
  more: { isClass?: boolean; classIds?: readonly string[]; pieces?: readonly Piece[] } = {},
): SourceFunctionWire {
  const id = sourceId(valueNames, prelude, expression);
  const helpers = /\b__name\(/.test(prelude + expression) ? BUNDLER_PRELUDE : '';
  const file = shippedFileName(name, id);
  const body = `${helpers}${prelude}return ${expression};\n//# sourceURL=skein-task:///${file}`;
  if (more.pieces !== undefined) {
    // Kept to point the stack frames of errors that come back to where the code was written.
    noteShippedFile(
      file,
      body,
      more.pieces.map((p) => {
        const source = sourceOf(p.fn);
        return { fn: p.fn, source, at: helpers.length + p.before + p.info.expression.indexOf(source), anchor: p.info.anchor };
      }),
    );
  }
  const wire: { -readonly [K in keyof SourceFunctionWire]: SourceFunctionWire[K] } = { kind: 'source', id, name, body, valueNames };
  if (more.isClass) wire.isClass = true;
  if (more.classIds !== undefined && more.classIds.length > 0) wire.classIds = more.classIds;
  return wire;
}

function shipPlain(fn: Function): ShippedFunction {
  const source = sourceOf(fn);
  const info = analyzeCached(fn, source);
  if (info.isClass) throw new UnshippableFunctionError(info.name, 'class');
  // Before captures: a method's fix is about its object, whatever else it uses.
  if (info.usesThis !== undefined) throw new UnshippableFunctionError(info.name, info.usesThis === 'own' ? 'this' : 'outer-this');
  if (info.free.length > 0) throw captureError(fn, info.name, info.free);
  const key = `${fn.name}\0${source}`;
  let wire = plainWires.get(key);
  if (wire === undefined) {
    wire = { fn: sourceWire(fn.name, '', info.expression, [], { pieces: [mainPiece(fn, info, '')] }), values: [] };
    plainWires.set(key, wire);
  } else {
    keepShippedFile(wire.fn.name, wire.fn.id, fn);
  }
  return { name: info.name, wire, local: fn as ShippedFunction['local'] };
}

function sourceOf(fn: Function): string {
  return Function.prototype.toString.call(fn);
}

/** The shipped function's own source, after the prelude and `return `. */
function mainPiece(fn: Function, info: FunctionSource, prelude: string): Piece {
  return { fn, info, before: prelude.length + 'return '.length };
}

function shipWrapped(wrapper: Function, fn: Function, captures: Record<string, unknown>): ShippedFunction {
  const info = analyzeFunction(fn);
  if (!info.isClass && info.usesThis !== undefined) throw new UnshippableFunctionError(info.name, info.usesThis === 'own' ? 'this' : 'outer-this');
  const names = Object.keys(captures);
  const missing = info.free.filter((id) => !names.includes(id));
  if (missing.length > 0) throw captureError(fn, info.name, missing, names);

  // Plain captured functions and classes are inlined as declarations of the
  // factory, so they may refer to each other; everything else is a value.
  let prelude = '';
  const valueNames: string[] = [];
  const values: unknown[] = [];
  const classIds: string[] = [];
  const classes = new Map<string, FunctionInstanceWire>();
  const pieces: Piece[] = [];
  let references = 0;
  for (const name of names) {
    const value = captures[name];
    // A module cannot be sent along (it is functions and native state): its own error says to import it inside.
    const moduleError = (): ClosureCaptureError | undefined => {
      const origin = moduleOrigin(value);
      return origin === undefined ? undefined : new ClosureCaptureError(info.name, [name], { modules: new Map([[name, origin]]), esm: closureValues(fn, []).esm });
    };
    if (types.isModuleNamespaceObject(value)) throw moduleError()!;
    if (typeof value === 'function' && !wrapped.has(value) && !modules.has(value)) {
      let inner: FunctionSource;
      try {
        inner = analyzeCached(value);
      } catch (error) {
        throw moduleError() ?? error;
      }
      const unknown = inner.free.filter((id) => !names.includes(id));
      if (unknown.length > 0) throw moduleError() ?? captureError(value, inner.name || name, unknown, names);
      pieces.push({ fn: value, info: inner, before: prelude.length + `const ${name} = `.length });
      prelude += `const ${name} = ${inner.expression};\n`;
      if (inner.isClass && classRefusal(value as Function, inner) === undefined) {
        // Instances of it made in the worker may come back: the caller knows it by its source.
        const id = sourceId([], '', inner.expression);
        registerClass(id, value);
        classIds.push(id);
      }
    } else if (typeof value === 'function') {
      valueNames.push(name);
      values.push({ __skeinFunction: shipFunction(value).wire } satisfies CapturedFunctionWire);
    } else {
      let found = 0;
      let encoded = 0;
      try {
        assertCloneable(value, `captures.${name}`, { passThrough: isProxy, onPassThrough: (n) => (found = n), onInstance: callerInstance, onEncoded: (n) => (encoded = n) });
      } catch (error) {
        throw moduleError() ?? error;
      }
      valueNames.push(name);
      const data = encoded > 0 ? encodeInstances(value, classCollector(classes)) : value;
      // Store proxies travel as references; the caller's stay unresolved.
      values.push(found > 0 ? encodeReferences(data) : data);
      references += found;
    }
  }
  pieces.push(mainPiece(fn, info, prelude));
  const fnWire = sourceWire(fn.name, prelude, info.expression, valueNames, { isClass: info.isClass, classIds, pieces });
  const wire: { -readonly [K in keyof FunctionInstanceWire]: FunctionInstanceWire[K] } = { fn: fnWire, values };
  if (references > 0) wire.refs = true;
  if (classes.size > 0) wire.classes = [...classes.values()];
  return { name: info.name, wire, local: wrapper as ShippedFunction['local'] };
}

// Built-ins a task is likely to capture, each known by its module object and its functions.
const BUILTINS = [
  'assert', 'async_hooks', 'buffer', 'child_process', 'cluster', 'crypto', 'dgram', 'diagnostics_channel', 'dns', 'events', 'fs',
  'fs/promises', 'http', 'http2', 'https', 'net', 'os', 'path', 'perf_hooks', 'process', 'querystring', 'readline', 'stream',
  'stream/promises', 'string_decoder', 'timers', 'timers/promises', 'tls', 'tty', 'url', 'util', 'v8', 'vm', 'worker_threads', 'zlib',
];
let builtinParts: Map<unknown, ModuleOrigin> | undefined;

function builtinPart(value: unknown): ModuleOrigin | undefined {
  if (builtinParts === undefined) {
    builtinParts = new Map();
    const require = createRequire(import.meta.url);
    for (const name of BUILTINS) {
      const specifier = `node:${name}`;
      let mod: Record<string, unknown>;
      try {
        mod = require(specifier) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (!builtinParts.has(mod)) builtinParts.set(mod, { specifier, exportName: undefined });
      for (const key of Object.keys(mod)) {
        const part = mod[key];
        if (typeof part === 'function' && !builtinParts.has(part)) builtinParts.set(part, { specifier, exportName: key });
      }
    }
  }
  return builtinParts.get(value);
}

/**
 * Where a captured value comes from when it is a module, or a function of a
 * built-in one; undefined otherwise. For error paths: the first call loads
 * the built-ins of BUILTINS to know them.
 */
function moduleOrigin(value: unknown): ModuleOrigin | undefined {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return undefined;
  if (types.isModuleNamespaceObject(value)) {
    // `import * as fs from 'node:fs'`: its default export is the module object itself.
    const inner = builtinPart((value as { default?: unknown }).default);
    return inner !== undefined && inner.exportName === undefined ? inner : { specifier: undefined, exportName: undefined };
  }
  return builtinPart(value);
}

/**
 * The error for a function that captures `free`, with the fix that works
 * for each: modules are imported inside the function, other values sent
 * along. What the names hold is read through the inspector (task/inspect.ts),
 * only here, on the way to an error.
 */
function captureError(fn: Function, name: string, free: readonly string[], alreadyCaptured?: readonly string[]): ClosureCaptureError {
  const closure = closureValues(fn, free);
  const found = new Map<string, ModuleOrigin>();
  for (const id of free) {
    const origin = closure.values.has(id)
      ? moduleOrigin(closure.values.get(id))
      : closure.esm === undefined && BUILTINS.includes(id)
        ? { specifier: `node:${id}`, exportName: undefined }
        : undefined;
    if (origin !== undefined) found.set(id, origin);
  }
  return new ClosureCaptureError(name, free, { modules: found, esm: closure.esm, ...(alreadyCaptured ? { alreadyCaptured } : {}) });
}

/**
 * Why instances of `ctor` cannot travel with their class, or undefined when
 * they can: its source (all that travels) must hold the whole class.
 */
function classRefusal(ctor: Function, info: FunctionSource): Refusal | undefined {
  const name = ctor.name || 'anonymous';
  if (!info.isClass) {
    return {
      reason: `an instance of ${name}, made by a function-style constructor`,
      fix: 'Its methods are assigned outside its source, and only the source travels. Fix: declare it with `class`, or send plain data and rebuild the instance in the task.',
    };
  }
  if (info.privateMembers.length > 0) {
    return {
      reason: `an instance of class ${name}, which has private members ${info.privateMembers.map((m) => `\`${m}\``).join(', ')}`,
      fix: 'A copy of an instance cannot have them. Fix: make them ordinary fields, or send plain data and rebuild the instance in the task.',
    };
  }
  if (info.methods !== undefined) {
    const declared = new Set(info.methods);
    const added = Object.getOwnPropertyNames(ctor.prototype).filter((k) => k !== 'constructor' && !declared.has(k));
    if (added.length > 0) {
      return {
        reason: `an instance of class ${name}, whose prototype has members added outside its class body (${added.map((m) => `\`${m}\``).join(', ')})`,
        fix: "Only the class's source travels. Fix: declare them in the class body.",
      };
    }
  }
  return undefined;
}

const wrappedClasses = new WeakMap<Function, Function>();
const classWires = new WeakMap<Function, { readonly id: string; readonly wire: FunctionInstanceWire } | Refusal>();

/**
 * How instances of `ctor` travel: its class by source (self-contained, or
 * made by wrapNonSerializable with what it captures), or why they cannot.
 * Computed once per class.
 */
export function shipClass(ctor: Function): { readonly id: string; readonly wire: FunctionInstanceWire } | Refusal {
  let result = classWires.get(ctor);
  if (result !== undefined) return result;
  const name = ctor.name || 'anonymous';
  try {
    const original = wrappedClasses.get(ctor);
    const info = analyzeCached(original ?? ctor);
    result = classRefusal(original ?? ctor, info);
    if (result === undefined && original !== undefined) {
      const wire = shipped.get(ctor)!.wire;
      result = { id: wire.fn.id, wire };
    } else if (result === undefined && info.free.length > 0) {
      const list = info.free.map((i) => `\`${i}\``).join(', ');
      result = {
        reason: `an instance of class ${name}, which uses outer variable${info.free.length === 1 ? '' : 's'} ${list}`,
        fix: `Fix: const ${name} = wrapNonSerializable(class ${name} { ... }, { ${info.free.join(', ')} }) and make its instances with that, or send plain data and rebuild the instance in the task.`,
      };
    } else if (result === undefined) {
      const fn = sourceWire(name, '', info.expression, [], { isClass: true, pieces: [mainPiece(ctor, info, '')] });
      result = { id: fn.id, wire: { fn, values: [] } };
    }
  } catch (error) {
    result = { reason: `an instance of class ${name}, whose source cannot be shipped`, fix: `${(error as Error).message} Fix: send plain data and rebuild the instance in the task.` };
  }
  if ('id' in result) registerClass(result.id, ctor);
  classWires.set(ctor, result);
  return result;
}

/** `idOf` for encodeInstances in the caller: collects the wires of the classes met into `classes`. */
export function classCollector(classes: Map<string, FunctionInstanceWire>): (ctor: Function) => string {
  return (ctor) => {
    const shippedClass = shipClass(ctor);
    if (!('id' in shippedClass)) throw new SerializationError(`A value is ${shippedClass.reason}, which cannot be sent to a worker. ${shippedClass.fix}`);
    classes.set(shippedClass.id, shippedClass.wire);
    return shippedClass.id;
  };
}

/** The caller's `onInstance` for the argument and capture checks: instances of classes that can travel, and errors, are encoded. */
export const callerInstance: OnInstance = (value, proto) => {
  const kind = instanceKind(value, proto);
  if (kind === undefined) return false;
  if (kind === 'error') return true;
  if (!('ctor' in kind)) return kind;
  const shippedClass = shipClass(kind.ctor);
  return 'id' in shippedClass ? true : shippedClass;
};

const encodingVariants = new WeakMap<ShippedFunction, ShippedFunction>();
const plainVariants = new WeakMap<ShippedFunction, ShippedFunction>();

/** `shipped` for calls whose arguments hold instances or errors to encode. */
export function encodingArgs(shipped: ShippedFunction): ShippedFunction {
  let variant = encodingVariants.get(shipped);
  if (variant === undefined) {
    variant = { ...shipped, encodeArgs: true };
    encodingVariants.set(shipped, variant);
    plainVariants.set(variant, shipped);
  }
  return variant;
}

/** What `encodingArgs` was given, for a call found to hold only primitives (nothing to encode, nothing to walk). */
export function plainArgs(shipped: ShippedFunction): ShippedFunction {
  return plainVariants.get(shipped) ?? shipped;
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
    wrappedClasses.set(copy, fn);
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
