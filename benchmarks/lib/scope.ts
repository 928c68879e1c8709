/** One benchmark scope: a named set of measurements, all ratios against a baseline run in the same process. */
export interface Scope {
  readonly name: string;
  readonly description: string;
  run(ctx: ScopeContext): Promise<ScopeResult>;
}

export interface ScopeContext {
  /** Fewer repeats and smaller sizes, for a smoke run. */
  readonly quick: boolean;
  log(line: string): void;
}

export interface ScopeResult {
  /** Markdown-ready table: header names and rows of cells. */
  readonly table: { columns: string[]; rows: (string | number)[][] };
  /** Sizes and parameters used, printed with the results. */
  readonly parameters: Record<string, unknown>;
  /** Raw measurements for the JSON report. */
  readonly data: unknown;
  /** Targets checked in this run: a line each, e.g. `records serialize 2.9x vs v8 (target >= 2.5x): met`. */
  readonly targets?: string[];
  /** Paths (relative to benchmarks/) of charts this scope rendered. */
  readonly charts?: string[];
}
