import vm from 'node:vm';
import { parse, type Node as AcornNode } from 'acorn';
import { analyze } from 'eslint-scope';
import { UnshippableFunctionError } from './errors.js';

/** What the caller needs to know to ship a function by source. */
export interface FunctionSource {
  /** The function's name, or a short excerpt of its source when it has none. */
  readonly name: string;
  /** An expression that evaluates to the function (method shorthand is rewritten to one). */
  readonly expression: string;
  readonly isClass: boolean;
  /** Identifiers the function reads from enclosing scopes, other than globals a worker also has. */
  readonly free: readonly string[];
}

/**
 * Globals a worker thread has: the language's own (read off a fresh realm, so
 * nothing a test runner or the app added to this realm counts) plus Node's.
 */
const NODE_GLOBALS = [
  'AbortController', 'AbortSignal', 'Blob', 'BroadcastChannel', 'Buffer', 'ByteLengthQueuingStrategy',
  'CompressionStream', 'CountQueuingStrategy', 'Crypto', 'CryptoKey', 'CustomEvent', 'DOMException',
  'DecompressionStream', 'Event', 'EventTarget', 'File', 'FormData', 'Headers', 'MessageChannel',
  'MessageEvent', 'MessagePort', 'Navigator', 'Performance', 'PerformanceEntry', 'PerformanceMark',
  'PerformanceMeasure', 'PerformanceObserver', 'PerformanceObserverEntryList', 'PerformanceResourceTiming',
  'ReadableByteStreamController', 'ReadableStream', 'ReadableStreamBYOBReader', 'ReadableStreamBYOBRequest',
  'ReadableStreamDefaultController', 'ReadableStreamDefaultReader', 'Request', 'Response', 'SubtleCrypto',
  'TextDecoder', 'TextDecoderStream', 'TextEncoder', 'TextEncoderStream', 'TransformStream',
  'TransformStreamDefaultController', 'URL', 'URLSearchParams', 'WebAssembly', 'WritableStream',
  'WritableStreamDefaultController', 'WritableStreamDefaultWriter', 'atob', 'btoa', 'clearImmediate',
  'clearInterval', 'clearTimeout', 'console', 'crypto', 'fetch', 'global', 'globalThis', 'navigator',
  'performance', 'process', 'queueMicrotask', 'setImmediate', 'setInterval', 'setTimeout', 'structuredClone',
];

let workerGlobals: ReadonlySet<string> | undefined;
function isWorkerGlobal(name: string): boolean {
  workerGlobals ??= new Set([
    ...(vm.runInNewContext('Object.getOwnPropertyNames(globalThis)') as string[]),
    ...NODE_GLOBALS,
  ]);
  return workerGlobals.has(name);
}

function excerpt(source: string): string {
  const flat = source.replace(/\s+/g, ' ');
  return flat.length > 40 ? `${flat.slice(0, 37)}...` : flat;
}

/**
 * Helpers a bundler (esbuild, so tsx) writes into function bodies; the worker
 * defines them (see BUNDLER_PRELUDE), so they are not captures.
 */
const BUNDLER_HELPERS = new Set(['__name']);
export const BUNDLER_PRELUDE =
  'const __name = (target, value) => Object.defineProperty(target, "name", { value, configurable: true });\n';

const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;

function parseExpression(code: string): AcornNode {
  return parse(code, { ecmaVersion: 'latest', sourceType: 'script', ranges: true });
}

/**
 * Reads a function's source and finds what it captures, with a real parser
 * and scope analysis: a regex cannot tell a shadowed name from a captured one.
 */
export function analyzeFunction(fn: Function): FunctionSource {
  const source = Function.prototype.toString.call(fn);
  const name = typeof fn.name === 'string' && fn.name !== '' ? fn.name : excerpt(source);
  if (NATIVE.test(source)) {
    throw new UnshippableFunctionError(name.replace(/^bound /, ''), name.startsWith('bound ') ? 'bound' : 'native');
  }

  // Arrow, `function`, async, generator and class sources are expressions as
  // they stand; method shorthand (`f(x) {}`) only parses inside an object literal.
  let expression = `(${source})`;
  let ast: AcornNode;
  try {
    ast = parseExpression(expression);
  } catch {
    const method = `({${source}})`;
    try {
      ast = parseExpression(method);
    } catch (error) {
      throw new UnshippableFunctionError(name, 'unparsable', (error as Error).message);
    }
    expression = `Reflect.get(...(o => [o, Reflect.ownKeys(o)[0]])(${method}))`;
  }

  const manager = analyze(ast as never, { ecmaVersion: 2022, sourceType: 'script' } as never);
  const global = manager.globalScope;
  const free = new Set<string>();
  for (const ref of global?.through ?? []) {
    const id = ref.identifier.name;
    if (!isWorkerGlobal(id) && !BUNDLER_HELPERS.has(id)) free.add(id);
  }
  return { name, expression, isClass: /^class\b/.test(source), free: [...free].sort() };
}
