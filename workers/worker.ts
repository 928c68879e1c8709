// A pool worker: receive a batch, run it, hand back plain data. It knows
// nothing of the executor; everything it shares with the caller is in
// src/protocol (message shapes) and src/ship (compile and run).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import type { BatchWire, BatchResultWire, ReleaseWire, WorkerSetupWire } from '../src/protocol/messages.js';
import { runBatch } from '../src/ship/run-batch.js';
import { flagPooledResults, notePooled, prepareResults } from '../src/ship/results.js';
import { reviveReferences } from '../src/store/travel.js';
import { pruneRebuiltCaches } from '../src/store/registry.js';

const setup = workerData as WorkerSetupWire;
const options = { clock: setup.clock, revive: (value: unknown) => reviveReferences(value, notePooled) };
const { resultBytes } = setup;

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
function release(message: ReleaseWire): null {
  pruneRebuiltCaches();
  if (message.bytes >= COLLECT_BYTES) collector()?.();
  return null;
}

function reply(result: BatchResultWire): unknown {
  if (resultBytes === undefined) return result;
  const transfer = prepareResults(result, resultBytes);
  flagPooledResults(result);
  return transfer.length === 0 ? result : move({ [transferableSymbol]: transfer, [valueSymbol]: result });
}

export default function run(message: BatchWire | ReleaseWire): unknown {
  if ('release' in message) return release(message);
  const batch = message;
  // Values evicted since the last batch (a caller's run ended) leave this thread's caches.
  if (batch.refs) pruneRebuiltCaches();
  const result = runBatch(batch, options);
  return result instanceof Promise ? result.then(reply) : reply(result);
}
