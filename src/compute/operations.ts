/**
 * Operations as data. Each descriptor says what an operation takes per point, what it gives per
 * point, what a point costs, and which kernel computes it; the executor (./executor.ts) runs any
 * of them the same way, on this thread or the pool's, and the codecs write any of them from the
 * list of outputs. Adding an operation is one descriptor here, its kernel, and its route.
 *
 * Layouts are the kernels': every input and output is point-major, `size` numbers per point, and a
 * batch's outputs are one block, each output after the one before (the raw-float64 answer as it
 * is).
 */
import {
  evaluateInto,
  gradientCheckInto,
  hessianCheckInto,
  hessianInto,
  hessianVectorInto,
  scaleDirections,
  scaleGradients,
  scaleHessians,
  scaleInputs,
  scaleValues,
  traceInto,
  valueAndGradientInto,
  sweepFlops,
  type Affine,
  type ResNetModel,
} from '../kernels/index.js';

import { flowOperation, vectorFieldOperation } from './flows.js';

/**
 * What an operation computes on: one network (ResNetModel), or something made of networks (a
 * Hamiltonian and a flow's settings, ./flows.ts).
 */
export interface Subject {
  /** The numbers each per-point input has. */
  readonly inputDim: number;
  /** The scaling runKernel applies around the kernel; null when there is none to apply there. */
  readonly affine: Affine | null;
}

/** What a kernel may ask about its run: whether to stop (between steps of a long one), and where to say how far it got. */
export interface KernelControl {
  cancelled(): boolean;
  progress(units: number): void;
}

/** The control of a run nobody watches. */
export const UNWATCHED: KernelControl = { cancelled: () => false, progress: () => {} };

/** One per-point result of an operation. */
export interface Output<M extends Subject = ResNetModel> {
  /** Its name in answers: `values`, `gradients`. */
  readonly name: string;
  /** The shape of one point's result: [] for a number, [d₀] for a vector, [d₀, d₀] for a matrix. */
  shape(model: M): readonly number[];
  /** The numbers in one point's result: the product of the shape. */
  size(model: M): number;
  /**
   * Turns the network's results at the scaled points into the scaled model's (the chain rule of
   * ../kernels/scaling.ts), in place: a value is s·F̃ + t, a gradient s · a ⊙ ∇F̃, a Hessian
   * s · diag(a) ∇²F̃ diag(a).
   */
  rescale(affine: Affine, results: Float64Array): void;
}

export interface Operation<M extends Subject = ResNetModel> {
  readonly name: string;
  /** The per-point inputs, by name; `points` first. */
  readonly inputs: readonly string[];
  readonly outputs: readonly Output<M>[];
  /**
   * The floating-point operations one point costs, as the work budget (MAX_REQUEST_FLOPS) and the
   * pool threshold (WORKER_MIN_FLOPS) count them.
   */
  flops(model: M): number;
  /** The most points one request may bring, when fewer than MAX_POINTS (an answer that grows fast with the model). */
  readonly maxPoints?: number;
  /**
   * Computes n points of the network F̃ alone: `inputs` and `outputs` are in the order above, each
   * n·size long. Called through runKernel, which applies the model's scaling.
   */
  kernel(model: M, inputs: readonly Float64Array[], outputs: readonly Float64Array[], control: KernelControl): void;
  /** What the work is done on, for messages: `a model with K = 8, d = 4`. */
  describe(model: M): string;
  /** What each input's numbers a point are, for messages: `the model's inputDim`. */
  readonly width?: string;
  /** The networks the subject holds, for the pool's threads to build once and keep; the subject itself by default. */
  networks?(model: M): readonly ResNetModel[];
  /** The subject again, with the networks a thread built in place of its copies. */
  revive?(model: M, networks: readonly ResNetModel[]): M;
  /**
   * The kernel reports results that are not finite itself, as part of its answer (a flow that
   * ends early says where): the executor passes them on instead of refusing the batch.
   */
  readonly reportsNonFinite?: boolean;
}

/** Any operation, whatever it computes on. */
export type AnyOperation = Operation<Subject>;

/** A network's description in messages. */
export const describeModel = (model: ResNetModel): string => `a model with K = ${model.layers}, d = ${model.dim}`;


/** Numbers per point of an output. */
export const outputSize = <M extends Subject>(output: Output<M>, model: M): number => output.size(model);

const NUMBER: readonly number[] = [];
const value: Output = { name: 'values', shape: () => NUMBER, size: () => 1, rescale: scaleValues };
const gradient: Output = { name: 'gradients', shape: (model) => [model.inputDim], size: (model) => model.inputDim, rescale: scaleGradients };

export const evaluate: Operation = {
  name: 'evaluate',
  describe: describeModel,
  inputs: ['points'],
  outputs: [value],
  // Counted as a whole sweep, as the limits always have.
  flops: sweepFlops,
  kernel: (model, [points], [values]) => {
    evaluateInto(model, points, values);
  },
};

export const gradientOperation: Operation = {
  name: 'gradient',
  describe: describeModel,
  inputs: ['points'],
  outputs: [value, gradient],
  flops: sweepFlops,
  kernel: (model, [points], [values, gradients]) => valueAndGradientInto(model, points, values, gradients),
};

