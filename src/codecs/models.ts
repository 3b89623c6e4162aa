/**
 * Model documents as the codecs read them: a JSON body of the model schema, its parameter arrays
 * read into float64s as they arrive, each refused at the first number past what
 * MAX_MODEL_WEIGHTS allows.
 */
import { LimitExceededError } from '../errors.js';
import type { ModelDocument } from '../registry/documents.js';
import { readDocument } from './json/document.js';
import type { ByteSource } from './source.js';

export async function readJsonModel(source: ByteSource, schema: object, maxModelWeights: number, allocate: (length: number) => Float64Array): Promise<ModelDocument> {
  const tooMany = (field: string) => () =>
    new LimitExceededError(field, `${field} holds more than ${maxModelWeights} numbers, more than a model within the limit of ${maxModelWeights} weights (MAX_MODEL_WEIGHTS) has`);
  return readDocument<ModelDocument>(source, schema, {
    allocate,
    limits: (field) => ({ maxOuter: maxModelWeights, maxNumbers: maxModelWeights, tooManyOuter: tooMany(field), tooManyNumbers: tooMany(field) }),
  });
}
