/**
 * joblib's auto batching: grow batches of tiny tasks until one batch takes
 * long enough (0.2 s) to hide the cost of a message, at most doubling per
 * step; shrink batches that run over 2 s, so that no worker is left with a
 * straggler while the others idle.
 */
export const MIN_IDEAL_BATCH_MS = 200;
export const MAX_IDEAL_BATCH_MS = 2000;

export class AutoBatchSize {
  #size = 1;
  #smoothedMs = 0;

  get size(): number {
    return this.#size;
  }

  /** Feeds the measured duration of a completed batch of `size` tasks. */
  record(size: number, durationMs: number): void {
    // Only batches of the current size tell us about it; older ones are stale.
    if (size !== this.#size) return;
    this.#smoothedMs = this.#smoothedMs === 0 ? durationMs : 0.8 * this.#smoothedMs + 0.2 * durationMs;
    const old = this.#size;
    const ms = this.#smoothedMs;
    let next = old;
    if (ms < MIN_IDEAL_BATCH_MS) {
      // Doubling the ideal size keeps the estimate from oscillating around the minimum.
      const ideal = ms > 0 ? Math.floor((old * MIN_IDEAL_BATCH_MS) / ms) * 2 : 2 * old;
      next = Math.max(1, Math.min(2 * old, ideal));
    } else if (ms > MAX_IDEAL_BATCH_MS && old >= 2) {
      next = Math.max(1, 2 * Math.floor((old * MIN_IDEAL_BATCH_MS) / ms));
    }
    if (next !== old) {
      this.#size = next;
      this.#smoothedMs = 0;
    }
  }
}

/**
 * Splits a slice of `count` ready tasks into batch sizes. Near the end of the
 * input batches get smaller, so the last ones finish together (joblib's rule).
 */
export function splitSize(count: number, nJobs: number, reachedEnd: boolean): number {
  return Math.max(1, Math.floor(count / (reachedEnd ? 10 * nJobs : nJobs)));
}
