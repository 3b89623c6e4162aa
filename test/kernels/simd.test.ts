/**
 * The WebAssembly SIMD kernels against the reference kernels: every d class (widths that fill
 * the 4-row register blocks or leave remainders, odd widths padded in the single-point kernel),
 * every activation and output, batch sizes that leave partial chunks and partial vectors, and
 * tanh and exp against Math.tanh and Math.exp in ulps.
 */
import { describe, expect, it } from 'vitest';
import {
  createModel,
  evaluate,
  hiddenActivationNames,
  normalGenerator,
  outputActivationNames,
  randomParameters,
  referenceEvaluate,
  referenceValueAndGradient,
  simdAvailable,
  valueAndGradient,
  type ResNetModel,
} from '../../src/kernels/index.js';
import { chunkSize, simdElementwise } from '../../src/kernels/simd/index.js';
import { sameBits } from '../helpers/bits.js';
import { randomPoints } from '../helpers/points.js';

const points = (model: ResNetModel, n: number, seed: number): Float64Array => randomPoints(model, n, seed, 1.5);

function reference(model: ResNetModel, input: Float64Array) {
  const n = input.length / model.inputDim;
  const values = new Float64Array(n);
  const gradients = new Float64Array(n * model.inputDim);
  referenceValueAndGradient(model, input, values, gradients);
  return { values, gradients };
}

/** Largest |got − want| / max(1, |want|). */
function worst(got: Float64Array, want: Float64Array): number {
  let largest = 0;
  for (let i = 0; i < want.length; i++) largest = Math.max(largest, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  return largest;
}

it('runs on this machine (otherwise the tests below would only test the reference)', () => {
  expect(simdAvailable).toBe(true);
});

describe('the SIMD kernels agree with the reference to 1e-12 relative', () => {
  const widths = [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 32, 33, 64];
  const cases = widths.flatMap((dim) =>
    hiddenActivationNames.map((activation, a) => ({
      dim,
      activation,
      output: outputActivationNames[(dim + a) % 2],
      layers: 1 + ((dim * 7 + a) % 9),
      inputDim: Math.max(1, dim - (a % 3)),
    })),
  );

  it.each(cases)('d = $dim, σ = $activation, η = $output, K = $layers, d₀ = $inputDim', (c) => {
    const model = createModel(randomParameters({ ...c, seed: c.dim * 31 + c.layers, h: 0.3 }));
    const B = chunkSize(model);
    for (const n of [1, 2, 3, 5, B - 1, B, B + 1, 2 * B + 3]) {
      const input = points(model, n, n + c.dim);
      const got = valueAndGradient(model, input);
      const want = reference(model, input);
      expect(worst(got.values, want.values), `values, n = ${n}`).toBeLessThan(1e-12);
      expect(worst(got.gradients, want.gradients), `gradients, n = ${n}`).toBeLessThan(1e-12);
      expect(sameBits(evaluate(model, input), got.values), `evaluate, n = ${n}`).toBe(true);
    }
  });

  it('a wide model (d = 256)', () => {
    const model = createModel(randomParameters({ layers: 3, dim: 256, inputDim: 250, seed: 9 }));
    const input = points(model, 19, 4);
    const got = valueAndGradient(model, input);
    const want = reference(model, input);
    expect(worst(got.values, want.values)).toBeLessThan(1e-12);
    expect(worst(got.gradients, want.gradients)).toBeLessThan(1e-12);
  });

  it('a batch larger than one slice of the kernels’ memory (65,536 points)', () => {
    const model = createModel(randomParameters({ layers: 2, dim: 2, seed: 3 }));
    const input = points(model, 65_536 + 3, 8);
    const got = valueAndGradient(model, input);
    const want = reference(model, input);
    expect(worst(got.values, want.values)).toBeLessThan(1e-12);
    expect(worst(got.gradients, want.gradients)).toBeLessThan(1e-12);
    expect(worst(evaluate(model, input), want.values)).toBeLessThan(1e-12);
    expect(referenceEvaluate(model, input, new Float64Array(65_539))[65_538]).toBe(want.values[65_538]);
  });
});

describe('every point gets the same bits alone (single-point kernel) as in any batch (chunked kernel)', () => {
  it.each([1, 3, 4, 6, 32, 33])('d = %i', (dim) => {
    for (const activation of hiddenActivationNames) {
      const model = createModel(randomParameters({ layers: 6, dim, seed: dim, activation, output: 'logistic' }));
      const n = chunkSize(model) + 5;
      const input = points(model, n, dim + 1);
      const batch = valueAndGradient(model, input);
      const d0 = model.inputDim;
      for (let p = 0; p < n; p++) {
        const one = valueAndGradient(model, input.subarray(p * d0, (p + 1) * d0));
        expect(sameBits(one.values, batch.values.subarray(p, p + 1)), `${activation}, point ${p}`).toBe(true);
        expect(sameBits(one.gradients, batch.gradients.subarray(p * d0, (p + 1) * d0)), `${activation}, point ${p}`).toBe(true);
      }
    }
  });
});

describe('a small batch is laid out at its own width, and gives the same bits as a full chunk', () => {
  it.each([2, 3, 4, 5, 9, 17])('%i points', (n) => {
    const model = createModel(randomParameters({ layers: 5, dim: 6, inputDim: 3, seed: n, activation: 'tanh' }));
    const full = points(model, chunkSize(model), n);
    const whole = valueAndGradient(model, full);
    const small = valueAndGradient(model, full.subarray(0, n * 3));
    expect(sameBits(small.values, whole.values.subarray(0, n))).toBe(true);
    expect(sameBits(small.gradients, whole.gradients.subarray(0, n * 3))).toBe(true);
  });
});

describe('models alternate freely (the kernels cache each model’s layout by identity)', () => {
  it('interleaved calls on many models each get their own model’s answer', () => {
    const models = Array.from({ length: 40 }, (_, i) => createModel(randomParameters({ layers: 1 + (i % 5), dim: 1 + (i % 9), seed: i })));
    const inputs = models.map((m, i) => points(m, 1 + (i % 3), i));
    for (let round = 0; round < 3; round++) {
      models.forEach((model, i) => {
        expect(worst(valueAndGradient(model, inputs[i]).values, reference(model, inputs[i]).values)).toBeLessThan(1e-12);
      });
    }
  });
});

/** The distance in units in the last place between two doubles (0 for equal, and for two NaNs). */
function ulps(a: number, b: number): number {
  if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) return 0;
  const bits = new BigInt64Array(Float64Array.of(a, b).buffer);
  const ordered = (x: bigint) => (x < 0n ? -(x & 0x7fffffffffffffffn) : x);
  const d = ordered(bits[0]) - ordered(bits[1]);
  return Number(d < 0n ? -d : d);
}

