/**
 * A model's input and output transformations, so that the service evaluates the function that
 * was learned from scaled data:
 *
 *   F(y) = s·F̃(a ⊙ y + c) + t,   ∇F(y) = s · a ⊙ ∇F̃(a ⊙ y + c)
 *
 * F̃ is the residual network; a and c have d₀ entries, s and t are numbers. Each transformation is
 * given in one of two forms, kept as given (the model returns them as they were sent):
 *
 * - affine: input `{scale: a, offset: c}`, output `{scale: s, offset: t}`;
 * - min–max, as the course scales its data: input `{min, max, range: [lo, hi]}` maps each
 *   coordinate's [min, max] onto [lo, hi] before the network, a = (hi − lo)/(max − min) and
 *   c = lo − a·min; output `{min, max, range: [lo, hi]}` maps the network's [lo, hi] back onto
 *   [min, max], s = (max − min)/(hi − lo) and t = min − s·lo. `range` defaults to [0, 1].
 */
import { ModelDataError } from './model-error.js';

export interface AffineInput {
  readonly scale: readonly number[];
  readonly offset: readonly number[];
}
export interface MinMaxInput {
  readonly min: readonly number[];
  readonly max: readonly number[];
  readonly range?: readonly [number, number];
}
export interface AffineOutput {
  readonly scale: number;
  readonly offset: number;
}
export interface MinMaxOutput {
  readonly min: number;
  readonly max: number;
  readonly range?: readonly [number, number];
}
export type InputScaling = AffineInput | MinMaxInput;
export type OutputScaling = AffineOutput | MinMaxOutput;

/** The transformations resolved to x = a ⊙ y + c and F = s·F̃ + t. */
export interface Affine {
  readonly a: Float64Array;
  readonly c: Float64Array;
  readonly s: number;
  readonly t: number;
}

const DEFAULT_RANGE: readonly [number, number] = [0, 1];

function finite(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ModelDataError(field, `${field} must be a finite number, got ${String(value)}`);
  return value;
}

function vector(field: string, values: unknown, inputDim: number): readonly number[] {
  if (!Array.isArray(values)) throw new ModelDataError(field, `${field} must be an array of d₀ = ${inputDim} numbers`);
  if (values.length !== inputDim) {
    throw new ModelDataError(field, `${field} has ${values.length} ${values.length === 1 ? 'entry' : 'entries'}; expected d₀ = ${inputDim}, the model's inputDim`);
  }
  return values.map((x, i) => finite(`${field}[${i}]`, x));
}

function rangeOf(field: string, range: readonly [number, number] | undefined): readonly [number, number] {
  if (range === undefined) return DEFAULT_RANGE;
  if (!Array.isArray(range) || range.length !== 2) throw new ModelDataError(`${field}.range`, `${field}.range must be [lo, hi], two numbers`);
  const lo = finite(`${field}.range[0]`, range[0]);
  const hi = finite(`${field}.range[1]`, range[1]);
  if (lo === hi) throw new ModelDataError(`${field}.range`, `${field}.range is [${lo}, ${hi}]; lo and hi must differ`);
  return [lo, hi];
}

function nonZeroScale(field: string, value: number): number {
  if (value === 0) throw new ModelDataError(field, `${field} is 0; a scale must be a finite number other than 0`);
  return value;
}

function distinct(field: string, index: string, min: number, max: number): void {
  if (min === max) {
    throw new ModelDataError(`${field}.max${index}`, `${field}.min${index} and ${field}.max${index} are both ${min}; min–max scaling needs max ≠ min`);
  }
}

const isAffine = (scaling: object): scaling is AffineInput | AffineOutput => 'scale' in scaling || 'offset' in scaling;

/**
 * The affine map of a model's transformations, or null when it has none; throws a ModelDataError
 * naming the coordinate when a scale is 0 or not finite, min = max, or an array is not d₀ long.
 */
