/**
 * JSON answers of operations: a head of plain members (the model's id, say), then each output of
 * the operation under its name, as numbers, rows of numbers, or a matrix per point, by the
 * output's shape. A few points are written as a string; more are written as bytes by numbersJson
 * and the answer is the pieces, never joined. When a batch runs on the pool, each thread writes
 * its slice's share of the text as soon as it has computed it (a slice follow-up), while the
 * numbers are still in its cache; the pieces are then put together in the order of the points.
 */
import type { FollowedUp, Result } from '../../compute/executor.js';
import { siblingModule } from '../../compute/pool.js';
import { outputSize, type Operation } from '../../compute/operations.js';
import type { SliceFollowUp } from '../../compute/slices.js';
import type { ResNetModel } from '../../kernels/index.js';
import { exactJson, nestedJson } from './exact.js';
import { numbersJsonBound } from './numbers.js';
import { writeSliceText, type SliceText, type TextLayout } from './text-slices.js';

/** From this many points an answer's numbers are written as bytes (numbersJson): cheaper past a few. */
export const TEXT_POINTS = 64;

const textSlices = siblingModule(import.meta.url, 'text-slices');

/** rows and groups for an output's per-point shape: [] numbers, [w] rows, [g, w] groups of rows. */
const layout = (shape: readonly number[]): TextLayout =>
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

/** The answer as one string: for a few points (fewer than TEXT_POINTS). */
export function answerString(head: Readonly<Record<string, unknown>>, result: Result): string {
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
const EMPTY = Buffer.alloc(0);

/** Memory for an answer's text: `shared` for what the pool's threads write, `local` for what is written here. */
export interface TextMemory {
  readonly shared: (length: number) => Float64Array;
  readonly local: (length: number) => Float64Array;
}

/** The rooms for the text of `count` points' outputs, one per output, and their layouts. */
function sliceText(operation: Operation, model: ResNetModel, count: number, allocate: (length: number) => Float64Array): SliceText {
  const layouts = operation.outputs.map((output) => layout(output.shape(model)));
  const rooms = operation.outputs.map((output, o) => bytesFrom(allocate, numbersJsonBound(count * outputSize(output, model), layouts[o].width, layouts[o].group)));
  return { rooms, layouts };
}

/**
 * The JSON answer of one run of `operation`: give `followUp` to the run's context, so that the
 * pool's threads write the text of the slices they compute, then `write` the answer.
 */
export class JsonAnswer {
  /** The text rooms of the slices given to the pool, by their first point. */
  private rooms: Map<number, readonly Uint8Array[]> | null = null;

  constructor(
    private readonly operation: Operation,
    private readonly memory: TextMemory,
  ) {}

  /**
   * The follow-up of the slice of points [from, to) of n: it writes the slice's text into rooms of
   * its own; none when the answer will be a string.
   */
  readonly followUp = (model: ResNetModel, n: number, from: number, to: number): SliceFollowUp | undefined => {
    if (n < TEXT_POINTS) return undefined;
    const argument = sliceText(this.operation, model, to - from, this.memory.shared);
    (this.rooms ??= new Map()).set(from, argument.rooms);
    return { module: textSlices, name: 'writeSliceText', argument };
  };

  /** The answer for `result`, with `head` first: a string for a few points, else the pieces of bytes to send one after another. */
  write(head: Readonly<Record<string, unknown>>, result: Result): string | Buffer[] {
    if (result.count < TEXT_POINTS) return answerString(head, result);
    const { model, operation } = result;
    const written = this.writtenByThreads(result.followUps) ?? this.writeHere(result);
    const pieces: Buffer[] = [];
    let opening = headText(head);
    operation.outputs.forEach((output, o) => {
      pieces.push(Buffer.from(`${opening}${o > 0 || opening.length > 1 ? ',' : ''}${JSON.stringify(output.name)}:[`));
      opening = '';
      written.forEach((slice, s) => {
        if (s > 0) pieces.push(COMMA);
        pieces.push(slice[o]);
      });
      pieces.push(Buffer.from(']'));
    });
    pieces.push(Buffer.from('}'));
    return pieces.filter((piece) => piece.length > 0);
  }

  /** The slices' text as the threads wrote it, in the order of the points; null when they wrote none. */
  private writtenByThreads(followUps: readonly FollowedUp[] | null): Buffer[][] | null {
    const rooms = this.rooms;
    if (followUps === null || rooms === null) return null;
    return followUps.map(({ from, value }) => {
      const lengths = value as readonly number[];
      return rooms.get(from)!.map((room, o) => (lengths[o] === 0 ? EMPTY : Buffer.from(room.buffer, room.byteOffset, lengths[o])));
    });
  }

  /** The text of the whole batch, written here: one slice. */
  private writeHere({ operation, model, count, outputs }: Result): Buffer[][] {
    const text = sliceText(operation, model, count, this.memory.local);
    const lengths = writeSliceText(text, outputs);
    return [text.rooms.map((room, o) => Buffer.from(room.buffer, room.byteOffset, lengths[o]))];
  }
}
