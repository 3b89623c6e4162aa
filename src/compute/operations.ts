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
import { evaluateInto, valueAndGradientInto, type ResNetModel } from '../kernels/index.js';

/** One per-point result of an operation. */
export interface Output {
  /** Its name in answers: `values`, `gradients`. */
  readonly name: string;
  /** The shape of one point's result: [] for a number, [d₀] for a vector, [d₀, d₀] for a matrix. */
  shape(model: ResNetModel): readonly number[];
  /** The numbers in one point's result: the product of the shape. */
  size(model: ResNetModel): number;
}

export interface Operation {
  readonly name: string;
  /** The per-point inputs, by name; `points` first. */
  readonly inputs: readonly string[];
  readonly outputs: readonly Output[];
  /**
   * The floating-point operations one point costs, as the work budget (MAX_REQUEST_FLOPS) and the
   * pool threshold (WORKER_MIN_FLOPS) count them.
   */
  flops(model: ResNetModel): number;
  /** Computes n points: `inputs` and `outputs` are in the order above, each n·size long. */
  kernel(model: ResNetModel, inputs: readonly Float64Array[], outputs: readonly Float64Array[]): void;
}

/** Numbers per point of an output. */
export const outputSize = (output: Output, model: ResNetModel): number => output.size(model);

/** A forward and a backward sweep: K products of d×d by d each way, counted as 4·K·d² a point. */
const sweepFlops = (model: ResNetModel): number => 4 * model.layers * model.dim * model.dim;

const NUMBER: readonly number[] = [];
const value: Output = { name: 'values', shape: () => NUMBER, size: () => 1 };
const gradient: Output = { name: 'gradients', shape: (model) => [model.inputDim], size: (model) => model.inputDim };

export const evaluate: Operation = {
  name: 'evaluate',
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
  inputs: ['points'],
  outputs: [value, gradient],
  flops: sweepFlops,
  kernel: (model, [points], [values, gradients]) => valueAndGradientInto(model, points, values, gradients),
};

/** Every operation, by name: the worker threads find their kernels here. */
export const operations: Readonly<Record<string, Operation>> = {
  evaluate,
  gradient: gradientOperation,
};
