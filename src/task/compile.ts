import type { FunctionInstanceWire, FunctionWire } from '../core/wire.js';
import { importModule } from './import-module.js';
import { noteCallerClasses, registerClass, reviveInstances } from './instances.js';

type Factory = (...values: unknown[]) => unknown;

// Keyed by the wire id (a hash of the source): a function is compiled once per
// thread however many tasks or batches use it.
const factories = new Map<string, Factory>();
const instances = new Map<string, unknown>();
const modules = new Map<string, Promise<Record<string, unknown>> | Record<string, unknown>>();
const loaders = new Map<string, Promise<void>>();

/** Registers a loader (tsx for TypeScript task modules) in this thread, once. */
function useLoader(url: string): Promise<void> {
  let ready = loaders.get(url);
  if (ready === undefined) {
    ready = (import(url) as Promise<{ register?: () => unknown }>).then((api) => {
      if (typeof api.register !== 'function') throw new TypeError(`Loader ${url} has no register() function`);
      api.register();
    });
    loaders.set(url, ready);
  }
  return ready;
}

function factoryFor(fn: Extract<FunctionWire, { kind: 'source' }>): Factory {
  let factory = factories.get(fn.id);
  if (factory === undefined) {
    // The one place skein turns text into code: the source of a function the
    // caller handed to delayed(), checked there for captured variables.
    factory = new Function(...fn.valueNames, fn.body) as Factory;
    factories.set(fn.id, factory);
    if (fn.classIds !== undefined) noteCallerClasses(fn.classIds);
  }
  return factory;
}

function fromModule(mod: Record<string, unknown>, fn: Extract<FunctionWire, { kind: 'module' }>): unknown {
  const value = mod[fn.exportName];
  if (typeof value !== 'function') {
    throw new TypeError(`Module ${fn.url} has no function export \`${fn.exportName}\` (found ${typeof value})`);
  }
  return value;
}

function isCapturedFunction(v: unknown): v is { __skeinFunction: FunctionInstanceWire } {
  return typeof v === 'object' && v !== null && '__skeinFunction' in v;
}

/**
 * Returns the callable (or class) a wire function describes: synchronously
 * when everything it needs is already loaded, else a promise (module imports).
 */
export function instantiate(inst: FunctionInstanceWire, revive?: (value: unknown) => unknown): unknown {
  const { fn } = inst;
  if (fn.kind === 'module') {
    const loaded = modules.get(fn.url);
    if (loaded !== undefined && !(loaded instanceof Promise)) return fromModule(loaded, fn);
    const pending =
      loaded ??
      (fn.loader ? useLoader(fn.loader) : Promise.resolve())
        .then(() => importModule(fn.url))
        .then(
        (mod) => {
          modules.set(fn.url, mod);
          return mod;
        },
        (error: unknown) => {
          modules.delete(fn.url);
          throw error;
        },
      );
    modules.set(fn.url, pending);
    return pending.then((mod) => fromModule(mod, fn));
  }
  if (inst.values.length === 0) {
    let cached = instances.get(fn.id);
    if (cached === undefined) {
      cached = factoryFor(fn)();
      instances.set(fn.id, cached);
      if (fn.isClass) registerClass(fn.id, cached as Function);
    }
    return cached;
  }
  if (inst.classes !== undefined) useClasses(inst.classes);
  const values = inst.values.map((v) =>
    isCapturedFunction(v) ? instantiate(v.__skeinFunction, revive) : inst.classes ? reviveInstances(inst.refs && revive ? revive(v) : v) : inst.refs && revive ? revive(v) : v,
  );
  const made = (resolved: unknown[]): unknown => {
    const value = factoryFor(fn)(...resolved);
    // The latest copy of a class with captures is the one its instances arriving now take.
    if (fn.isClass) registerClass(fn.id, value as Function);
    return value;
  };
  if (values.some((v) => v instanceof Promise)) return Promise.all(values).then(made);
  return made(values);
}

/** Compiles the classes that encoded instances name, so they can be revived in this thread. */
export function useClasses(classes: readonly FunctionInstanceWire[]): void {
  // Classes travel by source only (never as task modules), so this is synchronous.
  for (const c of classes) instantiate(c);
}
