/**
 * JSON text of results, written as bytes by numbersJson (the kernels' formatter): the values as
 * array items (`x0,x1,…`) and the gradients as rows (`[g0,g1],[g0,g1],…`), without enclosing
 * brackets. A batch gets room for the most its text may take; on the pool, each slice writes its
 * part of that room, and the batch's text is the slices' pieces, in order, joined with commas.
 */
import { numbersJson, numbersJsonBound } from '../kernels/index.js';

export interface JsonText<Bytes> {
  readonly values: Bytes;
  readonly gradients: Bytes | null;
}

/** Room for the JSON text of n points' results: the most numbersJson may write. */
export function textRoomFor(n: number, d0: number, withGradient: boolean, allocate: (length: number) => Float64Array): JsonText<Uint8Array> {
  const bytes = (length: number) => {
    const room = allocate(Math.ceil(length / 8));
    return new Uint8Array(room.buffer, room.byteOffset, length);
  };
  return { values: bytes(numbersJsonBound(n, 0)), gradients: withGradient ? bytes(numbersJsonBound(n * d0, d0)) : null };
}

/** The part of a batch's room (textRoomFor) that belongs to points [from, to). */
export function textRoom(room: JsonText<Uint8Array>, d0: number, from: number, to: number): JsonText<Uint8Array> {
  const value = numbersJsonBound(1, 0);
  const row = numbersJsonBound(d0, d0);
  return { values: room.values.subarray(from * value, to * value), gradients: room.gradients?.subarray(from * row, to * row) ?? null };
}

/** Writes finite results into their room; the text is one piece each, a view of the room. */
export function writeJsonText(values: Float64Array, gradients: Float64Array | null, d0: number, room: JsonText<Uint8Array>): JsonText<Uint8Array[]> {
  return {
    values: [room.values.subarray(0, numbersJson(values, 0, room.values))],
    gradients: gradients && room.gradients ? [room.gradients.subarray(0, numbersJson(gradients, d0, room.gradients))] : null,
  };
}
