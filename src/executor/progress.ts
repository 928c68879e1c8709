import cliProgress from 'cli-progress';
import { onExit } from 'signal-exit';
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

const KNOWN = 'skein |{bar}| {value}/{total} tasks | {duration_formatted} elapsed | eta {eta_formatted}';
const UNKNOWN = 'skein |{bar}| {value} tasks | {duration_formatted} elapsed';
const BLOCK = 4;

/** Until the number of tasks is known: a block sliding back and forth, never a bar that claims to be full. */
const slidingBar: cliProgress.BarFormatter = (_, options) => {
  const size = options.barsize ?? 40;
  const span = Math.max(1, size - BLOCK);
  const step = Math.floor(Date.now() / 100) % (2 * span);
  const at = step < span ? step : 2 * span - step;
  const full = options.barCompleteChar ?? '=';
  const empty = options.barIncompleteChar ?? '-';
  return empty.repeat(at) + full.repeat(BLOCK) + empty.repeat(size - BLOCK - at);
};

const formatBar: cliProgress.GenericFormatter = (options, params, payload: { known?: boolean }) =>
  payload.known === true
    ? cliProgress.Format.Formatter({ ...options, format: KNOWN }, params, payload)
    : cliProgress.Format.Formatter({ ...options, format: UNKNOWN, formatBar: slidingBar }, params, payload);

/** Progress of one run: verbose lines on stderr, a TTY bar, and/or a callback. */
export class Progress implements ProgressSink {
  readonly #started = performance.now();
  readonly #verbose: number;
  readonly #prefix: string;
  readonly #callback: ProgressCallback | undefined;
  // A MultiBar of one: only it can print lines above its bar (log) without writing over it.
  #bars: cliProgress.MultiBar | undefined;
  #bar: cliProgress.SingleBar | undefined;
  #known = false;
  /** Shows the cursor again if the process ends (Ctrl-C, an exit, an uncaught error) while the bar hides it. */
  #restoreOnExit: (() => void) | undefined;
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
    if (this.#verbose > 0) {
      this.#write(`${this.#prefix}Using backend ${options.backendName} with ${options.nJobs} concurrent worker${options.nJobs === 1 ? '' : 's'}.`);
    }
    if (options.progress === true && process.stderr.isTTY) {
      this.#bars = new cliProgress.MultiBar({ stream: process.stderr, format: formatBar, hideCursor: true }, cliProgress.Presets.shades_classic);
      // signal-exit, not cli-progress's gracefulExit: a SIGINT listener of its own would keep Ctrl-C from ending the process.
      this.#restoreOnExit = onExit(() => {
        // Cursor shown and line wrapping back on (the bar turns both off), below the bar.
        process.stderr.write('\x1b[?25h\x1b[?7h\n');
      });
      this.#bar = this.#bars.create(0, 0, { known: false });
    }
  }

  /** A verbose line: above the bar while there is one, so the bar is redrawn below it rather than written over. */
  #line(line: string): void {
    if (this.#bars === undefined) {
      this.#write(line);
      return;
    }
    this.#bars.log(`${line}\n`);
    this.#bars.update();
  }

  get elapsedMs(): number {
    return performance.now() - this.#started;
  }

  update(done: number, total: number | undefined): void {
    const elapsedMs = this.elapsedMs;
    this.#callback?.({ done, total, elapsedMs });
    if (this.#bar) {
      if (total !== undefined && !this.#known) {
        this.#known = true;
        this.#bar.update({ known: true });
      }
      if (total !== undefined) this.#bar.setTotal(total);
      this.#bar.update(done);
    }
    if (this.#verbose > 0) {
      let report = false;
      for (let i = this.#lastReported; i < done && !report; i++) report = shouldReport(i, this.#verbose);
      this.#lastReported = done;
      if (report && done !== total) {
        const count = String(done).padStart(3);
        if (total === undefined) {
          this.#line(`${this.#prefix}Done ${count} tasks      | elapsed: ${formatTime(elapsedMs)}`);
        } else {
          const remaining = (elapsedMs / done) * (total - done);
          this.#line(`${this.#prefix}Done ${count} out of ${String(total).padStart(3)} | elapsed: ${formatTime(elapsedMs)} remaining: ${formatTime(remaining)}`);
        }
      }
    }
  }

  finish(done: number, total: number | undefined, failed: boolean, offloader?: { readonly report: OffloadReport }): void {
    if (this.#bars !== undefined && this.#bar !== undefined) {
      // The last frame is a count, never the sliding block.
      if (!this.#known) this.#bar.update({ known: true });
      this.#bar.setTotal(total ?? done);
      this.#bar.update(done);
      this.#bars.stop();
      this.#restoreOnExit?.();
    }
    this.#bars = undefined;
    this.#bar = undefined;
    this.#restoreOnExit = undefined;
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
