/**
 * Model documents as the codecs read and write them: a JSON body of the model schema, its
 * parameter arrays read into float64s as they arrive, each refused at the first number past what
 * MAX_MODEL_WEIGHTS allows; and a model's JSON document, written piece by piece.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { LimitExceededError } from '../errors.js';
import type { ResNetModel } from '../kernels/index.js';
import type { ModelDocument } from '../registry/documents.js';
import { readDocument } from './json/document.js';
import { exactJson } from './json/exact.js';
import { numbersJson, numbersJsonBound } from './json/numbers.js';
import type { ByteSource } from './source.js';

export async function readJsonModel(source: ByteSource, schema: object, maxModelWeights: number, allocate: (length: number) => Float64Array): Promise<ModelDocument> {
  const tooMany = (field: string) => () =>
    new LimitExceededError(field, `${field} holds more than ${maxModelWeights} numbers, more than a model within the limit of ${maxModelWeights} weights (MAX_MODEL_WEIGHTS) has`);
  return readDocument<ModelDocument>(source, schema, {
    allocate,
    limits: (field) => ({ maxOuter: maxModelWeights, maxNumbers: maxModelWeights, tooManyOuter: tooMany(field), tooManyNumbers: tooMany(field) }),
  });
}

/** Numbers written per piece of a streamed model document: a few milliseconds of work each. */
const NUMBERS_PER_PIECE = 64 * 1024;

/**
 * `values` as JSON text in pieces of about NUMBERS_PER_PIECE numbers, each of whole rows of
 * `width` (numbers when 0), grouped by `group` rows (a matrix each) when given; commas between.
 */
function* numberPieces(values: Float64Array, width: number, group = 0): Generator<Buffer> {
  const unit = Math.max(1, width) * Math.max(1, group);
  const per = Math.max(1, Math.floor(NUMBERS_PER_PIECE / unit)) * unit;
  for (let start = 0; start < values.length; start += per) {
    const slice = values.subarray(start, Math.min(values.length, start + per));
    const room = Buffer.allocUnsafe(numbersJsonBound(slice.length, width, group) + 1);
    let written = 0;
    if (start > 0) room[written++] = 0x2c;
    written += numbersJson(slice, room.subarray(written), width, group);
    yield room.subarray(0, written);
  }
}

/**
 * The JSON document of a model, piece by piece: the members of `head`, then W, b, w and mu, the
 * text exactJson would write for the same object, every float64 exactly. Each piece is written
 * when the reader asks for it, in a turn of the event loop of its own, so that a model of
 * millions of weights goes out without holding the event loop or its whole text in memory.
 */
export async function* modelDocumentPieces(head: Readonly<Record<string, unknown>>, model: ResNetModel): AsyncGenerator<Buffer> {
  const { layers, dim } = model;
  const pieces = function* (): Generator<Buffer> {
    yield Buffer.from(`${exactJson(head).slice(0, -1)},"W":[`);
    if (dim * dim <= NUMBERS_PER_PIECE) yield* numberPieces(model.W, dim, dim);
    else {
      // A matrix larger than a piece goes out a few rows at a time, in brackets of its own.
      for (let k = 0; k < layers; k++) {
        yield Buffer.from(k === 0 ? '[' : ',[');
        yield* numberPieces(model.W.subarray(k * dim * dim, (k + 1) * dim * dim), dim);
        yield Buffer.from(']');
      }
    }
    yield Buffer.from('],"b":[');
    yield* numberPieces(model.b, dim);
    yield Buffer.from('],"w":[');
    yield* numberPieces(model.w, 0);
    yield Buffer.from(`],"mu":${exactJson(model.mu)}}`);
  };
  for (const piece of pieces()) {
    yield piece;
    // A reader that asks for many pieces at once still lets other work run between them.
    await nextTurn();
  }
}
