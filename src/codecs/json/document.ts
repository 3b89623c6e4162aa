/**
 * A JSON body as a document of a given schema: read as it arrives by the streaming reader (its
 * numeric arrays straight into float64s, within the caller's limits), then checked against the
 * schema, with each numeric array standing in for itself. Errors name the field as the client
 * wrote it, in the same sentences as the validation of query strings and paths.
 */
import AjvCompiler from '@fastify/ajv-compiler';
import type { ByteSource } from '../source.js';
import { BodySchemaError } from './errors.js';
import { JsonDocumentReader, type ReadOptions, type Shape } from './reader.js';
import { shapeOf, skeletonOf } from './shape.js';
import { describeValidation, type SchemaError } from './validation.js';

/**
 * The validator options of the whole service: what the client sent is checked as sent (no
 * coercion, no removal of unknown members, no defaults filled in), and the first error is reported.
 */
export const AJV_OPTIONS = { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } as const;

interface Compiled {
  readonly shape: Shape;
  readonly check: ((value: unknown) => boolean) & { errors?: SchemaError[] | null };
  readonly schema: object;
}

const compilers = AjvCompiler();
const compile = compilers({}, { customOptions: AJV_OPTIONS });
const compiled = new WeakMap<object, Compiled>();

function compiledFor(schema: object): Compiled {
  let known = compiled.get(schema);
  if (known === undefined) {
    const skeleton = skeletonOf(schema as never);
    const check = compile({ schema: skeleton, method: 'POST', url: '', httpPart: 'body' }) as Compiled['check'];
    known = { shape: shapeOf(schema as never), check, schema: skeleton };
    compiled.set(schema, known);
  }
  return known;
}

/** Throws a BodySchemaError naming the first thing in `value` that breaks the schema. */
export function checkDocument(schema: object, value: unknown): void {
  const { check, schema: skeleton } = compiledFor(schema);
  if (!check(value)) throw new BodySchemaError(describeValidation(check.errors ?? [], 'body', skeleton as never, value));
}

/** Reads a JSON body of the given schema from `source`, checks it, and returns the document. */
export async function readDocument<T>(source: ByteSource, schema: object, options: ReadOptions): Promise<T> {
  const reader = new JsonDocumentReader(compiledFor(schema).shape, options);
  await source.read((chunk) => reader.push(chunk));
  const document = reader.end();
  checkDocument(schema, document);
  return document as T;
}
