import {
  hiddenActivationNames,
  isHiddenActivationName,
  isOutputActivationName,
  outputActivationNames,
  type HiddenActivationName,
  type OutputActivationName,
} from './activations.js';
import { ModelDataError } from './model-error.js';
import { resolveScaling, type Affine, type InputScaling, type OutputScaling } from './scaling.js';

export { ModelDataError } from './model-error.js';

/**
 * The parameters of F(y) = η(wᵀZ^K + μ), Z^{k+1} = Z^k + h·σ(W_k Z^k + b_k), Z⁰ = (y, 0).
 *
 * Flat row-major layout: (W_k)_{ij} is `W[k·d·d + i·d + j]`, (b_k)_i is `b[k·d + i]`.
 */
export interface ModelParameters {
  /** K, the number of residual layers. */
  readonly layers: number;
  /** d, the width of every layer. */
  readonly dim: number;
  /** d₀ ≤ d, the number of coordinates of a point; it is padded with zeros to d. Defaults to d. */
  readonly inputDim?: number;
  readonly h: number;
  readonly mu: number;
  readonly W: ArrayLike<number>;
  readonly b: ArrayLike<number>;
  readonly w: ArrayLike<number>;
  /** σ; defaults to tanh. */
  readonly activation?: string;
  /** η; defaults to identity. */
  readonly output?: string;
  /** y ↦ a ⊙ y + c before the network (./scaling.ts); none by default. */
  readonly inputScaling?: InputScaling;
  /** F̃ ↦ s·F̃ + t after it; none by default. */
  readonly outputScaling?: OutputScaling;
}

/** A validated model. Its arrays are private copies that nothing writes to after creation. */
export interface ResNetModel {
  readonly layers: number;
  readonly dim: number;
  readonly inputDim: number;
  readonly h: number;
  readonly mu: number;
  readonly W: Float64Array;
  readonly b: Float64Array;
  readonly w: Float64Array;
  readonly activation: HiddenActivationName;
  readonly output: OutputActivationName;
  /** The transformations as they were given (absent when none). */
  readonly inputScaling?: InputScaling;
  readonly outputScaling?: OutputScaling;
  /** Both resolved to one affine map; null when the model has none, and F = F̃. */
  readonly affine: Affine | null;
}

/** Returns `value` when it is an integer ≥ 1; throws a ModelDataError naming `field` otherwise. */
export function positiveInteger(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new ModelDataError(field, `${field} must be a positive integer, got ${value}`);
  }
  return value;
}

function finiteNumber(field: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ModelDataError(field, `${field} must be a finite number, got ${value}`);
  }
  return value;
}

/**
 * A private copy, in shared memory: worker threads then read a model's parameters where they
 * are, instead of receiving a copy with every task. An array already in shared memory that the
 * caller hands over (ModelOptions.adopt) is checked and kept as it is.
 */
function finiteCopy(field: string, values: ArrayLike<number>, length: number, shape: string, adopt: boolean): Float64Array {
  if (values.length !== length) {
    throw new ModelDataError(field, `${field} has length ${values.length}, expected ${shape} = ${length}`);
  }
  const owned = adopt && values instanceof Float64Array && values.buffer instanceof SharedArrayBuffer;
  const copy = owned ? values : new Float64Array(new SharedArrayBuffer(length * 8));
  for (let i = 0; i < length; i++) {
    const x = values[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new ModelDataError(field, `${field}[${i}] must be a finite number, got ${x}`);
    }
    copy[i] = x;
  }
  return copy;
}

export interface ModelOptions {
  /**
   * The parameters' arrays belong to the model from now on: those in shared memory are kept as
   * they are rather than copied (a seeded model, drawn for it).
   */
  readonly adopt?: boolean;
}

/** Validates parameters in the flat layout and returns an immutable model. */
export function createModel(parameters: ModelParameters, { adopt = false }: ModelOptions = {}): ResNetModel {
  const layers = positiveInteger('layers', parameters.layers);
  const dim = positiveInteger('dim', parameters.dim);
  const inputDim = positiveInteger('inputDim', parameters.inputDim ?? dim);
  if (inputDim > dim) {
    throw new ModelDataError('inputDim', `inputDim ${inputDim} exceeds dim ${dim}`);
  }
  const activation = parameters.activation ?? 'tanh';
  if (!isHiddenActivationName(activation)) {
    throw new ModelDataError(
      'activation',
      `unknown activation '${activation}', expected one of ${hiddenActivationNames.join(', ')}`,
    );
  }
  const output = parameters.output ?? 'identity';
  if (!isOutputActivationName(output)) {
    throw new ModelDataError('output', `unknown output '${output}', expected one of ${outputActivationNames.join(', ')}`);
  }
  return Object.freeze({
    layers,
    dim,
    inputDim,
    h: finiteNumber('h', parameters.h),
    mu: finiteNumber('mu', parameters.mu),
    W: finiteCopy('W', parameters.W, layers * dim * dim, 'layers·dim·dim', adopt),
    b: finiteCopy('b', parameters.b, layers * dim, 'layers·dim', adopt),
    w: finiteCopy('w', parameters.w, dim, 'dim', adopt),
    activation,
    output,
    ...(parameters.inputScaling === undefined ? {} : { inputScaling: frozenCopy(parameters.inputScaling) }),
    ...(parameters.outputScaling === undefined ? {} : { outputScaling: frozenCopy(parameters.outputScaling) }),
    affine: resolveScaling(inputDim, parameters.inputScaling, parameters.outputScaling),
  });
}

/** A deep, frozen copy of a small plain object of numbers and arrays of numbers. */
function frozenCopy<T>(value: T): T {
  if (Array.isArray(value)) return Object.freeze(value.map(frozenCopy)) as T;
  if (value !== null && typeof value === 'object') return Object.freeze(Object.fromEntries(Object.entries(value).map(([k, v]) => [k, frozenCopy(v)]))) as T;
  return value;
}

/** The number of learned scalars: K·d² weights, K·d biases, d in w, and μ (h is a fixed step). */
/** A forward and a backward sweep: K products of d×d by d each way, counted as 4·K·d² a point. */
export const sweepFlops = (model: Pick<ResNetModel, 'layers' | 'dim'>): number => 4 * model.layers * model.dim * model.dim;

export const parameterCount = (model: Pick<ResNetModel, 'layers' | 'dim'>): number =>
  model.layers * model.dim * (model.dim + 1) + model.dim + 1;
