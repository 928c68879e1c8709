/**
 * The batch channel in both directions, for any backend: the caller encodes
 * a batch (`encodeBatch`), the executing side runs it (`runBatch`), the
 * caller decodes what came back (`decodeOutcome`). What carries the data
 * between them (a thread's port, a child process's IPC, a queue) is the
 * backend's business; structured clone, or any encoding that keeps what
 * structured clone keeps, will do.
 */
import type { BatchResultWire, BatchWire, FunctionInstanceWire, KeepWire } from '../core/wire.js';
import { decodeError } from '../core/error-wire.js';
import { encodeReferences } from '../store/travel.js';
import { argOf, arityOf, type Delayed } from './delayed.js';
import type { ShippedFunction } from './ship.js';
import { restoreResults } from './restore.js';
import { encodeInstances } from './instances.js';
import { classCollector } from './ship.js';

export { runBatch, type RunBatchOptions } from './run-batch.js';

/**
 * A batch of delayed calls as plain cloneable data: functions as source or
 * module reference (shared by identical calls), arguments by column when
 * every call has the same arity, store references encoded.
 */
export function encodeBatch(tasks: readonly Delayed[], stopOnError: boolean, keep?: KeepWire, links?: BatchWire['links'], spent?: BatchWire['spent']): BatchWire {
  const size = tasks.length;
  const first = tasks[0]!.shipped.wire;
  const arity = arityOf(tasks[0]!);
  // One pass for what decides the layout: a batch is usually one function, same arity, no references.
  let sameFn = true;
  let refs = false;
  let sameArity = arity <= 8;
  // Class instances and errors travel encoded (task/instances.ts), with their classes.
  let encodes = false;
  for (let i = 0; i < size; i++) {
    const t = tasks[i]!;
    if (t.shipped.wire !== first) sameFn = false;
    if (t.hasReferences) refs = true;
    if (t.shipped.argClasses !== undefined || t.shipped.encodeArgs) encodes = true;
    if (arityOf(t) !== arity) sameArity = false;
  }
  let fns: FunctionInstanceWire[] = [first];
  let fnIndex: number[] | undefined;
  if (!sameFn) {
    fns = [];
    const seen = new Map<FunctionInstanceWire, number>();
    fnIndex = tasks.map((t) => {
      let k = seen.get(t.shipped.wire);
      if (k === undefined) {
        k = fns.push(t.shipped.wire) - 1;
        seen.set(t.shipped.wire, k);
      }
      return k;
    });
  }
  let classes: Map<string, FunctionInstanceWire> | undefined;
  const rows =
    refs || encodes
      ? tasks.map((t) => {
          let args = t.args;
          const encoded = t.shipped.argClasses;
          if (encoded !== undefined) for (const c of encoded) (classes ??= new Map()).set(c.fn.id, c);
          else if (t.shipped.encodeArgs) args = encodeInstances(args, classCollector((classes ??= new Map()))) as readonly unknown[];
          return t.hasReferences ? (encodeReferences(args) as readonly unknown[]) : args;
        })
      : undefined;
  // Built field by field on one object: a spread copy is several times slower to post.
  const wire: { -readonly [K in keyof BatchWire]: BatchWire[K] } = { fns, size, stopOnError };
  if (fnIndex) wire.fnIndex = fnIndex;
  if (sameArity) {
    // Made by map(), which gives a packed array of the exact length (V8
    // clones a holey array element by element, ~5x slower).
    const columns: unknown[][] = [];
    for (let j = 0; j < arity; j++) columns.push(rows ? rows.map((r) => r[j]) : tasks.map((t) => argOf(t, j)));
    wire.columns = columns;
  } else {
    wire.args = rows ?? tasks.map((t) => t.args);
  }
  if (refs) wire.refs = true;
  if (keep) wire.keep = keep;
  if (links && links.length > 0) wire.links = links;
  if (spent && spent.length > 0) wire.spent = spent;
  if (classes !== undefined) wire.classes = [...classes.values()];
  return wire;
}

/** One function over a column of items, each the only argument of a call (`map()`), with no `Delayed` per call. */
export interface MappedCalls {
  readonly shipped: ShippedFunction;
  /** Checked as `delayed(fn)(item)` checks its arguments, and holding no store proxies. */
  readonly items: readonly unknown[];
}

/** `encodeBatch` for mapped calls: the items are the batch's one column as they are. */
export function encodeCalls(calls: MappedCalls, stopOnError: boolean): BatchWire {
  return { fns: [calls.shipped.wire], size: calls.items.length, stopOnError, columns: [calls.items] };
}

/** A batch's outcome as the calling side sees it: results revived, errors rebuilt. */
export interface DecodedOutcome {
  /** Results by offset in the batch; with `stopOnError` it may end at the first failure. */
  readonly values: readonly unknown[];
  /** Errors by offset, rebuilt with their class, stack, code and fields. */
  readonly errors: readonly { readonly offset: number; readonly error: unknown }[];
  /** Time spent running the batch, which auto batching adapts to. */
  readonly durationMs: number;
}

/**
 * Turns what `runBatch` returned, after its journey back, into the outcome a
 * backend resolves with. Takes ownership of `result` (values are revived in place).
 */
export function decodeOutcome(result: BatchResultWire): DecodedOutcome {
  return {
    values: restoreResults(result.values),
    errors: result.errors.map((e) => ({ offset: e.offset, error: decodeError(e.error) })),
    durationMs: result.durationMs,
  };
}
