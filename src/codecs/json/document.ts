/**
 * A JSON body as a document of a given schema, its nested arrays of numbers as NumericArray
 * (float64s in row-major order, with the lengths at each depth), whichever way it was read:
 *
 * - a small body (SMALL_BODY_BYTES or less, the one-point calls of an integrator) is parsed whole
 *   by JSON.parse (secure-json-parse) and checked against the schema, which costs it least;
 * - a larger one is read as it arrives by the streaming reader (./reader.ts), its numeric arrays
 *   straight into float64s within the caller's limits, and refused at the first byte that shows
 *   it is wrong; the rest of it is then checked against the schema's skeleton, each numeric array
 *   standing in for itself.
 *
 * Errors name the field as the client wrote it, in the same sentences either way.
 */
import AjvCompiler from '@fastify/ajv-compiler';
import secureJson from 'secure-json-parse';
import type { ByteSource } from '../source.js';
import { BodySchemaError, MalformedJsonError } from './errors.js';
import type { NumericArray } from './numbers.js';
import { JsonDocumentReader, type ReadOptions, type Shape } from './reader.js';
import { shapeOf, skeletonOf } from './shape.js';
import { describeValidation, type SchemaError } from './validation.js';

/**
 * The validator options of the whole service: what the client sent is checked as sent (no
 * coercion, no removal of unknown members, no defaults filled in), and the first error is reported.
 */
export const AJV_OPTIONS = { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } as const;

/** Bodies up to this size are parsed whole; larger ones are read as they arrive. */
export const SMALL_BODY_BYTES = 16 * 1024;

type Check = ((value: unknown) => boolean) & { errors?: SchemaError[] | null };

interface Compiled {
  readonly shape: Shape;
  readonly check: Check;
  readonly skeleton: object;
  readonly checkSkeleton: Check;
}

const compile = AjvCompiler()({}, { customOptions: AJV_OPTIONS });
const compiled = new WeakMap<object, Compiled>();

function compiledFor(schema: object): Compiled {
  let known = compiled.get(schema);
  if (known === undefined) {
    const skeleton = skeletonOf(schema as never);
    const validator = (of: object) => compile({ schema: of, method: 'POST', url: '', httpPart: 'body' }) as Check;
    known = { shape: shapeOf(schema as never), check: validator(schema), skeleton, checkSkeleton: validator(skeleton) };
    compiled.set(schema, known);
  }
  return known;
}

function check(validate: Check, schema: object, value: unknown): void {
  if (!validate(value)) throw new BodySchemaError(describeValidation(validate.errors ?? [], 'body', schema as never, value));
}

const parseOptions = { protoAction: 'error', constructorAction: 'error' } as const;

interface Lengths {
  count: number;
  first: number;
  other: { length: number; path: number[] } | null;
}

/** Walks the arrays at each depth, recording lengths (the index path only of the first that differs). */
function measure(item: unknown[], depth: number, rank: number, depths: Lengths[], path: number[]): number {
  const lengths = depths[depth];
  if (lengths.count === 0) lengths.first = item.length;
  else if (lengths.other === null && item.length !== lengths.first) lengths.other = { length: item.length, path: path.slice(0, depth) };
  lengths.count++;
  if (depth === rank - 1) return item.length;
  if (depth === rank - 2) {
    // Rows of numbers (a batch of points): the common case, in one loop.
    const rows = depths[depth + 1];
    let numbers = 0;
    for (let r = 0; r < item.length; r++) {
      const length = (item[r] as unknown[]).length;
      if (rows.count === 0) rows.first = length;
      else if (rows.other === null && length !== rows.first) {
        path[depth] = r;
        rows.other = { length, path: path.slice(0, depth + 1) };
      }
      rows.count++;
      numbers += length;
    }
    return numbers;
  }
  let numbers = 0;
  for (let i = 0; i < item.length; i++) {
    path[depth] = i;
    numbers += measure(item[i] as unknown[], depth + 1, rank, depths, path);
  }
  return numbers;
}

function fill(item: unknown[], depth: number, rank: number, data: Float64Array, at: number): number {
  if (rank - depth === 2) {
    // Rows of numbers (a batch of points): the common case, in one loop.
    for (let r = 0; r < item.length; r++) {
      const row = item[r] as number[];
      for (let i = 0; i < row.length; i++) data[at++] = row[i];
    }
    return at;
  }
  if (depth === rank - 1) {
    for (let i = 0; i < item.length; i++) data[at++] = item[i] as number;
    return at;
  }
  for (let i = 0; i < item.length; i++) at = fill(item[i] as unknown[], depth + 1, rank, data, at);
  return at;
}

