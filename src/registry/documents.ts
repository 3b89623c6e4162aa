/**
 * Models as the API describes them (a document of parameters, or of a seed) and as the kernels hold
 * them (one flat row-major Float64Array per parameter). The JSON reader hands the parameters over
 * as nested arrays already read into float64s (NumericArray: the numbers in row-major order, and
 * the lengths at each depth); their shapes are checked here, with messages that name the nested
 * field, before anything of the model's size is allocated.
 */
import type { NumericArray } from '../codecs/json/numbers.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createModel, drawRandomParameters, ModelDataError, parameterCount, randomParameters, type ModelParameters, type ResNetModel } from '../kernels/index.js';
import { LimitExceededError } from '../errors.js';
import type { ModelShapeSource } from './registry.js';

/** A transformation's arrays: plain when the body was parsed whole, NumericArray when read as it arrived. */
type ScalingDocument = Readonly<Record<string, number | readonly number[] | NumericArray>>;

interface ModelOptions {
  readonly name?: string;
  readonly activation?: string;
  readonly output?: string;
  readonly inputDim?: number;
  readonly inputScaling?: ScalingDocument;
  readonly outputScaling?: ScalingDocument;
}

const plain = (value: number | readonly number[] | NumericArray) =>
  typeof value === 'number' || Array.isArray(value) ? value : Array.from((value as NumericArray).numbers);

/** The document's transformations with plain arrays of numbers, as the kernels take them. */
function scalingOf({ inputScaling, outputScaling }: ModelOptions): Pick<ModelParameters, 'inputScaling' | 'outputScaling'> {
  const convert = (scaling: ScalingDocument) => Object.fromEntries(Object.entries(scaling).map(([key, value]) => [key, plain(value)]));
  return {
    ...(inputScaling === undefined ? {} : { inputScaling: convert(inputScaling) as unknown as ModelParameters['inputScaling'] }),
    ...(outputScaling === undefined ? {} : { outputScaling: convert(outputScaling) as unknown as ModelParameters['outputScaling'] }),
  };
}

