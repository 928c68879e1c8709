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
  /**
   * `'own'`: a non-arrow function that reads its own `this` (directly or in
   * arrows inside it), which shipping by source cannot give it; `'outer'`: an
   * arrow (or class) that reads the `this` of the code that wrote it.
   */
  readonly usesThis: 'own' | 'outer' | undefined;
  /**
   * Where in the source V8 places the function (its `[[FunctionLocation]]`):
   * the parameter list of a non-arrow function, else the start. Line and
   * column within the source, from 0.
   */
  readonly anchor: { readonly line: number; readonly column: number };
  /** Classes: instance members declared with a `#private` name, which a copy of an instance cannot have. */
  readonly privateMembers: readonly string[];
  /** Classes: names of the prototype's methods and accessors declared in the body; undefined when some key is computed. */
  readonly methods: readonly string[] | undefined;
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

interface Node extends AcornNode {
  readonly [key: string]: unknown;
}

/** Line and column (from 0) of `index` in `text`. */
export function position(text: string, index: number): { line: number; column: number } {
  let line = 0;
  let start = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: index - start };
}

/** Index in `code` of what V8 reports as the function's location: see `FunctionSource.anchor`. */
function anchorOf(node: Node, code: string): number {
  if (node.type === 'ArrowFunctionExpression') return node.start;
  if (node.type === 'ClassExpression') {
    const body = (node.body as { body: Node[] }).body;
    const ctor = body.find((m) => m.type === 'MethodDefinition' && m.kind === 'constructor');
    return ctor === undefined ? node.start : (ctor.value as Node).start;
  }
  // A method's function node starts at its parameters already; `function name(` needs the `(` found.
  const from = (node.id as Node | null)?.end ?? node.start;
  const paren = code.indexOf('(', from);
  return paren === -1 ? node.start : paren;
}

function classDetails(node: Node): { privateMembers: string[]; methods: string[] | undefined } {
  const privateMembers: string[] = [];
  let methods: string[] | undefined = [];
  for (const member of (node.body as { body: Node[] }).body) {
    const key = member.key as Node | undefined;
    if (key?.type === 'PrivateIdentifier' && member.static !== true) privateMembers.push(`#${String(key.name)}`);
    if (member.type !== 'MethodDefinition' || member.static === true || member.kind === 'constructor') continue;
    if (member.computed === true) {
      if (key?.type === 'Literal' && typeof key.value === 'string') methods?.push(key.value);
      else methods = undefined;
    } else if (key?.type === 'Identifier') {
      methods?.push(String(key.name));
    } else if (key?.type === 'Literal') {
      methods?.push(String(key.value));
    }
  }
  return { privateMembers, methods };
}

type ScopeLike = { type: string; block: AcornNode; upper: ScopeLike | null; thisFound: boolean };

/** Whose `this` the function reads, if any (see `FunctionSource.usesThis`). */
function thisUse(scopes: readonly ScopeLike[], top: Node): FunctionSource['usesThis'] {
  let use: FunctionSource['usesThis'];
  for (const scope of scopes) {
    if (!scope.thisFound) continue;
    // An arrow's `this` is the one of the function around it.
    let owner: ScopeLike | null = scope;
    while (owner !== null && owner.block.type === 'ArrowFunctionExpression') owner = owner.upper;
    if (owner === null || owner.type === 'global') return 'outer';
    if (owner.block === top) use = 'own';
  }
  return use;
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
  let top: Node;
  let anchor: number;
  try {
    ast = parseExpression(expression);
    top = ((ast as Node).body as Node[])[0]!.expression as Node;
    anchor = anchorOf(top, expression) - 1;
  } catch {
    const method = `({${source}})`;
    try {
      ast = parseExpression(method);
    } catch (error) {
      throw new UnshippableFunctionError(name, 'unparsable', (error as Error).message);
    }
    expression = `Reflect.get(...(o => [o, Reflect.ownKeys(o)[0]])(${method}))`;
    top = (((((ast as Node).body as Node[])[0]!.expression as Node).properties as Node[])[0]!.value) as Node;
    anchor = anchorOf(top, method) - 2;
  }

  const manager = analyze(ast as never, { ecmaVersion: 2022, sourceType: 'script' } as never);
  const global = manager.globalScope;
  const free = new Set<string>();
  for (const ref of global?.through ?? []) {
    const id = ref.identifier.name;
    if (!isWorkerGlobal(id) && !BUNDLER_HELPERS.has(id)) free.add(id);
  }
  const isClass = top.type === 'ClassExpression';
  return {
    name,
    expression,
    isClass,
    free: [...free].sort(),
    usesThis: thisUse(manager.scopes as unknown as ScopeLike[], top),
    anchor: position(source, Math.max(0, anchor)),
    ...(isClass ? classDetails(top) : { privateMembers: [], methods: [] }),
  };
}
