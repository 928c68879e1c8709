import { SkeinError, registerErrorClass } from '../core/errors.js';

/**
 * A function given to `delayed()` uses variables from an enclosing scope.
 * Functions travel to workers by source, where those variables do not exist.
 */
export class ClosureCaptureError extends SkeinError {
  readonly functionName: string;
  readonly identifiers: readonly string[];

  /**
   * `modules`: the captured names that hold modules (a Node built-in's
   * specifier, or undefined for another import), which no capture can send.
   * `esm`: whether the function was written in an ES module (the fix names
   * `import.meta.url`) or CommonJS (`__filename`); undefined when unknown.
   */
  constructor(
    functionName: string,
    identifiers: readonly string[],
    options: { alreadyCaptured?: readonly string[]; modules?: ReadonlyMap<string, ModuleOrigin>; esm?: boolean | undefined } = {},
  ) {
    const shown = functionName || 'the function';
    const named = /^[A-Za-z_$][\w$]*$/.test(functionName);
    const modules = options.modules ?? new Map<string, ModuleOrigin>();
    const values = identifiers.filter((i) => !modules.has(i) && i !== 'require');
    const all = [...(options.alreadyCaptured ?? []), ...values];
    const here = options.esm === false ? '__filename' : 'import.meta.url';
    const exported = `export the function${options.esm === false ? ' (module.exports.' + (named ? functionName : 'name') + ' = ...)' : ''} and use task(${here}, '${named ? functionName : 'name'}')`;
    const lines: string[] = [];
    if (values.length > 0) lines.push(`Fix: wrapNonSerializable(${named ? functionName : 'fn'}, { ${all.join(', ')} }) to send ${values.length === 1 ? 'it' : 'them'} along, pass ${values.length === 1 ? 'it as an argument' : 'them as arguments'}, or ${exported}.`);
    for (const [name, origin] of modules) lines.push(moduleFix(name, origin));
    if (identifiers.includes('require')) lines.push(moduleFix('require', { specifier: undefined, exportName: undefined }));
    if (values.length === 0) lines.push(`Or ${exported}.`);
    super(
      `\`${shown}\` captures outer variable${identifiers.length === 1 ? '' : 's'} ${identifiers.map((i) => `\`${i}\``).join(', ')}: ` +
        'functions travel to workers by source, so captured variables would not exist there.\n' +
        lines.join('\n'),
      { code: 'ERR_SKEIN_CLOSURE_CAPTURE' },
    );
    this.functionName = functionName;
    this.identifiers = identifiers;
  }
}

/** Where a captured module came from: a Node built-in's specifier (and the export, for a function taken from it), or unknown. */
export interface ModuleOrigin {
  readonly specifier: string | undefined;
  readonly exportName: string | undefined;
}

/** How to get a module inside the function instead of capturing it. */
function moduleFix(name: string, origin: ModuleOrigin): string {
  if (name === 'require') {
    return "Fix: `require` does not exist in a worker: import modules inside the function, `process.getBuiltinModule('node:fs')` for a built-in (Node >= 20.16), or `await import(...)` in an async function.";
  }
  const { specifier, exportName } = origin;
  if (specifier === undefined) {
    return `Fix: import \`${name}\` inside the function instead (it is an imported module, which cannot be sent along): \`const ${name} = await import('...')\` in an async function.`;
  }
  const binding = exportName === undefined ? name : exportName === name ? `{ ${name} }` : `{ ${exportName}: ${name} }`;
  const what = exportName === undefined ? `it is the module ${specifier}` : `it comes from ${specifier}`;
  return (
    `Fix: import \`${name}\` inside the function instead (${what}, which cannot be sent along): ` +
    `\`const ${binding} = process.getBuiltinModule('${specifier}')\` (Node >= 20.16), or \`const ${binding} = await import('${specifier}')\` in an async function.`
  );
}

/** A function that cannot travel by source at all: a native (built-in) or bound function. */
export class UnshippableFunctionError extends SkeinError {
  readonly functionName: string;

