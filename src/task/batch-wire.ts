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
import type { Delayed } from './delayed.js';
import { restoreResults } from './results.js';
import { encodeInstances } from './instances.js';
import { classCollector } from './ship.js';

export { runBatch, type RunBatchOptions } from './run-batch.js';

/**
 * A batch of delayed calls as plain cloneable data: functions as source or
 * module reference (shared by identical calls), arguments by column when
 * every call has the same arity, store references encoded.
 */
export function encodeBatch(tasks: readonly Delayed[], stopOnError: boolean, keep?: KeepWire, links?: BatchWire['links'], spent?: BatchWire['spent']): BatchWire {
  const first = tasks[0]!.shipped.wire;
  let fns: FunctionInstanceWire[] = [first];
  let fnIndex: number[] | undefined;
  for (let i = 1; i < tasks.length; i++) {
    if (tasks[i]!.shipped.wire !== first) {
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
      break;
    }
  }
  let refs = false;
  let classes: Map<string, FunctionInstanceWire> | undefined;
  const rows = tasks.map((t) => {
    let args = t.args;
    const encoded = t.shipped.argClasses;
    if (encoded !== undefined) for (const c of encoded) (classes ??= new Map()).set(c.fn.id, c);
    else if (t.shipped.encodeArgs) args = encodeInstances(args, classCollector((classes ??= new Map()))) as readonly unknown[];
    if (!t.hasReferences) return args;
    refs = true;
    return encodeReferences(args) as readonly unknown[];
  });
  const size = tasks.length;
  const arity = rows[0]!.length;
  let sameArity = arity <= 8;
  for (let i = 1; i < size && sameArity; i++) sameArity = rows[i]!.length === arity;
  // Built field by field on one object: a spread copy is several times slower to post.
  const wire: { -readonly [K in keyof BatchWire]: BatchWire[K] } = { fns, size, stopOnError };
  if (fnIndex) wire.fnIndex = fnIndex;
  if (sameArity) {
    const columns: unknown[][] = [];
    for (let j = 0; j < arity; j++) {
      // Filled by push, never pre-sized: V8 clones a holey array element by element, ~5x slower.
      const column: unknown[] = [];
      for (let i = 0; i < size; i++) column.push(rows[i]![j]);
      columns.push(column);
    }
    wire.columns = columns;
  } else {
    wire.args = rows;
  }
  if (refs) wire.refs = true;
  if (keep) wire.keep = keep;
  if (links && links.length > 0) wire.links = links;
  if (spent && spent.length > 0) wire.spent = spent;
  if (classes !== undefined) wire.classes = [...classes.values()];
  return wire;
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