const hessian: Output = {
  name: 'hessians',
  shape: (model) => [model.inputDim, model.inputDim],
  size: (model) => model.inputDim * model.inputDim,
  rescale: scaleHessians,
};

/** The sweeps once, and once more each way for each of the d₀ directions. */
export const hessianOperation: Operation = {
  name: 'hessian',
  describe: describeModel,
  inputs: ['points'],
  outputs: [value, gradient, hessian],
  flops: (model) => sweepFlops(model) * (1 + model.inputDim),
  kernel: (model, [points], [values, gradients, hessians]) => hessianInto(model, points, values, gradients, hessians),
};

const hessianVector: Output = { name: 'hessianVectorProducts', shape: (model) => [model.inputDim], size: (model) => model.inputDim, rescale: scaleGradients };

export const hessianVectorOperation: Operation = {
  name: 'hvp',
  describe: describeModel,
  inputs: ['points', 'vectors'],
  outputs: [value, gradient, hessianVector],
  flops: (model) => 2 * sweepFlops(model),
  kernel: (model, [points, vectors], [values, gradients, products]) => hessianVectorInto(model, points, vectors, values, gradients, products),
};

const gradientDifferences: Output = { name: 'finiteDifferences', shape: (model) => [model.inputDim], size: (model) => model.inputDim, rescale: scaleGradients };
const hessianDifferences: Output = { ...hessian, name: 'finiteDifferences' };

/** The gradient, and central differences of F beside it (?check=fd): 2·d₀ more forward sweeps a point. */
export const gradientCheckOperation: Operation = {
  name: 'gradient-check',
  describe: describeModel,
  inputs: ['points'],
  outputs: [value, gradient, gradientDifferences],
  flops: (model) => sweepFlops(model) * (1 + model.inputDim),
  kernel: (model, [points], [values, gradients, differences]) => gradientCheckInto(model, points, values, gradients, differences),
};

/** The Hessian, and central differences of ∇F beside it (?check=fd): 2·d₀ more gradients a point. */
export const hessianCheckOperation: Operation = {
  name: 'hessian-check',
  describe: describeModel,
  inputs: ['points'],
  outputs: [value, gradient, hessian, hessianDifferences],
  flops: (model) => sweepFlops(model) * (1 + 3 * model.inputDim),
  kernel: (model, [points], [values, gradients, hessians, differences]) => hessianCheckInto(model, points, values, gradients, hessians, differences),
};

/** Z^(0) … Z^(K): the network's own states, at the scaled point; no rescaling. */
const states: Output = { name: 'states', shape: (model) => [model.layers + 1, model.dim], size: (model) => (model.layers + 1) * model.dim, rescale: () => {} };
/** A^(K) … A^(0), indexed by k: derivatives of F̃, so of F they are s times as large. */
const adjoints: Output = {
  name: 'adjoints',
  shape: (model) => [model.layers + 1, model.dim],
  size: (model) => (model.layers + 1) * model.dim,
  rescale: (affine, results) => {
    for (let i = 0; i < results.length; i++) results[i] *= affine.s;
  },
};

/** The most points /trace takes: its answer holds 2·(K + 1)·d numbers for each. */
export const MAX_TRACE_POINTS = 16;

export const traceOperation: Operation = {
  name: 'trace',
  describe: describeModel,
  maxPoints: MAX_TRACE_POINTS,
  inputs: ['points'],
  outputs: [value, gradient, states, adjoints],
  flops: sweepFlops,
  kernel: (model, [points], [values, gradients, zs, as]) => traceInto(model, points, values, gradients, zs, as),
};

/** Every operation, by name: the worker threads find their kernels here. */
export const operations: Readonly<Record<string, AnyOperation>> = {
  evaluate,
  gradient: gradientOperation,
  hessian: hessianOperation,
  hvp: hessianVectorOperation,
  'gradient-check': gradientCheckOperation,
  'hessian-check': hessianCheckOperation,
  trace: traceOperation,
  flow: flowOperation,
  'vector-field': vectorFieldOperation,
};

/**
 * Runs an operation's kernel on n points of a model, its scaling included: the one place where
 * the transformations apply, so that every operation gets them. The points are mapped into a
 * scratch array (the caller's inputs are never written), the kernel runs on them, and each output
 * is rescaled in place.
 */
export function runKernel<M extends Subject>(operation: Operation<M>, model: M, inputs: readonly Float64Array[], outputs: readonly Float64Array[], control: KernelControl = UNWATCHED): void {
  const { affine } = model;
  if (affine === null) return operation.kernel(model, inputs, outputs, control);
  // Points map affinely (a ⊙ y + c); every later input is a direction in the same space, and maps linearly (a ⊙ v).
  const [points, ...directions] = inputs;
  const mapped = directions.map((v) => scaleDirections(affine, v, new Float64Array(v.length)));
  operation.kernel(model, [scaleInputs(affine, points, new Float64Array(points.length)), ...mapped], outputs, control);
  for (let i = 0; i < outputs.length; i++) operation.outputs[i].rescale(affine, outputs[i]);
}
