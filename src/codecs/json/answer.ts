/**
 * JSON answers of operations: a head of plain members (the model's id, say), then each output of
 * the operation under its name, as numbers, rows of numbers, or a matrix per point, by the
 * output's shape. A few points are written as a string; more are written as bytes by numbersJson,
 * on the pool's threads when the batch ran there, and the answer is the pieces, never joined.
 */
import type { Result } from '../../compute/executor.js';
import type { Pool } from '../../compute/pool.js';
import { siblingModule } from '../../compute/pool.js';
import { outputSize } from '../../compute/operations.js';
import { exactJson, nestedJson } from './exact.js';
import { numbersJsonBound } from './numbers.js';
import { writeTextSlice, type TextSlice } from './text-slices.js';

/** From this many points an answer's numbers are written as bytes (numbersJson): cheaper past a few. */
export const TEXT_POINTS = 64;

const textSlices = siblingModule(import.meta.url, 'text-slices');

export interface AnswerOptions {
  /** Memory for the text (from the request's recycled memory, shared when the pool writes it). */
  readonly allocate: (length: number) => Float64Array;
  /** Writes large answers of batches that ran on the pool; null writes them here. */
  readonly pool: Pool | null;
}

/** rows and groups for an output's per-point shape: [] numbers, [w] rows, [g, w] groups of rows. */
const layout = (shape: readonly number[]): { width: number; group: number } =>
  shape.length === 0 ? { width: 0, group: 0 } : shape.length === 1 ? { width: shape[0], group: 0 } : { width: shape[1], group: shape[0] };

/** `{"a":…,"b":…` (no closing brace): the members of the answer before its outputs. */
function headText(head: Readonly<Record<string, unknown>>): string {
  let text = '{';
  for (const key of Object.keys(head)) {
    const value = head[key];
    if (value === undefined) continue;
    text += `${text.length > 1 ? ',' : ''}${JSON.stringify(key)}:${typeof value === 'string' ? JSON.stringify(value) : exactJson(value)}`;
  }
  return text;
}

/** The answer as one string: for a few points. */
function answerString(head: Readonly<Record<string, unknown>>, result: Result): string {
  let text = headText(head);
  const { outputs, model } = result;
  const kinds = result.operation.outputs;
  for (let o = 0; o < kinds.length; o++) {
    const { width, group } = layout(kinds[o].shape(model));
    text += `${text.length > 1 ? ',"' : '"'}${kinds[o].name}":${nestedJson(outputs[o], width, group)}`;
  }
  return `${text}}`;
}

/** Room for n bytes in memory from `allocate`. */
const bytesFrom = (allocate: (length: number) => Float64Array, n: number): Uint8Array => {
  const room = allocate(Math.ceil(n / 8));
  return new Uint8Array(room.buffer, room.byteOffset, n);
};

const COMMA = Buffer.from(',');

/**
 * The JSON answer for `result`, with `head` first: for a few points a string, at once; else the
 * pieces of bytes to send one after another, once they are written.
 */
export function writeJsonAnswer(head: Readonly<Record<string, unknown>>, result: Result, options: AnswerOptions): string | Promise<Buffer[]> {
  return result.count < TEXT_POINTS ? answerString(head, result) : answerPieces(head, result, options);
}

async function answerPieces(head: Readonly<Record<string, unknown>>, result: Result, { allocate, pool }: AnswerOptions): Promise<Buffer[]> {
  const { count, model, operation } = result;
  const pieces: Buffer[] = [];
  let opening = headText(head);
  const writes: Promise<void>[] = [];
  operation.outputs.forEach((output, o) => {
    const values = result.outputs[o];
    const { width, group } = layout(output.shape(model));
    pieces.push(Buffer.from(`${opening}${o > 0 || opening.length > 1 ? ',' : ''}${JSON.stringify(output.name)}:[`));
    opening = '';
    const perPoint = outputSize(output, model);
    const threads = result.pooled && pool !== null ? pool.threads : 1;
    const slices = Math.min(threads, count);
    const at = pieces.length;
    for (let s = 0; s < slices; s++) {
      const from = Math.floor((count * s) / slices);
      const to = Math.floor((count * (s + 1)) / slices);
      const slice: TextSlice = { values: values.subarray(from * perPoint, to * perPoint), room: bytesFrom(allocate, numbersJsonBound((to - from) * perPoint, width, group)), width, group };
      pieces.push(COMMA, COMMA);
      const index = at + 2 * s;
      const write = (written: number) => {
        pieces[index] = s === 0 ? Buffer.alloc(0) : COMMA;
        pieces[index + 1] = Buffer.from(slice.room.buffer, slice.room.byteOffset, written);
      };
      if (threads > 1) writes.push(pool!.call<number>(textSlices, 'writeTextSlice', slice).then(write));
      else write(writeTextSlice(slice));
    }
    pieces.push(Buffer.from(']'));
  });
  pieces.push(Buffer.from('}'));
  await Promise.all(writes);
  return pieces.filter((piece) => piece.length > 0);
}
