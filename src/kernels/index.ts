/**
 * The numeric core: F(y) and ∇F(y) of a residual network over batches of points held in
 * Float64Arrays. Imports nothing from the HTTP layer.
 *
 * Points are point-major: point p is `points[p·d₀ … p·d₀ + d₀)`, with d₀ = model.inputDim.
 * Gradients use the same layout. Arguments are checked here, once; the loops check nothing.
 *
 * The work runs on the WebAssembly SIMD kernels (./simd) where the machine has them, and on
 * the plain reference kernels (./reference.ts) otherwise; the two agree to about 1e-16 relative.
 */
import type { ResNetModel } from './model.js';
import { referenceEvaluate, referenceValueAndGradient } from './reference.js';
import { simdAvailable, simdSweep } from './simd/index.js';

export * from './activations.js';
export * from './model.js';
export * from './scaling.js';
export * from './random.js';
export { referenceEvaluate, referenceValueAndGradient } from './reference.js';
export { hessianInto, hessianVectorInto, referenceHessianInto, referenceHessianVectorInto } from './second.js';
export { FD_STEP_FACTOR, gradientCheckInto, hessianCheckInto } from './check.js';
export { traceInto } from './trace.js';
export * from './flows.js';
export { simdAvailable } from './simd/index.js';

export interface ValueAndGradient {
  readonly values: Float64Array;
  readonly gradients: Float64Array;
}

/** The number of points in `points`; throws a RangeError when its length is not a multiple of d₀. */
export function pointCount(model: ResNetModel, points: Float64Array): number {
  if (points.length % model.inputDim !== 0) {
    throw new RangeError(`points has length ${points.length}, not a multiple of inputDim ${model.inputDim}`);
  }
  return points.length / model.inputDim;
}

function checkOutput(name: string, array: Float64Array, length: number): void {
  if (array.length !== length) throw new RangeError(`${name} has length ${array.length}, expected ${length}`);
}

/** F at every point, written into `values` (length N). */
export function evaluateInto(model: ResNetModel, points: Float64Array, values: Float64Array): Float64Array {
  checkOutput('values', values, pointCount(model, points));
  if (!simdAvailable) return referenceEvaluate(model, points, values);
  simdSweep(model, points, values, null);
  return values;
}

/** F at every point. */
export function evaluate(model: ResNetModel, points: Float64Array): Float64Array {
  return evaluateInto(model, points, new Float64Array(pointCount(model, points)));
}

/** F and ∇F at every point, written into `values` (N) and `gradients` (N·d₀); allocates nothing. */
export function valueAndGradientInto(
  model: ResNetModel,
  points: Float64Array,
  values: Float64Array,
  gradients: Float64Array,
): void {
  const n = pointCount(model, points);
  checkOutput('values', values, n);
  checkOutput('gradients', gradients, n * model.inputDim);
  if (simdAvailable) simdSweep(model, points, values, gradients);
  else referenceValueAndGradient(model, points, values, gradients);
}

/** F and ∇F at every point, from one forward and one backward sweep per point. */
export function valueAndGradient(model: ResNetModel, points: Float64Array): ValueAndGradient {
  const n = pointCount(model, points);
  const result = { values: new Float64Array(n), gradients: new Float64Array(n * model.inputDim) };
  valueAndGradientInto(model, points, result.values, result.gradients);
  return result;
}

/**
 * The indices of the points whose value, or any gradient component, is ±Infinity or NaN, at most
 * `limit` of them. A linear scan over the results: negligible next to the sweeps that made them.
 */
export function nonFinitePoints(
  values: Float64Array,
  gradients: Float64Array | null,
  inputDim: number,
  limit = Number.POSITIVE_INFINITY,
): number[] {
  const found: number[] = [];
  for (let p = 0; p < values.length && found.length < limit; p++) {
    let finite = Number.isFinite(values[p]);
    if (gradients !== null) {
      for (let i = p * inputDim; finite && i < (p + 1) * inputDim; i++) finite = Number.isFinite(gradients[i]);
    }
    if (!finite) found.push(p);
  }
  return found;
}
