/**
 * Stack frames of shipped code name the file the worker compiled
 * (`skein-task:///parseRecord-adf6a025.js:3:65`); a person wants the file and
 * line they wrote. The caller remembers, for each file it ships, where each
 * function's source sits in it, and when an error comes back rewrites those
 * frames through the function's own location (task/inspect.ts), looked up
 * only then, once per function. Nothing is added per task.
 */
import { LRUCache } from 'lru-cache';
import { setStackMapper } from '../core/error-wire.js';
import { position, type FunctionSource } from './analyze.js';
import { functionOrigin, originalPosition } from './inspect.js';

/** A function's source inside a shipped body. */
interface Piece {
  readonly fn: WeakRef<Function>;
  /** Offset of the source text in the body. */
  readonly offset: number;
  readonly source: string;
  readonly anchor: FunctionSource['anchor'];
}

interface ShippedFile {
  readonly body: string;
  readonly pieces: readonly Piece[];
}

const files = new LRUCache<string, ShippedFile>({ max: 2048 });

/** The file name a shipped body declares with `//# sourceURL`. */
export function shippedFileName(name: string, id: string): string {
  const safe = name.replace(/[^\w$.-]/g, '_') || 'anonymous';
  return `${safe}-${id.slice(0, 8)}.js`;
}

/** Notes where the sources of `pieces` sit in `body`, shipped as `file`. */
export function noteShippedFile(file: string, body: string, pieces: readonly { fn: Function; source: string; at: number; anchor: FunctionSource['anchor'] }[]): void {
  files.set(file, { body, pieces: pieces.map((p) => ({ fn: new WeakRef(p.fn), offset: p.at, source: p.source, anchor: p.anchor })) });
}

/**
 * A function whose wire was made for an equal one before: if that one is
 * gone, this one now stands for the file. A lookup per call, no more.
 */
export function keepShippedFile(name: string, id: string, fn: Function): void {
  const file = files.get(shippedFileName(name, id));
  const only = file?.pieces.length === 1 ? file.pieces[0]! : undefined;
  if (only !== undefined && only.fn.deref() === undefined) files.set(shippedFileName(name, id), { body: file!.body, pieces: [{ ...only, fn: new WeakRef(fn) }] });
}

// `new Function` puts two lines before the body: `(function anonymous(params` and `) {`.
const HEADER_LINES = 2;
const FRAME = /skein-task:\/\/\/([^\s:()]+\.js):(\d+):(\d+)/g;

/** `file:line:column` (from 1) of where a frame of a shipped file was written, or undefined. */
function mapFrame(name: string, line: number, column: number): string | undefined {
  const file = files.get(name);
  if (file === undefined) return undefined;
  const bodyLine = line - 1 - HEADER_LINES;
  const bodyColumn = column - 1;
  for (const piece of file.pieces) {
    const start = position(file.body, piece.offset);
    const lines = position(piece.source, piece.source.length).line + 1;
    if (bodyLine < start.line || bodyLine >= start.line + lines || (bodyLine === start.line && bodyColumn < start.column)) continue;
    const fn = piece.fn.deref();
    const origin = fn === undefined ? undefined : functionOrigin(fn);
    if (origin === undefined) return undefined;
    const inLine = bodyLine - start.line;
    const inColumn = inLine === 0 ? bodyColumn - start.column : bodyColumn;
    // Lines after the first are copied whole, so their columns hold; the first starts where the function does.
    const firstColumn = piece.anchor.line === 0 ? origin.column - piece.anchor.column : 0;
    const at = originalPosition(origin, origin.line - piece.anchor.line + inLine, inLine === 0 ? firstColumn + inColumn : inColumn);
    return `${at.url}:${at.line + 1}:${at.column + 1}`;
  }
  return undefined;
}

/** `stack` with the frames of shipped code pointing where that code was written. */
export function mapShippedFrames(stack: string): string {
  if (!stack.includes('skein-task:///')) return stack;
  return stack.replace(FRAME, (whole, name: string, line: string, column: string) => mapFrame(name, Number(line), Number(column)) ?? whole);
}

setStackMapper(mapShippedFrames);
