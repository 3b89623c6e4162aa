/**
 * Running the kernels for a request: look the model up, check and flatten the points, sweep,
 * and refuse results that are not finite. The HTTP layer only translates to and from this.
 */
import { evaluate, nonFinitePoints, valueAndGradient, type ResNetModel } from '../kernels/index.js';
import { ModelNotFoundError, NonFiniteResultError } from './errors.js';
import { flattenPoints } from './points.js';
import type { ModelRegistry } from './registry.js';

/** How many offending points a non-finite error names. */
const REPORTED_NON_FINITE = 10;

/** Told about every kernel run, for metrics; the domain does not know how they are kept. */
export interface KernelObserver {
  (operation: 'evaluate' | 'gradient', points: number, seconds: number): void;
}

export interface ComputeOptions {
  readonly registry: ModelRegistry;
  readonly maxPoints: number;
  readonly observe?: KernelObserver;
}

export interface Values {
  readonly modelId: string;
  readonly values: Float64Array;
}

export interface ValuesAndGradients extends Values {
  readonly gradients: Float64Array;
  readonly inputDim: number;
}

export function createComputeService({ registry, maxPoints, observe = () => {} }: ComputeOptions) {
  async function modelFor(modelId: string): Promise<ResNetModel> {
    const record = await registry.get(modelId);
    if (record === undefined) throw new ModelNotFoundError(modelId);
    return record.model;
  }

  function refuseNonFinite(values: Float64Array, gradients: Float64Array | null, inputDim: number): void {
    const bad = nonFinitePoints(values, gradients, inputDim, REPORTED_NON_FINITE);
    if (bad.length > 0) throw new NonFiniteResultError(bad, REPORTED_NON_FINITE);
  }

  return {
    /** F at every point. */
    async evaluate(modelId: string, points: readonly (readonly number[])[]): Promise<Values> {
      const model = await modelFor(modelId);
      const flat = flattenPoints(points, model.inputDim, maxPoints);
      const start = performance.now();
      const values = evaluate(model, flat);
      observe('evaluate', values.length, (performance.now() - start) / 1e3);
      refuseNonFinite(values, null, model.inputDim);
      return { modelId, values };
    },

    /** F and ∇F at every point. */
    async gradient(modelId: string, points: readonly (readonly number[])[]): Promise<ValuesAndGradients> {
      const model = await modelFor(modelId);
      const flat = flattenPoints(points, model.inputDim, maxPoints);
      const start = performance.now();
      const { values, gradients } = valueAndGradient(model, flat);
      observe('gradient', values.length, (performance.now() - start) / 1e3);
      refuseNonFinite(values, gradients, model.inputDim);
      return { modelId, values, gradients, inputDim: model.inputDim };
    },
  };
}

export type ComputeService = ReturnType<typeof createComputeService>;
