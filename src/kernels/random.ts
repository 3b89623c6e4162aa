/**
 * Seeded random parameters. The stream is part of the API contract (the same seed gives the same
 * model on every version), so the generator is written out here rather than taken from a package
 * whose stream could change: xoshiro128** seeded through splitmix32, 53-bit uniforms, and normals
 * from the Box–Muller transform.
 */
import { ModelDataError, positiveInteger, type ModelParameters } from './model.js';

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Uniform doubles in [0, 1) with 53 random bits, from xoshiro128**. */
export function uniformGenerator(seed: number): () => number {
  const init = splitmix32(seed);
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  const next32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  return () => ((next32() >>> 5) * 67108864 + (next32() >>> 6)) / 9007199254740992;
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** Standard normal doubles, two per pair of uniforms (Box–Muller). */
export function normalGenerator(seed: number): () => number {
  const uniform = uniformGenerator(seed);
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const value = spare;
      spare = null;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

export interface RandomModelOptions {
  readonly layers: number;
  readonly dim: number;
  /** An integer in [0, 2³²). */
  readonly seed: number;
  readonly inputDim?: number;
  readonly h?: number;
  readonly activation?: string;
  readonly output?: string;
}

/** The default step h of a randomly initialised model. */
export const DEFAULT_RANDOM_STEP = 0.1;

/**
 * Parameters drawn in this order from one stream of N(0, 1) samples x: W (flat, row-major),
 * then b, then w, each entry x/√d. μ = 0 and h defaults to 0.1.
 */
export function randomParameters(options: RandomModelOptions): ModelParameters {
  const steps = drawRandomParameters(options, Number.POSITIVE_INFINITY);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * The parameters of randomParameters, drawn `piece` at a time: the generator yields after each
 * piece (so that a caller may let other work run) and returns the parameters. The same seed gives
 * the same numbers whatever the piece.
 */
export function* drawRandomParameters(options: RandomModelOptions, piece: number): Generator<void, ModelParameters> {
  const layers = positiveInteger('layers', options.layers);
  const dim = positiveInteger('dim', options.dim);
  const { seed } = options;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new ModelDataError('seed', `seed must be an integer in [0, 4294967295], got ${seed}`);
  }
  const normal = normalGenerator(seed);
  const scale = 1 / Math.sqrt(dim);
  // In shared memory, so that a model made from them may keep them (createModel's adopt).
  const shared = (length: number) => new Float64Array(new SharedArrayBuffer(length * 8));
  const arrays = [shared(layers * dim * dim), shared(layers * dim), shared(dim)];
  let drawn = 0;
  for (const values of arrays) {
    for (let i = 0; i < values.length; i++) {
      values[i] = normal() * scale;
      if (++drawn % piece === 0) yield;
    }
  }
  const [W, b, w] = arrays;
  return {
    layers,
    dim,
    inputDim: options.inputDim ?? dim,
    h: options.h ?? DEFAULT_RANDOM_STEP,
    mu: 0,
    W,
    b,
    w,
    activation: options.activation,
    output: options.output,
  };
}
