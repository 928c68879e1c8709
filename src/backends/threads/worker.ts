// A pool worker: receive a batch, run it, hand back plain data. It knows
// nothing of the executor; everything it shares with the caller is in
// src/protocol (message shapes) and src/ship (compile and run).
import { AsyncLocalStorage } from 'node:async_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { BatchResultWire, TaskErrorWire } from '../../core/wire.js';
import type { BatchMessage, OutcomeNoticeWire, OutcomesNoticeWire, ReleaseMessage, WorkerMessage, WorkerNoticeWire, WorkerSetupWire } from './protocol.js';
import { CLOCK_CANCEL, CLOCK_OFFSET, CLOCK_SEQ, CLOCK_SLOT_INTS, CLOCK_START } from './clock.js';
import { runBatch, type PoolRunBatchOptions, type TaskToken } from '../../task/run-batch.js';
import { instantiate } from '../../task/compile.js';
import { flagPooledResults, notePooled, prepareResults, prepareValues } from '../../task/results.js';
import { findCloneFailure, uncloneableError } from '../../task/cloneable.js';
import { UncaughtTaskError, type EscapeSource } from '../../task/errors.js';
import { encodeError } from '../../core/error-wire.js';
import type { BatchWire } from '../../core/wire.js';

/**
 * The store modules (references, connectors, caches) load with the first
 * batch that holds references, or the first release: most workers never
 * need them, and they were a large part of a worker's start.
 */
type StoreModules = typeof import('../../store/travel.js') & typeof import('../../store/registry.js');
let stores: StoreModules | undefined;
let loadingStores: Promise<StoreModules> | undefined;
const loadStores = (): Promise<StoreModules> =>
  (loadingStores ??= Promise.all([import('../../store/travel.js'), import('../../store/registry.js')]).then(([travel, registry]) => (stores = { ...travel, ...registry })));

/** Whether a batch may hold store references: in its arguments, or in a function's captured values. */
function mayHoldReferences(batch: BatchWire): boolean {
  return batch.refs === true || batch.fns.some((f) => f.refs === true || f.values.length > 0);
}

const setup = workerData as WorkerSetupWire;
const { resultBytes } = setup;
const port = parentPort!;
// Which task started a callback or promise, for the errors that escape them.
const scope = new AsyncLocalStorage<TaskToken>();
const sharedTicks = new Int32Array(setup.clock.buffer);
const { origin } = setup.clock;

/** Options for one batch: its clock slot marks each task's start, and tells when the caller cancelled. */
function optionsFor(message: BatchMessage): PoolRunBatchOptions {
  const { clock, tag, first, ids } = message;
  const ticks = clock.buffer ? new Int32Array(clock.buffer) : sharedTicks;
  const base = clock.buffer ? 0 : clock.slot * CLOCK_SLOT_INTS;
  return {
    scope,
    tag,
    first,
    ...(ids === undefined ? {} : { ids }),
    ...(message.inline ? {} : { publish: (offset: number, outcome: Parameters<NonNullable<PoolRunBatchOptions['publish']>>[1]) => publish({ __skeinNotice: 'outcome', tag, offset, ...outcome }) }),
    ...(message.gather === undefined || message.inline ? {} : { gather: { everyMs: message.gather, send: (from: number, values: unknown[], errors: TaskErrorWire[]) => publishGathered({ __skeinNotice: 'outcomes', tag, from, values, errors }) } }),
    onTaskStart(offset) {
      if (Atomics.load(ticks, base + CLOCK_CANCEL) !== 0) return false;
      ticks[base + CLOCK_START] = Date.now() - origin;
      ticks[base + CLOCK_OFFSET] = offset;
      // The sequence is written last: the caller reads it first and trusts the rest only if it moved.
      Atomics.add(ticks, base + CLOCK_SEQ, 1);
      return true;
    },
  };
}

/** Released memory worth a collection of its own: below this, V8's own collections come soon enough. */
const COLLECT_BYTES = 32 * 2 ** 20;
let collect: (() => void) | undefined | null = null;

/**
 * A full collection. An idle worker does not collect by itself for seconds,
 * and until it does, the shared memory of a finished run stays allocated.
 * Without --expose-gc, `gc` is exposed for one new context only (as
 * jest-leak-detector does), then the flag is turned back off.
 */
function collector(): (() => void) | undefined {
  if (collect !== null) return collect;
  collect = undefined;
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') {
    collect = exposed;
  } else {
    // Loaded here, not imported: node:v8 brings heap and profiler modules a worker's start can do without.
    const { setFlagsFromString } = process.getBuiltinModule('node:v8');
    const { runInNewContext } = process.getBuiltinModule('node:vm');
    try {
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as () => void;
    } catch {
      // No way to collect on demand here: V8 collects on its own, later.
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  }
  return collect;
}

