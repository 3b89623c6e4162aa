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
import { numbersJsonBound, simdAvailable, simdNumbersJson, simdReadPointsJson, simdSweep } from './simd/index.js';

export * from './activations.js';
export * from './model.js';
export * from './random.js';
export { referenceEvaluate, referenceValueAndGradient } from './reference.js';
export { numbersJsonBound, simdAvailable } from './simd/index.js';

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


const numberText = (x: number): string => (Object.is(x, -0) ? '-0' : String(x));

/**
 * Finite `values` as JSON text, in bytes, into `into`: `x0,x1,…` when width is 0, else rows of
 * `width` numbers, `[x0,x1],[x2,x3],…`, without enclosing brackets; returns the bytes written.
 * Each number is written as JSON.stringify writes it (the shortest digits that read back to the
 * same double, and of those the closest), except −0, which is "-0". About five times as fast as
 * JSON.stringify, and no string is made. Throws a RangeError for a number JSON cannot hold.
 */
export function numbersJson(values: Float64Array, width: number, into: Uint8Array): number {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new RangeError(`${values[i]} has no JSON form`);
  }
  if (width !== 0 && values.length % width !== 0) throw new RangeError(`${values.length} numbers do not make rows of ${width}`);
  if (into.length < numbersJsonBound(values.length, width)) throw new RangeError(`${into.length} bytes may not hold the text`);
  if (simdAvailable) return simdNumbersJson(values, width, into);
  const items = Array.from(values, numberText);
  const rows = [];
  if (width !== 0) for (let r = 0; r < items.length; r += width) rows.push(`[${items.slice(r, r + width).join(',')}]`);
  return new TextEncoder().encodeInto((width === 0 ? items : rows).join(','), into).written;
}

/** A JSON compute body as readPointsJson reads it. */
export interface PointsJson {
  readonly modelId: string;
  /** Coordinates per point: the same for every point. */
  readonly width: number;
  /** Point-major, `width` per point. */
  readonly coordinates: Float64Array;
}

/**
 * Reads the UTF-8 bytes of a JSON body `{"modelId": "…", "points": [[x, …], …]}` straight into
 * float64s (from `allocate`), each the double JSON.parse would read: far faster than JSON.parse,
 * which makes an array per point. Returns null for any body not in exactly that shape (another
 * member, escapes, a non-ASCII modelId, an empty or ragged point, a number of more than 19
 * significant digits or one that overflows, bad syntax), which JSON.parse must then read, and
 * without the WebAssembly module.
 */
export function readPointsJson(bytes: Uint8Array, allocate: (length: number) => Float64Array): PointsJson | null {
  return simdAvailable ? simdReadPointsJson(bytes, allocate) : null;
}
