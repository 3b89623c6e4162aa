/**
 * Compute requests as the codecs read them, and their answers: a model reference and the
 * per-point inputs an operation takes (points, vectors), from a JSON body or raw float64s; the
 * answer as JSON or raw float64s. The executor gets the inputs, never the formats.
 */
import type { Result } from '../compute/executor.js';
import type { Operation } from '../compute/operations.js';
import { tooManyPoints, type IncomingPoints, type PointSet, type PointsInput } from '../compute/points.js';
import { LimitExceededError, MalformedPointsError } from '../errors.js';
import type { ModelRef } from '../registry/registry.js';
import { readDocument } from './json/document.js';
import type { NumericArray } from './json/numbers.js';
import { andThen, type ByteSource } from './source.js';

export const BINARY_MEDIA_TYPE = 'application/octet-stream';

export interface ComputeRequest {
  readonly model: ModelRef;
  readonly inputs: Readonly<Record<string, PointsInput>>;
}

export interface ComputeLimits {
  readonly maxPoints: number;
  /** The widest inputDim of any model now registered: no point may have more coordinates. */
  readonly widestInput: () => number;
}

/** A nested array of numbers read from JSON, as the points of a request. */
export function pointSetOf(name: string, array: NumericArray): PointSet {
  const [outer, inner] = array.depths;
  const other = inner?.other ?? null;
  return {
    kind: 'set',
    name,
    count: outer.first,
    data: array.numbers,
    width: inner === undefined || inner.first < 0 ? 0 : inner.first,
    irregular: other === null ? null : { index: other.path[0], length: other.length },
    finite: true,
  };
}

/** More points than an operation's own limit (Operation.maxPoints) allows. */
const tooManyFor = (operation: Operation, field: string) =>
  new LimitExceededError(field, `${field} has more than ${operation.maxPoints} points, the most /${operation.name} takes`);

/**
 * A JSON compute body of the given schema (a `modelId` and one nested array per input of the
 * operation), at once when it is small and already here (see readDocument). The points are read
 * into memory from `allocate` as they arrive, refused at the first point past MAX_POINTS, or
 * number past what the widest model could take.
 */
export function readJsonCompute(
  source: ByteSource,
  schema: object,
  operation: Operation,
  limits: ComputeLimits,
  allocate: (length: number) => Float64Array,
): ComputeRequest | Promise<ComputeRequest> {
  const maxPoints = Math.min(limits.maxPoints, operation.maxPoints ?? Number.POSITIVE_INFINITY);
  const document = readDocument<{ modelId: string; modelVersion?: number } & Record<string, NumericArray>>(source, schema, {
    allocate,
    limits: (field) => {
      const widest = limits.widestInput();
      return {
        maxOuter: maxPoints,
        maxNumbers: maxPoints * widest,
        tooManyOuter: () => (operation.maxPoints !== undefined ? tooManyFor(operation, field) : tooManyPoints(field, maxPoints)),
        tooManyNumbers: () =>
          new LimitExceededError(field, `${field} holds more than ${maxPoints * widest} numbers: more than ${maxPoints} points (MAX_POINTS) of the widest model registered (inputDim ${widest}) can have`),
      };
    },
  });
  return andThen(document, (read) => {
    const inputs: Record<string, PointsInput> = {};
    for (const name of operation.inputs) {
      inputs[name] = pointSetOf(name, read[name]);
      // A body parsed whole was not counted as it was read.
      if (operation.maxPoints !== undefined && read[name].depths[0].first > operation.maxPoints) throw tooManyFor(operation, name);
    }
    return { model: read.modelVersion === undefined ? { id: read.modelId } : { id: read.modelId, version: read.modelVersion }, inputs };
  });
}

/**
 * Raw little-endian float64s, point-major, as the points of a request, with the model named
 * apart (the query string). A body whose length is declared is handed over still arriving, so
 * that a large batch computes as it comes in; any other is gathered first.
 */
export async function readBinaryCompute(
  source: ByteSource,
  model: ModelRef,
  allocateBytes: (length: number) => Uint8Array,
  names: readonly string[] = ['points'],
): Promise<ComputeRequest> {
  if (names.length === 1) {
    const points = source.declaredLength !== null ? incoming(source, source.declaredLength) : await gathered(source, allocateBytes);
    return { model, inputs: { points } };
  }
  // Several inputs (points, then vectors): the body is read whole and cut into equal parts, one per input.
  const whole = await gathered(source, allocateBytes);
  const bytes = new Uint8Array(whole.byteLength);
  await whole.fill(bytes, () => {});
  if (bytes.length % (8 * names.length) !== 0) {
    throw new MalformedPointsError(`the body holds ${bytes.length} bytes; ${names.join(' and ')} need ${names.length} equal parts of whole float64s, one after another`);
  }
  const part = bytes.length / names.length;
  const inputs: Record<string, PointsInput> = {};
  names.forEach((name, i) => {
    const slice = bytes.subarray(i * part, (i + 1) * part);
    inputs[name] = {
      kind: 'incoming',
      name,
      part: `the body's ${name} (part ${i + 1} of ${names.length})`,
      byteLength: part,
      async fill(into, arrived) {
        into.set(slice);
        arrived(part);
      },
    };
  });
  return { model, inputs };
}

function incoming(source: ByteSource, byteLength: number): IncomingPoints {
  return {
    kind: 'incoming',
    name: 'points',
    byteLength,
    async fill(into, arrived) {
      let received = 0;
      await source.read((chunk) => {
        if (received + chunk.length > into.length) throw new MalformedPointsError('the body is longer than its Content-Length');
        into.set(chunk, received);
        received += chunk.length;
        arrived(received);
      });
      if (received !== into.length) throw new MalformedPointsError('the body is shorter than its Content-Length');
    },
  };
}

/** A body of unknown length (chunked, or inflated from gzip), read whole, growing by doubling. */
async function gathered(source: ByteSource, allocateBytes: (length: number) => Uint8Array): Promise<IncomingPoints> {
  let body = allocateBytes(64 * 1024);
  let received = 0;
  await source.read((chunk) => {
    if (received + chunk.length > body.length) {
      const grown = allocateBytes(Math.max(2 * body.length, received + chunk.length));
      grown.set(body.subarray(0, received));
      body = grown;
    }
    body.set(chunk, received);
    received += chunk.length;
  });
  const bytes = body.subarray(0, received);
  return {
    kind: 'incoming',
    name: 'points',
    byteLength: received,
    async fill(into, arrived) {
      into.set(bytes);
      arrived(received);
    },
  };
}

/** The raw-float64 answer: every output of every point, output after output, and its headers. */
export function binaryAnswer(result: Result): { readonly body: Buffer; readonly headers: Readonly<Record<string, string>> } {
  const { block, count, model } = result;
  return {
    body: Buffer.from(block.buffer, block.byteOffset, block.byteLength),
    headers: { 'x-points': String(count), 'x-input-dim': String(model.inputDim) },
  };
}
