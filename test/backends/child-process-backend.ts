/**
 * A third-party backend written against skein's public exports only: each
 * batch goes as data (`batch.wire()`) to a `child_process.fork`, which runs it
 * with `runBatch`; what comes back is decoded with `decodeOutcome`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BatchCancelledError, CANCEL_UNSTARTED, decodeOutcome, WorkerCrashedError } from 'skein';
import type { Backend, Batch, BatchOptions, BatchOutcome, BatchResultWire } from 'skein';

const script = fileURLToPath(new URL('./fixtures/batch-child.mjs', import.meta.url));

type Reply = { id: number; result?: BatchResultWire; failure?: string };

export class ChildProcessBackend implements Backend {
  readonly name = 'child-process';
  readonly concurrency = 1;
  /** Batches whose wire went to the child. */
  sent = 0;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (r: BatchResultWire) => void; reject: (e: unknown) => void }>();
  #nextId = 0;
  #exited: Promise<void>;

  constructor() {
    // 'advanced': structured clone over IPC, what the batch wire is made for.
    this.#child = fork(script, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child.on('message', (message: Reply) => {
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.result !== undefined) pending?.resolve(message.result);
      else pending?.reject(new Error(`The child process failed the batch: ${message.failure}`));
    });
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        for (const [, p] of this.#pending) p.reject(new WorkerCrashedError(undefined, `child exited (${code ?? signal})`, 0));
        this.#pending.clear();
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  async runBatch(batch: Batch, options: BatchOptions): Promise<BatchOutcome> {
    const { signal } = options;
    if (signal.aborted) throw signal.reason === CANCEL_UNSTARTED ? new BatchCancelledError() : signal.reason;
    const id = this.#nextId++;
    const result = await new Promise<BatchResultWire>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ id, batch: batch.wire() });
      this.sent++;
    });
    return decodeOutcome(result);
  }

  async close(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill();
    await this.#exited;
  }
}