/** A caller's run ended and its offloaded values are evicted: drop them from the caches, and free their memory. */
function release(message: ReleaseMessage): null | Promise<null> {
  if (stores === undefined) return loadStores().then(() => release(message));
  stores.pruneRebuiltCaches();
  if (message.bytes >= COLLECT_BYTES) collector()?.();
  return null;
}

function post(notice: WorkerNoticeWire, transfer: ArrayBuffer[] = []): void {
  port.postMessage(notice, transfer);
}

function cloneFailure(value: unknown, cause: unknown): ReturnType<typeof uncloneableError> {
  const why = typeof cause === 'object' && cause !== null && 'message' in cause ? ` (${String(cause.message)})` : '';
  return uncloneableError({ path: findCloneFailure(value, 'result') ?? 'result', reason: `something structured clone refuses${why}` }, cause);
}

/** A settle-mode outcome, sent as soon as the task is over so that it survives this worker. */
function publish(notice: OutcomeNoticeWire): void {
  // A settle-mode outcome that aliases reused shared memory must keep that memory out of the pool, as a reply does.
  flagPooledResults({ values: [notice.value, notice.error], errors: [], durationMs: 0 });
  if (resultBytes !== undefined && typeof notice.value === 'object' && notice.value !== null) {
    const box = [notice.value];
    const transfer = prepareValues(box, resultBytes);
    const send = (list: ArrayBuffer[]): void => postOutcome(list.length > 0 ? { __skeinNotice: 'outcome', tag: notice.tag, offset: notice.offset, value: box[0] } : notice, list, notice);
    if (transfer instanceof Promise) void transfer.then(send);
    else send(transfer);
    return;
  }
  postOutcome(notice, [], notice);
}

function postOutcome(out: OutcomeNoticeWire, transfer: ArrayBuffer[], notice: OutcomeNoticeWire): void {
  try {
    post(out, transfer);
  } catch (error) {
    // Structured clone refused something the walk in run-batch let through.
    post({ __skeinNotice: 'outcome', tag: notice.tag, offset: notice.offset, error: encodeError(cloneFailure(notice.value, error)) });
  }
}

/** Gathered settle-mode outcomes, sent together so that they survive this worker. */
function publishGathered(notice: OutcomesNoticeWire): void {
  flagPooledResults({ values: notice.values, errors: notice.errors, durationMs: 0 });
  const transfer = resultBytes === undefined ? [] : prepareValues(notice.values, resultBytes);
  if (transfer instanceof Promise) void transfer.then((list) => postGathered(notice, list));
  else postGathered(notice, transfer);
}

function postGathered(notice: OutcomesNoticeWire, transfer: ArrayBuffer[]): void {
  try {
    post(notice, transfer);
  } catch (error) {
    // Structured clone refused something the walk in run-batch let through: those tasks fail with it.
    const { values, errors } = notice;
    for (let k = 0; k < values.length; k++) {
      if (findCloneFailure(values[k], 'result') === undefined) continue;
      const offset = notice.from + k;
      const at = errors.findIndex((e) => e.offset > offset);
      errors.splice(at < 0 ? errors.length : at, 0, { offset, error: encodeError(cloneFailure(values[k], error)) });
      values[k] = undefined;
    }
    post(notice);
  }
}

/**
 * The reply last handed to the pool, until the next batch: the pool posts it,
 * and may fail to. Held weakly: once posted, its values are free to go.
 */
let replying: { tag: number | undefined; values: WeakRef<readonly unknown[]> } | undefined;

function reply(tag: number, result: BatchResultWire): unknown {
  replying = { tag, values: new WeakRef(result.values) };
  if (resultBytes === undefined) return result;
  const transfer = prepareResults(result, resultBytes);
  return transfer instanceof Promise ? transfer.then((list) => moving(result, list)) : moving(result, transfer);
}

/**
 * Marks a result for Piscina to move its buffers: loaded with the first
 * result that has buffers to move, as Piscina's module is the whole pool
 * (about 25 ms of a worker's start), which a worker needs only for that.
 * Piscina hands its workers `workerData` as is.
 */
let movable: ((result: BatchResultWire, transfer: ArrayBuffer[]) => unknown) | undefined;

function moving(result: BatchResultWire, transfer: ArrayBuffer[]): unknown {
  flagPooledResults(result);
  if (transfer.length === 0) return result;
  if (movable !== undefined) return movable(result, transfer);
  return import('piscina').then(({ move, transferableSymbol, valueSymbol }) => {
    movable = (r, t) => move({ [transferableSymbol]: t, [valueSymbol]: r } as Parameters<typeof move>[0]);
    return movable(result, transfer);
  });
}

