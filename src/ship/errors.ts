import { SkeinError } from '../errors.js';

/**
 * A function given to `delayed()` uses variables from an enclosing scope.
 * Functions travel to workers by source, where those variables do not exist.
 */
export class ClosureCaptureError extends SkeinError {
  readonly functionName: string;
  readonly identifiers: readonly string[];

  constructor(functionName: string, identifiers: readonly string[], options: { alreadyCaptured?: readonly string[] } = {}) {
    const shown = functionName || 'the function';
    const named = /^[A-Za-z_$][\w$]*$/.test(functionName);
    const all = [...(options.alreadyCaptured ?? []), ...identifiers];
    const hints: string[] = [];
    if (identifiers.includes('require')) {
      hints.push('`require` does not exist in a worker: use `await import(...)` inside the function, or task(import.meta.url, name).');
    }
    super(
      `\`${shown}\` captures outer variable${identifiers.length === 1 ? '' : 's'} ${identifiers.map((i) => `\`${i}\``).join(', ')}: ` +
        'functions travel to workers by source, so captured variables would not exist there.\n' +
        `Fix: wrapNonSerializable(${named ? functionName : 'fn'}, { ${all.join(', ')} }) to send them along, ` +
        'pass them as arguments, or export the function and use task(import.meta.url, ' +
        `'${named ? functionName : 'name'}').` +
        (hints.length > 0 ? `\n${hints.join('\n')}` : ''),
      { code: 'ERR_SKEIN_CLOSURE_CAPTURE' },
    );
    this.functionName = functionName;
    this.identifiers = identifiers;
  }
}

/** A function that cannot travel by source at all: a native (built-in) or bound function. */
export class UnshippableFunctionError extends SkeinError {
  readonly functionName: string;

  constructor(functionName: string, reason: 'native' | 'bound' | 'unparsable' | 'class', detail?: string) {
    const shown = functionName || 'anonymous';
    const text = {
      native: `\`${shown}\` is a built-in (native) function and has no source to send to a worker. Wrap it: \`(...args) => ${shown}(...args)\` if it is a global, or export a wrapper from a module and use task(url, name).`,
      bound: `\`${shown}\` is a bound function: its bound \`this\` and arguments cannot travel. Pass them as arguments instead, or use wrapNonSerializable(fn, { ... }) with the original function.`,
      unparsable: `The source of \`${shown}\` could not be parsed for shipping to a worker${detail ? ` (${detail})` : ''}. Export it from a module and use task(url, name).`,
      class: `\`${shown}\` is a class, not a function: tasks must be callable. Pass a function that constructs it, and send the class along with wrapNonSerializable(fn, { ${shown} }).`,
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