/** A nested array of numbers, already checked against its schema, as a NumericArray. */
export function numericArrayOf(value: unknown, allocate: (length: number) => Float64Array): NumericArray {
  let rank = 1;
  for (let item = value; Array.isArray(item) && Array.isArray(item[0]); item = item[0]) rank++;
  const depths: Lengths[] = [];
  for (let d = 0; d < rank; d++) depths.push({ count: 0, first: -1, other: null });
  const data = allocate(measure(value as unknown[], 0, rank, depths, []));
  fill(value as unknown[], 0, rank, data, 0);
  return { numbers: data, rank, depths };
}

/** The document as JSON.parse reads it, checked, with its numeric arrays made NumericArray. */
function parseWhole(bytes: Buffer, schema: object, compiledSchema: Compiled, options: ReadOptions): unknown {
  if (bytes.length === 0) throw new MalformedJsonError('the body is empty; send a JSON object');
  let document: unknown;
  try {
    document = secureJson.parse(bytes.toString(), undefined, parseOptions);
  } catch (error) {
    throw new MalformedJsonError(`the body is not valid JSON: ${(error as Error).message}`);
  }
  if (!compiledSchema.check(document)) throw refusal(bytes, schema, compiledSchema, document, options);
  const { shape } = compiledSchema;
  if (shape.kind === 'object') {
    for (const [name, field] of shape.fields) {
      const value = (document as Record<string, unknown>)[name];
      if (field.kind === 'numbers' && value !== undefined) (document as Record<string, unknown>)[name] = numericArrayOf(value, options.allocate);
    }
  }
  return document;
}

/**
 * Why a small body was refused, in the words the streaming reader gives a large one (which reads
 * the numeric arrays, then checks the rest against the skeleton): the same body gets the same
 * error whatever its size, and an error inside an array of several allowed shapes names the
 * array and index rather than the shapes it matched none of.
 */
function refusal(bytes: Buffer, schema: object, compiledSchema: Compiled, document: unknown, options: ReadOptions): Error {
  try {
    readStreaming(bytes, schema, options);
  } catch (error) {
    return error as Error;
  }
  return new BodySchemaError(describeValidation(compiledSchema.check.errors ?? [], 'body', schema as never, document));
}

/**
 * Reads a JSON body of the given schema from `source`, checks it, and returns the document: at
 * once for a small body already in memory, else once it has arrived.
 */
export function readDocument<T>(source: ByteSource, schema: object, options: ReadOptions): T | Promise<T> {
  const { whole } = source;
  if (whole !== undefined && whole.length <= SMALL_BODY_BYTES) {
    const compiledSchema = compiledFor(schema);
    return parseWhole(Buffer.from(whole.buffer, whole.byteOffset, whole.length), schema, compiledSchema, options) as T;
  }
  return readArriving(source, schema, options);
}

async function readArriving<T>(source: ByteSource, schema: object, options: ReadOptions): Promise<T> {
  const compiledSchema = compiledFor(schema);
  const held: Buffer[] = [];
  let heldBytes = 0;
  let reader: JsonDocumentReader | null = null;
  await source.read((chunk) => {
    if (reader !== null) return reader.push(chunk);
    if (heldBytes + chunk.length <= SMALL_BODY_BYTES) {
      held.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      heldBytes += chunk.length;
      return;
    }
    reader = new JsonDocumentReader(compiledSchema.shape, { ...options, expectedBytes: source.declaredLength });
    for (const piece of held.splice(0)) reader.push(piece);
    reader.push(chunk);
  });
  if (reader === null) {
    const bytes = held.length === 1 ? held[0] : Buffer.concat(held);
    return parseWhole(bytes, schema, compiledSchema, options) as T;
  }
  const document = (reader as JsonDocumentReader).end();
  check(compiledSchema.checkSkeleton, compiledSchema.skeleton, document);
  return document as T;
}

/** Reads a whole document with the streaming reader, whatever its size (for tests). */
export function readStreaming(bytes: Uint8Array, schema: object, options: ReadOptions): unknown {
  const compiledSchema = compiledFor(schema);
  const reader = new JsonDocumentReader(compiledSchema.shape, options);
  reader.push(bytes);
  const document = reader.end();
  check(compiledSchema.checkSkeleton, compiledSchema.skeleton, document);
  return document;
}