export function resolveScaling(inputDim: number, input: InputScaling | undefined, output: OutputScaling | undefined): Affine | null {
  if (input === undefined && output === undefined) return null;
  const a = new Float64Array(inputDim).fill(1);
  const c = new Float64Array(inputDim);
  if (input !== undefined) {
    const field = 'inputScaling';
    if (isAffine(input)) {
      const scale = vector(`${field}.scale`, input.scale, inputDim);
      const offset = vector(`${field}.offset`, input.offset, inputDim);
      scale.forEach((x, i) => (a[i] = nonZeroScale(`${field}.scale[${i}]`, x)));
      c.set(offset);
    } else {
      const min = vector(`${field}.min`, input.min, inputDim);
      const max = vector(`${field}.max`, input.max, inputDim);
      const [lo, hi] = rangeOf(field, input.range);
      for (let i = 0; i < inputDim; i++) {
        distinct(field, `[${i}]`, min[i], max[i]);
        a[i] = (hi - lo) / (max[i] - min[i]);
        c[i] = lo - a[i] * min[i];
      }
    }
  }
  let s = 1;
  let t = 0;
  if (output !== undefined) {
    const field = 'outputScaling';
    if (isAffine(output)) {
      s = nonZeroScale(`${field}.scale`, finite(`${field}.scale`, output.scale));
      t = finite(`${field}.offset`, output.offset);
    } else {
      const min = finite(`${field}.min`, output.min);
      const max = finite(`${field}.max`, output.max);
      const [lo, hi] = rangeOf(field, output.range);
      distinct(field, '', min, max);
      s = (max - min) / (hi - lo);
      t = min - s * lo;
    }
  }
  for (let i = 0; i < inputDim; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(c[i])) {
      throw new ModelDataError(`inputScaling`, `inputScaling gives coordinate ${i} the map x = ${a[i]}·y + ${c[i]}, which is not finite`);
    }
  }
  if (!Number.isFinite(s) || !Number.isFinite(t)) throw new ModelDataError('outputScaling', `outputScaling gives F = ${s}·F̃ + ${t}, which is not finite`);
  return Object.freeze({ a, c, s, t });
}

/** x = a ⊙ y + c for every point (point-major, d₀ a point), into `into`. */
export function scaleInputs(affine: Affine, points: Float64Array, into: Float64Array): Float64Array {
  const { a, c } = affine;
  const d0 = a.length;
  for (let p = 0; p < points.length; p += d0) {
    for (let i = 0; i < d0; i++) into[p + i] = a[i] * points[p + i] + c[i];
  }
  return into;
}

/** F = s·F̃ + t, in place. */
export function scaleValues(affine: Affine, values: Float64Array): void {
  const { s, t } = affine;
  for (let p = 0; p < values.length; p++) values[p] = s * values[p] + t;
}

/** ∇F = s · a ⊙ ∇F̃, in place (point-major, d₀ a point). */
export function scaleGradients(affine: Affine, gradients: Float64Array): void {
  const { a, s } = affine;
  const d0 = a.length;
  for (let p = 0; p < gradients.length; p += d0) {
    for (let i = 0; i < d0; i++) gradients[p + i] = s * (a[i] * gradients[p + i]);
  }
}

/** v ↦ a ⊙ v for every point's direction (point-major, d₀ a point), into `into`. */
export function scaleDirections(affine: Affine, vectors: Float64Array, into: Float64Array): Float64Array {
  const { a } = affine;
  const d0 = a.length;
  for (let p = 0; p < vectors.length; p += d0) {
    for (let i = 0; i < d0; i++) into[p + i] = a[i] * vectors[p + i];
  }
  return into;
}

/** ∇²F = s · diag(a) ∇²F̃ diag(a), in place (point-major, d₀ × d₀ row-major a point). */
export function scaleHessians(affine: Affine, hessians: Float64Array): void {
  const { a, s } = affine;
  const d0 = a.length;
  for (let p = 0; p < hessians.length; p += d0 * d0) {
    for (let i = 0; i < d0; i++) for (let j = 0; j < d0; j++) hessians[p + i * d0 + j] = s * (a[i] * (a[j] * hessians[p + i * d0 + j]));
  }
}
