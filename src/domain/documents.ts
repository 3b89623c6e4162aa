/**
 * Models as the API writes them (nested arrays: W[k][i][j] = (W_k)_{ij}) and as the kernels hold
 * them (one flat row-major Float64Array). Shapes are checked here, with messages that name the
 * nested field, before anything of the model's size is allocated.
 */
import { createModel, ModelDataError, parameterCount, randomParameters, type ResNetModel } from '../kernels/index.js';
import { LimitExceededError } from './errors.js';

interface ModelOptions {
  readonly name?: string;
  readonly activation?: string;
  readonly output?: string;
  readonly inputDim?: number;
}

/** A model given by its parameters. */
export interface ExplicitModelDocument extends ModelOptions {
  readonly h: number;
  readonly W: readonly (readonly (readonly number[])[])[];
  readonly b: readonly (readonly number[])[];
  readonly w: readonly number[];
  readonly mu: number;
}

/** A model drawn from the seeded initialisation of the kernels' `randomParameters`. */
export interface RandomModelDocument extends ModelOptions {
  readonly layers: number;
  readonly dim: number;
  readonly seed: number;
  readonly h?: number;
}

export type ModelDocument = ExplicitModelDocument | RandomModelDocument;

export interface ModelLimits {
  /** Largest K·d². */
  readonly maxModelWeights: number;
}

export const isRandomModelDocument = (document: ModelDocument): document is RandomModelDocument =>
  'seed' in document;

function checkWeights(layers: number, dim: number, limits: ModelLimits): void {
  if (layers * dim * dim > limits.maxModelWeights) {
    throw new LimitExceededError(
      'W',
      `the model has K·d² = ${layers}·${dim}² = ${layers * dim * dim} weights, more than the limit of ${limits.maxModelWeights} (MAX_MODEL_WEIGHTS)`,
    );
  }
}

function flattenExplicit(document: ExplicitModelDocument, limits: ModelLimits): ResNetModel {
  const { W, b, w } = document;
  const layers = W.length;
  const dim = w.length;
  checkWeights(layers, dim, limits);
  if (b.length !== layers) {
    throw new ModelDataError('b', `b has ${b.length} rows, expected ${layers} (one per layer of W)`);
  }
  const flatW = new Float64Array(layers * dim * dim);
  const flatB = new Float64Array(layers * dim);
  for (let k = 0; k < layers; k++) {
    if (W[k].length !== dim) {
      throw new ModelDataError(`W[${k}]`, `W[${k}] has ${W[k].length} rows, expected ${dim} (the length of w)`);
    }
    for (let i = 0; i < dim; i++) {
      const row = W[k][i];
      if (row.length !== dim) {
        throw new ModelDataError(`W[${k}][${i}]`, `W[${k}][${i}] has ${row.length} columns, expected ${dim} (the length of w)`);
      }
      flatW.set(row, (k * dim + i) * dim);
    }
    if (b[k].length !== dim) {
      throw new ModelDataError(`b[${k}]`, `b[${k}] has ${b[k].length} entries, expected ${dim} (the length of w)`);
    }
    flatB.set(b[k], k * dim);
  }
  return createModel({ ...document, layers, dim, W: flatW, b: flatB, w });
}

/** Builds the model a document describes; throws ModelDataError or LimitExceededError naming the field. */
export function modelFromDocument(document: ModelDocument, limits: ModelLimits): ResNetModel {
  if (!isRandomModelDocument(document)) return flattenExplicit(document, limits);
  checkWeights(document.layers, document.dim, limits);
  return createModel(randomParameters(document));
}

/** The parameters in the API's nested layout; rows are views of the model's arrays, not copies. */
export function nestedParameters(model: ResNetModel) {
  const { layers, dim } = model;
  const W = Array.from({ length: layers }, (_, k) =>
    Array.from({ length: dim }, (_, i) => model.W.subarray((k * dim + i) * dim, (k * dim + i + 1) * dim)),
  );
  const b = Array.from({ length: layers }, (_, k) => model.b.subarray(k * dim, (k + 1) * dim));
  return { W, b, w: model.w, mu: model.mu };
}

/** The model's shape and options, as listed by the registry. */
export const modelShape = (model: ResNetModel) => ({
  layers: model.layers,
  dim: model.dim,
  inputDim: model.inputDim,
  activation: model.activation,
  output: model.output,
  h: model.h,
  parameterCount: parameterCount(model),
});