describe('the kernels’ tanh and exp', () => {
  const uniform = normalGenerator(77);
  const sample = (n: number, draw: () => number) => Float64Array.from({ length: n }, draw);
  const specials = [0, -0, 5e-324, -5e-324, 1e-310, 2.2250738585072014e-308, 0.55, -0.55, 0.5499999999999999, 19.1, -19.1, 20, 1e300, Infinity, -Infinity, NaN];

  it.each([
    ['|x| < 1.2', () => uniform() * 0.6],
    ['|x| < 25', () => uniform() * 8],
    ['tiny and subnormal x', () => uniform() * 10 ** (-300 * Math.abs(uniform()) % 310)],
  ] as const)('tanh is within 2 ulp of Math.tanh: %s', (_range, draw) => {
    const x = Float64Array.from([...specials, ...sample(200_000, draw)]);
    const y = simdElementwise('tanh', x);
    let largest = 0;
    for (let i = 0; i < x.length; i++) largest = Math.max(largest, ulps(y[i], Math.tanh(x[i])));
    expect(largest).toBeLessThanOrEqual(2);
    expect([...y.subarray(0, 2)].map((v) => Object.is(v, -0))).toEqual([false, true]);
    expect(y[specials.indexOf(Infinity)]).toBe(1);
    expect(y[specials.indexOf(-Infinity)]).toBe(-1);
    expect(y[specials.length - 1]).toBeNaN();
  });

  it('exp (for sigmoid) is within 1 ulp of Math.exp, overflowing and underflowing where Math.exp does', () => {
    const x = Float64Array.from([0, -0, 709.78, 709.79, 710, -745.1, -745.2, -746, 1e-320, Infinity, -Infinity, NaN, ...sample(200_000, () => uniform() * 200)]);
    const y = simdElementwise('exp', x);
    let largest = 0;
    for (let i = 0; i < x.length; i++) largest = Math.max(largest, ulps(y[i], Math.exp(x[i])));
    expect(largest).toBeLessThanOrEqual(1);
  });
});