  constructor(functionName: string, reason: 'native' | 'bound' | 'unparsable' | 'class' | 'this' | 'outer-this', detail?: string) {
    const shown = functionName || 'anonymous';
    const method = /^[A-Za-z_$][\w$]*$/.test(shown) ? shown : 'method';
    const text = {
      native: `\`${shown}\` is a built-in (native) function and has no source to send to a worker. Wrap it: \`(...args) => ${shown}(...args)\` if it is a global, or export a wrapper from a module and use task(url, name).`,
      bound: `\`${shown}\` is a bound function: its bound \`this\` and arguments cannot travel. Pass them as arguments instead, or use wrapNonSerializable(fn, { ... }) with the original function.`,
      unparsable: `The source of \`${shown}\` could not be parsed for shipping to a worker${detail ? ` (${detail})` : ''}. Export it from a module and use task(url, name).`,
      class: `\`${shown}\` is a class, not a function: tasks must be callable. Pass a function that constructs it, and send the class along with wrapNonSerializable(fn, { ${shown} }).`,
      this:
        `\`${shown}\` uses \`this\`, but it travels to the worker by its source alone, without the object it belongs to: there \`this\` would not be that object. ` +
        `Fix: call it on the object inside a function that sends the object along, delayed(wrapNonSerializable((x) => obj.${method}(x), { obj })) (obj must be data, or an instance of a class that can travel), ` +
        'or export a function that takes the object as an argument and use task(url, name).',
      'outer-this':
        `\`${shown}\` uses the \`this\` of the code around it, which does not travel to the worker. ` +
        'Fix: pass what it needs as arguments, or name the object and send it along: const self = this; wrapNonSerializable((x) => self.method(x), { self }).',
    }[reason];
    super(text, { code: 'ERR_SKEIN_UNSHIPPABLE_FUNCTION' });
    this.functionName = functionName;
  }
}

/** A task module that cannot be used: not found, no such export, TypeScript without tsx, or importing itself. */
export class TaskModuleError extends SkeinError {
  readonly url: string;
  constructor(message: string, url: string) {
    super(message, { code: 'ERR_SKEIN_TASK_MODULE' });
    this.url = url;
  }
}

/** How an error escaped a task: a callback threw, or a promise rejected with no handler. */
export type EscapeSource = 'uncaughtException' | 'unhandledRejection';

function reasonOf(cause: unknown): string {
  if (typeof cause === 'object' && cause !== null && 'message' in cause) return String(cause.message);
  try {
    return String(cause);
  } catch {
    return Object.prototype.toString.call(cause);
  }
}

/**
 * An error that escaped a task instead of being thrown or returned by it: a
 * callback the task started (a timer, an event handler) threw, or a promise
 * it made rejected with nothing handling it. The worker catches it and
 * carries on; the original error, with its stack, is the `cause`.
 */
export class UncaughtTaskError extends SkeinError {
  /** The task that started the callback or promise, when it can be traced (AsyncLocalStorage); otherwise undefined. */
  readonly taskIndex: number | undefined;
  readonly source: EscapeSource;
  /** The task had already returned (its outcome was reported) when this happened. */
  readonly afterReturn: boolean;

  /** `last`: the worker reports no more errors from this task (a leftover interval must not flood the caller). */
  constructor(cause: unknown, options: { source: EscapeSource; taskIndex?: number | undefined; afterReturn: boolean; last?: boolean }) {
    const { source, taskIndex, afterReturn } = options;
    const rejection = source === 'unhandledRejection';
    const what = rejection ? 'a promise' : 'a callback';
    const did = rejection ? 'rejected with nothing handling it' : 'threw';
    const how = rejection ? 'unhandled rejection' : 'uncaught exception';
    const text =
      taskIndex === undefined
        ? `${what[0]!.toUpperCase()}${what.slice(1)} outside any running task ${did} (${how}): ${reasonOf(cause)}. The error's cause has its stack.`
        : afterReturn
          ? `Task ${taskIndex} had finished when ${what} it left behind ${did} (${how}): ${reasonOf(cause)}`
          : `${what[0]!.toUpperCase()}${what.slice(1)} started by task ${taskIndex} ${did} while the task was running (${how}): ${reasonOf(cause)}`;
    const more = options.last ? ` Further errors from ${taskIndex === undefined ? 'outside any task' : `task ${taskIndex}`} in this worker are not reported.` : '';
    super(text + more, { code: 'ERR_SKEIN_UNCAUGHT_TASK_ERROR', cause });
    this.taskIndex = taskIndex;
    this.source = source;
    this.afterReturn = afterReturn;
  }
}

// Rebuilt as these classes when they come back from another thread.
registerErrorClass(ClosureCaptureError, 'ERR_SKEIN_CLOSURE_CAPTURE');
registerErrorClass(UnshippableFunctionError, 'ERR_SKEIN_UNSHIPPABLE_FUNCTION');
registerErrorClass(TaskModuleError, 'ERR_SKEIN_TASK_MODULE');
registerErrorClass(UncaughtTaskError, 'ERR_SKEIN_UNCAUGHT_TASK_ERROR');
