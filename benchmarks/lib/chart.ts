/**
 * Charts for benchmark scopes: vega-lite specs rendered to SVG headlessly
 * (vega's `renderer: 'none'` view), so results/ holds real drawings, not ASCII.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

/** Compiles a vega-lite spec, renders it to SVG and writes `outPath` (directories created). */
export async function renderChart(spec: TopLevelSpec, outPath: string): Promise<void> {
  const { spec: compiled } = vegaLite.compile(spec);
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    await mkdir(path.dirname(outPath), { recursive: true });
    await writeFile(outPath, svg);
  } finally {
    view.finalize();
  }
}

export interface SeriesChartOptions {
  readonly title: string;
  /** One object per point; fields named by `x`, `y`, `series` (and optionally `facet`). */
  readonly data: readonly Record<string, unknown>[];
  readonly x: { field: string; title: string; log?: boolean; ordinal?: boolean; sort?: readonly string[] };
  readonly y: { field: string; title: string; log?: boolean };
  /** Colour: one line / bar group per value. */
  readonly series: { field: string; title: string };
  /** Small multiples: one panel per value of this field. */
  readonly facet?: { field: string; columns?: number; sort?: readonly string[] };
  readonly mark?: 'line' | 'bar';
  readonly width?: number;
  readonly height?: number;
  /** Horizontal reference line at this y value (e.g. a ratio of 1). */
  readonly rule?: number;
}

/**
 * Lines (or grouped bars) of y against x, coloured by series, optionally one
 * panel per facet value; log scales for sizes and times spanning decades.
 *
 * @example
 * await seriesChart({ title: 'serialize time', data: rows, x: { field: 'size', title: 'bytes', log: true },
 *   y: { field: 'ms', title: 'ms', log: true }, series: { field: 'method', title: 'method' } }, 'results/x.svg');
 */
export async function seriesChart(options: SeriesChartOptions, outPath: string): Promise<void> {
  const mark = options.mark ?? 'line';
  const xType = options.x.ordinal || mark === 'bar' ? 'ordinal' : 'quantitative';
  const encoding: Record<string, unknown> = {
    x: {
      field: options.x.field,
      type: xType,
      title: options.x.title,
      ...(xType === 'quantitative' && options.x.log ? { scale: { type: 'log' } } : {}),
      ...(options.x.sort ? { sort: options.x.sort } : {}),
    },
    y: { field: options.y.field, type: 'quantitative', title: options.y.title, ...(options.y.log ? { scale: { type: 'log' } } : {}) },
    color: { field: options.series.field, type: 'nominal', title: options.series.title, legend: { labelLimit: 360 } },
    tooltip: [{ field: options.series.field }, { field: options.x.field }, { field: options.y.field }],
  };
  if (mark === 'bar') encoding['xOffset'] = { field: options.series.field };
  const layer: unknown[] = [{ mark: mark === 'line' ? { type: 'line', point: true } : { type: 'bar' }, encoding }];
  if (options.rule !== undefined) {
    layer.push({ data: { values: [{ rule: options.rule }] }, mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' }, encoding: { y: { field: 'rule', type: 'quantitative' } } });
  }
  const inner = { width: options.width ?? 260, height: options.height ?? 180, layer };
  const spec = (
    options.facet
      ? {
          $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
          title: options.title,
          data: { values: options.data },
          facet: { field: options.facet.field, type: 'nominal', title: null, ...(options.facet.sort ? { sort: options.facet.sort } : {}) },
          columns: options.facet.columns ?? 3,
          spec: inner,
          resolve: { scale: { y: 'independent' } },
        }
      : { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title: options.title, data: { values: options.data }, ...inner }
  ) as TopLevelSpec;
  await renderChart(spec, outPath);
}
