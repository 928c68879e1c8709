import cliProgress from 'cli-progress';
import type { ProgressCallback } from './options.js';
import { formatBytes, type OffloadReport } from '../store/offload.js';

function formatTime(ms: number): string {
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1).padStart(6)}s` : `${(s / 60).toFixed(1).padStart(4)}min`;
}

/**
 * joblib's verbosity filter: at levels below 10 only some task counts are
 * reported, spaced further apart as the count grows and as `verbose` falls.
 */
function shouldReport(index: number, verbose: number): boolean {
  if (verbose >= 10) return true;
  if (index === 0) return true;
  const spacing = 0.5 * (11 - verbose) ** 2;
  return Math.floor(Math.sqrt((index + 1) / spacing)) !== Math.floor(Math.sqrt(index / spacing));
}

export interface ProgressSink {
  update(done: number, total: number | undefined): void;
  finish(done: number, total: number | undefined, failed: boolean, offloaded?: { readonly report: OffloadReport }): void;
}

/** Progress of one run: verbose lines on stderr, a TTY bar, and/or a callback. */
export class Progress implements ProgressSink {
  readonly #started = performance.now();
  readonly #verbose: number;
  readonly #prefix: string;
  readonly #callback: ProgressCallback | undefined;
  #bar: cliProgress.SingleBar | undefined;
  #lastReported = 0;
  readonly #write: (line: string) => void;

  constructor(options: {
    verbose: number;
    progress: boolean | ProgressCallback;
    nJobs: number;
    backendName: string;
    write?: (line: string) => void;
  }) {
    this.#verbose = options.verbose;
    this.#prefix = `[Parallel(nJobs=${options.nJobs})]: `;
    this.#callback = typeof options.progress === 'function' ? options.progress : undefined;
    this.#write = options.write ?? ((line) => process.stderr.write(`${line}\n`));
    if (options.progress === true && process.stderr.isTTY) {
      this.#bar = new cliProgress.SingleBar(
        { stream: process.stderr, format: 'skein |{bar}| {value}/{total} tasks | {duration_formatted} elapsed | eta {eta_formatted}', hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      this.#bar.start(0, 0);
    }
    if (this.#verbose > 0) {
      this.#write(`${this.#prefix}Using backend ${options.backendName} with ${options.nJobs} concurrent worker${options.nJobs === 1 ? '' : 's'}.`);
    }
  }

  get elapsedMs(): number {
    return performance.now() - this.#started;
  }

  update(done: number, total: number | undefined): void {
    const elapsedMs = this.elapsedMs;
    this.#callback?.({ done, total, elapsedMs });
    if (this.#bar) {
      this.#bar.setTotal(total ?? Math.max(done, 1));
      this.#bar.update(done);
    }
    if (this.#verbose > 0) {
      let report = false;
      for (let i = this.#lastReported; i < done && !report; i++) report = shouldReport(i, this.#verbose);
      this.#lastReported = done;
      if (report && done !== total) {
        const count = String(done).padStart(3);
        if (total === undefined) {
          this.#write(`${this.#prefix}Done ${count} tasks      | elapsed: ${formatTime(elapsedMs)}`);
        } else {
          const remaining = (elapsedMs / done) * (total - done);
          this.#write(`${this.#prefix}Done ${count} out of ${String(total).padStart(3)} | elapsed: ${formatTime(elapsedMs)} remaining: ${formatTime(remaining)}`);
        }
      }
    }
  }

  finish(done: number, total: number | undefined, failed: boolean, offloader?: { readonly report: OffloadReport }): void {
    this.#bar?.stop();
    this.#bar = undefined;
    const offloaded = this.#verbose >= 10 ? offloader?.report : undefined;
    if (offloaded !== undefined && offloaded.values > 0) {
      this.#write(
        `${this.#prefix}Offloaded ${offloaded.values} large value${offloaded.values === 1 ? '' : 's'} (${formatBytes(offloaded.bytes)}) to store ${offloaded.store}; tasks received them by reference`,
      );
    }
    if (this.#verbose > 0) {
      const count = String(done).padStart(3);
      const of = String(total ?? done).padStart(3);
      this.#write(`${this.#prefix}Done ${count} out of ${of} | elapsed: ${formatTime(this.elapsedMs)} ${failed ? 'failed' : 'finished'}`);
    }
  }
}