/**
 * The pool could not post our reply: it turns that into an uncaught error
 * and never answers the batch, so the caller would wait forever. Say which
 * result it was, then exit so the pool replaces this worker and fails the batch.
 */
function replyFailed(cause: unknown): void {
  const { tag } = replying!;
  // Still there: the pool's failed post held them until now.
  const values = replying!.values.deref() ?? [];
  let offset = values.findIndex((v) => findCloneFailure(v, 'result') !== undefined);
  if (offset < 0) offset = 0;
  const error = cloneFailure(values[offset], cause);
  if (tag !== undefined) post({ __skeinNotice: 'reply-failed', tag, offset, error: encodeError(error) });
  process.exit(1);
}

/** Thrown by the pool's own code (its reply post) while our reply was with it: the first frame outside Node is Piscina's. */
function isReplyFailure(cause: unknown): boolean {
  if (replying === undefined || typeof cause !== 'object' || cause === null) return false;
  const frames = String((cause as { stack?: unknown }).stack).split('\n');
  const first = frames.find((line) => line.trimStart().startsWith('at ') && !line.includes('node:internal'));
  return first !== undefined && /[\\/]piscina[\\/]/.test(first);
}

// Errors reported per task (and for those traced to none) in this worker: a
// leftover setInterval that throws must not flood the caller forever.
const REPORT_LIMIT = 10;
const reported = new WeakMap<object, number>();
const untraced = {};

/**
 * An error escaped a task (a callback threw, a promise rejected unhandled).
 * Node would end this worker and with it whatever task runs now, which is
 * seldom the one at fault; instead it goes to the task that started it, in
 * its batch if that still runs, else to the caller on its own.
 */
function escaped(cause: unknown, source: EscapeSource): void {
  try {
    const token = scope.getStore();
    if (token === undefined && isReplyFailure(cause)) return replyFailed(cause);
    const count = (reported.get(token ?? untraced) ?? 0) + 1;
    reported.set(token ?? untraced, count);
    if (count > REPORT_LIMIT) return;
    if (token?.batch.fault(token.offset, cause, source)) return;
    const opts = token?.batch.options;
    const task = token === undefined ? undefined : (opts!.ids?.[token.offset] ?? (opts!.first ?? 0) + token.offset);
    const last = count === REPORT_LIMIT;
    const error = encodeError(new UncaughtTaskError(cause, { source, taskIndex: task, afterReturn: token !== undefined, last }));
    post(token !== undefined && opts!.tag !== undefined ? { __skeinNotice: 'fault', error, tag: opts!.tag, offset: token.offset } : { __skeinNotice: 'fault', error });
  } catch (error) {
    // Never throw from here: that would end the worker after all.
    try {
      post({ __skeinNotice: 'fault', error: encodeError(new UncaughtTaskError(String(cause), { source, afterReturn: false })) });
    } catch {
      process.stderr.write(`skein worker: an error escaped a task and could not be reported: ${String(error)}\n`);
    }
  }
}
process.on('uncaughtException', (error) => escaped(error, 'uncaughtException'));
process.on('unhandledRejection', (reason) => escaped(reason, 'unhandledRejection'));

export default function run(message: WorkerMessage): unknown {
  switch (message.type) {
    case 'release':
      return release(message);
    case 'probe':
      return null;
    case 'batch': {
      const { batch, tag } = message;
      replying = undefined;
      const options = optionsFor(message);
      // Task modules load first: one may register the connector its references need.
      const loading = batch.fns.filter((f) => f.fn.kind === 'module').map((f) => instantiate(f)).filter((f) => f instanceof Promise);
      if (mayHoldReferences(batch)) {
        if (stores === undefined) return loadStores().then(() => run(message));
        // Values evicted since the last batch (a caller's run ended) leave this thread's caches.
        if (batch.refs) stores.pruneRebuiltCaches();
        const { reviveBatch } = stores;
        const revived = loading.length === 0 ? reviveBatch(batch, notePooled) : Promise.allSettled(loading).then(() => reviveBatch(batch, notePooled));
        if (revived instanceof Promise) return revived.then((b) => runBatch(b, options)).then((r) => reply(tag, r));
        const result = runBatch(revived, options);
        return result instanceof Promise ? result.then((r) => reply(tag, r)) : reply(tag, result);
      }
      const ready = loading.length === 0 ? batch : Promise.allSettled(loading).then(() => batch);
      if (ready instanceof Promise) return ready.then((b) => runBatch(b, options)).then((r) => reply(tag, r));
      const result = runBatch(ready, options);
      return result instanceof Promise ? result.then((r) => reply(tag, r)) : reply(tag, result);
    }
  }
}