/** A model given by its parameters. */
export interface ExplicitModelDocument extends ModelOptions {
  readonly h: number;
  /** K × d × d. */
  readonly W: NumericArray;
  /** K × d, or K × d × 1 (columns). */
  readonly b: NumericArray;
  /** d, or d × 1 (a column). */
  readonly w: NumericArray;
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

/**
 * The first array at depth index `depth` (1: the arrays inside the outermost one) whose length is
 * not `expected`: its index path and length; null when every one has that length.
 */
function firstOtherThan(array: NumericArray, depth: number, expected: number): { path: readonly number[]; length: number } | null {
  const { first, other } = array.depths[depth];
  if (first >= 0 && first !== expected) return { path: new Array<number>(depth).fill(0), length: first };
  return other;
}

/** The arrays of a column layout (w as d × 1, b as K × d × 1) must hold one number each. */
function checkColumns(array: NumericArray, field: string, layout: string): void {
  const columns = array.rank - 1;
  const wrong = firstOtherThan(array, columns, 1);
  if (wrong === null) return;
  const name = `${field}${wrong.path.map((i) => `[${i}]`).join('')}`;
  throw new ModelDataError(name, `${name} has ${wrong.length} entries; ${field} given as columns (${layout}) has one number in each`);
}

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * Checks that W is K×d×d and b is K×d (or K×d×1), d being the length of w (a vector, or a d×1
 * column); names the first array, in the order of the layers, whose length is wrong, its shape,
 * and the shape expected.
 */
function checkShapes({ W, b, w }: ExplicitModelDocument): { layers: number; dim: number } {
  if (w.rank === 2) checkColumns(w, 'w', 'd × 1');
  if (b.rank === 3) checkColumns(b, 'b', 'K × d × 1');
  const layers = W.depths[0].first;
  const dim = w.depths[0].first;
  const biasShape = b.rank === 3 ? 'K × d × 1' : 'K × d';
  if (b.depths[0].first !== layers) {
    throw new ModelDataError('b', `b has ${count(b.depths[0].first, 'bias', 'biases')}; expected K = ${layers}, one for each matrix of W (b is ${biasShape})`);
  }
  // The first wrong length in the order W[k] rows, W[k][i] columns, b[k] entries, layer by layer.
  const candidates: { order: number[]; error: () => ModelDataError }[] = [];
  const rows = firstOtherThan(W, 1, dim);
  if (rows !== null) {
    const [k] = rows.path;
    candidates.push({
      order: [k, 0, 0],
      error: () => new ModelDataError(`W[${k}]`, `W[${k}] has ${count(rows.length, 'row', 'rows')}; expected a d × d matrix with d = ${dim}, the length of w`),
    });
  }
  const columns = firstOtherThan(W, 2, dim);
  if (columns !== null) {
    const [k, i] = columns.path;
    candidates.push({
      order: [k, 1, i],
      error: () => new ModelDataError(`W[${k}][${i}]`, `W[${k}][${i}] has ${count(columns.length, 'column', 'columns')}; expected d = ${dim}, the length of w (W[${k}] is d × d)`),
    });
  }
  const biases = firstOtherThan(b, 1, dim);
  if (biases !== null) {
    const [k] = biases.path;
    const shape = b.rank === 3 ? `shape ${biases.length} × 1` : count(biases.length, 'entry', 'entries');
    candidates.push({
      order: [k, 2, 0],
      error: () => new ModelDataError(`b[${k}]`, `b[${k}] has ${shape}; expected d = ${dim} entries, the length of w (b is ${biasShape})`),
    });
  }
  const before = (a: number[], c: number[]) => a[0] - c[0] || a[1] - c[1] || a[2] - c[2];
  const first = candidates.sort((a, c) => before(a.order, c.order))[0];
  if (first) throw first.error();
  return { layers, dim };
}

function fromParameters(document: ExplicitModelDocument, limits: ModelLimits): ResNetModel {
  const { layers, dim } = { layers: document.W.depths[0].first, dim: document.w.depths[0].first };
  checkWeights(layers, dim, limits);
  checkShapes(document);
  return createModel({ ...document, inputScaling: undefined, outputScaling: undefined, ...scalingOf(document), layers, dim, W: document.W.numbers, b: document.b.numbers, w: document.w.numbers });
}

/** Builds the model a document describes; throws ModelDataError or LimitExceededError naming the field. */
export function modelFromDocument(document: ModelDocument, limits: ModelLimits): ResNetModel {
  if (!isRandomModelDocument(document)) return fromParameters(document, limits);
  checkWeights(document.layers, document.dim, limits);
  return createModel({ ...randomParameters(document), ...scalingOf(document) });
}

/** Draws between turns of the event loop: a seeded model of millions of weights takes a while. */
const DRAWN_PER_TURN = 64 * 1024;

/**
 * modelFromDocument, for the event loop's sake: a seeded model is drawn DRAWN_PER_TURN numbers at
 * a time, letting other work run in between. `room` is told the model's bytes once its size is
 * known to be within the limits, before any work goes into it, and may refuse it by throwing.
 */
export async function buildModel(document: ModelDocument, limits: ModelLimits, room: (bytes: number) => void = () => {}): Promise<ResNetModel> {
  if (!isRandomModelDocument(document)) {
    const model = fromParameters(document, limits);
    room(modelBytes(model));
    return model;
  }
  checkWeights(document.layers, document.dim, limits);
  room(documentBytes(document));
  const steps = drawRandomParameters(document, DRAWN_PER_TURN);
  for (;;) {
    const step = steps.next();
    if (step.done) return createModel({ ...step.value, ...scalingOf(document) }, { adopt: true });
    await nextTurn();
  }
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

/** The bytes of a model's parameters, as the registry counts them against MAX_REGISTRY_BYTES. */
export const modelBytes = (model: ResNetModel): number => 8 * (model.W.length + model.b.length + model.w.length + 2);

/** modelBytes of the model a seeded document describes, known before the model is drawn. */
const documentBytes = (document: RandomModelDocument): number => 8 * (document.layers * document.dim * (document.dim + 1) + document.dim + 2);

/** The model's shape and options, as listed by the registry. */
export const modelShape = (model: ModelShapeSource) => ({
  layers: model.layers,
  dim: model.dim,
  inputDim: model.inputDim,
  activation: model.activation,
  output: model.output,
  h: model.h,
  ...(model.inputScaling === undefined ? {} : { inputScaling: model.inputScaling }),
  ...(model.outputScaling === undefined ? {} : { outputScaling: model.outputScaling }),
  parameterCount: parameterCount(model),
});
