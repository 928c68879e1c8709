/**
 * What V8's inspector knows about a function of this thread that JavaScript
 * cannot ask: where it was written (`[[FunctionLocation]]`) and what the
 * variables it closes over hold (`[[Scopes]]`). Used on error paths only, at
 * most once per function: a session costs a few milliseconds to open, and
 * finding a script's URL replays every script the thread has parsed.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Inspector from 'node:inspector';

type RemoteObject = Inspector.Runtime.RemoteObject;

interface Connection {
  readonly session: Inspector.Session;
  readonly console: { debug(value: unknown): void };
  logged: RemoteObject | undefined;
  readonly urls: Map<string, string>;
}

let connection: Connection | null | undefined;

function connect(): Connection | undefined {
  if (connection === undefined) {
    connection = null;
    try {
      // Synchronous, and absent from Node builds without the inspector: required lazily, in a try.
      const inspector = createRequire(import.meta.url)('node:inspector') as typeof Inspector;
      const session = new inspector.Session();
      session.connect();
      const c: Connection = { session, console: inspector.console, logged: undefined, urls: new Map() };
      session.on('Runtime.consoleAPICalled', (message) => {
        c.logged = message.params.args[0];
      });
      session.on('Debugger.scriptParsed', (message) => {
        c.urls.set(message.params.scriptId, message.params.url);
      });
      connection = c;
    } catch {
      // No inspector here: errors keep what they say without it.
    }
  }
  return connection ?? undefined;
}

/** A command of this thread's own session, which answers before `post` returns. */
function post<T>(c: Connection, method: string, params?: object): T {
  let result: T | undefined;
  let failure: unknown;
  let answered = false;
  c.session.post(method, params, (error: unknown, value: unknown) => {
    failure = error;
    result = value as T;
    answered = true;
  });
  if (!answered) throw new Error(`The inspector did not answer ${method} synchronously`);
  if (failure) throw failure;
  return result!;
}

/** Runs `fn` with the Runtime domain on, then lets go of every object it handed out. */
function withRuntime<T>(c: Connection, fn: (handle: (value: unknown) => string | undefined) => T): T {
  post(c, 'Runtime.enable');
  try {
    // inspector.console reaches the session without printing: its message carries a handle on the value.
    return fn((value) => {
      c.logged = undefined;
      c.console.debug(value);
      // Set by the session's listener while debug() ran.
      return (c.logged as RemoteObject | undefined)?.objectId;
    });
  } finally {
    // Console messages keep their arguments alive: a function and all it closes over.
    post(c, 'Runtime.discardConsoleEntries');
    post(c, 'Runtime.releaseObjectGroup', { objectGroup: 'console' });
    post(c, 'Runtime.releaseObjectGroup', { objectGroup: GROUP });
    post(c, 'Runtime.disable');
  }
}

/** The group of every object the inspector hands us, released in one go. */
const GROUP = 'skein';

interface Property {
  readonly name: string;
  readonly value?: RemoteObject;
}

function internal(c: Connection, objectId: string): Property[] {
  return post<{ internalProperties?: Property[] }>(c, 'Runtime.getProperties', { objectId, ownProperties: true, objectGroup: GROUP }).internalProperties ?? [];
}

/** Where a function was written: its script's URL and the 0-based line and column V8 places it at. */
export interface FunctionOrigin {
  readonly url: string;
  readonly line: number;
  readonly column: number;
}

const origins = new WeakMap<Function, FunctionOrigin | null>();

/** Where `fn` was written, or undefined when the inspector cannot tell; asked once per function. */
export function functionOrigin(fn: Function): FunctionOrigin | undefined {
  const known = origins.get(fn);
  if (known !== undefined) return known ?? undefined;
  let origin: FunctionOrigin | null = null;
  const c = connect();
  try {
    if (c !== undefined) {
      const location = withRuntime(c, (handle) => {
        const id = handle(fn);
        const found = id === undefined ? undefined : internal(c, id).find((p) => p.name === '[[FunctionLocation]]');
        return found?.value?.value as { scriptId: string; lineNumber: number; columnNumber: number } | undefined;
      });
      if (location !== undefined) {
        if (!c.urls.has(location.scriptId)) {
          // Enabling the debugger reports every script parsed so far, with its URL, before it returns.
          post(c, 'Debugger.enable');
          post(c, 'Debugger.disable');
        }
        const url = c.urls.get(location.scriptId);
        if (url) origin = { url, line: location.lineNumber, column: location.columnNumber };
      }
    }
  } catch {
    origin = null;
  }
  origins.set(fn, origin);
  return origin ?? undefined;
}

/** `origin` through the source map of its script, when Node has one (tsx, --enable-source-maps). */
export function originalPosition(origin: FunctionOrigin, line: number, column: number): { url: string; line: number; column: number } {
  try {
    const { findSourceMap } = createRequire(import.meta.url)('node:module') as typeof import('node:module');
    const map = findSourceMap(origin.url) ?? (origin.url.startsWith('file:') ? findSourceMap(fileURLToPath(origin.url)) : undefined);
    const entry = map?.findEntry(line, column) as { originalSource?: string; originalLine?: number; originalColumn?: number } | undefined;
    if (entry?.originalSource !== undefined && entry.originalLine !== undefined && entry.originalColumn !== undefined) {
      return { url: entry.originalSource, line: entry.originalLine, column: entry.originalColumn };
    }
  } catch {
    // No usable map: the generated position is still right for what ran.
  }
  return { url: origin.url, line, column };
}

/** What a function closes over, as far as the inspector could read it. */
export interface Closure {
  /** The values of the requested names that the function's scopes hold. */
  readonly values: ReadonlyMap<string, unknown>;
  /** Written in an ES module (its scopes end in a module scope); undefined when the inspector could not tell. */
  readonly esm: boolean | undefined;
}

/** The current values of `names` as `fn` sees them, read through the inspector. */
export function closureValues(fn: Function, names: readonly string[]): Closure {
  const values = new Map<string, unknown>();
  const c = connect();
  if (c === undefined) return { values, esm: undefined };
  try {
    return withRuntime(c, (handle) => {
      const id = handle(fn);
      const scopes = id === undefined ? undefined : internal(c, id).find((p) => p.name === '[[Scopes]]')?.value?.objectId;
      if (scopes === undefined) return { values, esm: undefined };
      // A function to hand each value to: calling it from the inspector brings the value back here.
      let received: unknown;
      const sink = handle((value: unknown) => {
        received = value;
      });
      let esm = false;
      const list = post<{ result: Property[] }>(c, 'Runtime.getProperties', { objectId: scopes, ownProperties: true, objectGroup: GROUP }).result;
      for (const scope of list) {
        const kind = scope.value?.description?.split(' ')[0];
        if (kind === 'Module') esm = true;
        if (kind === 'Global' || scope.value?.objectId === undefined) continue;
        const variables = post<{ result: Property[] }>(c, 'Runtime.getProperties', { objectId: scope.value.objectId, ownProperties: true, objectGroup: GROUP }).result;
        for (const variable of variables) {
          if (!names.includes(variable.name) || values.has(variable.name) || variable.value === undefined) continue;
          if (variable.value.objectId === undefined || sink === undefined) {
            values.set(variable.name, variable.value.value);
            continue;
          }
          received = undefined;
          post(c, 'Runtime.callFunctionOn', {
            objectId: variable.value.objectId,
            functionDeclaration: 'function (sink) { sink(this); }',
            arguments: [{ objectId: sink }],
          });
          values.set(variable.name, received);
        }
      }
      return { values, esm };
    });
  } catch {
    return { values, esm: undefined };
  }
}
