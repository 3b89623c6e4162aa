import { describe, expect, it } from 'vitest';
import {
  createModel,
  evaluateInto,
  ModelDataError,
  nonFinitePoints,
  parameterCount,
  pointCount,
  randomParameters,
  valueAndGradient,
  valueAndGradientInto,
  type ModelParameters,
} from '../../src/kernels/index.js';
import { sameBits } from '../helpers/bits.js';

const valid: ModelParameters = {
  layers: 2,
  dim: 3,
  h: 0.1,
  mu: 0.5,
  W: new Float64Array(18).fill(0.25),
  b: new Float64Array(6).fill(-0.5),
  w: Float64Array.of(1, 2, 3),
};

describe('createModel refuses bad model data and names the problem', () => {
  it.each([
    ['W too short', { W: new Float64Array(17) }, 'W', /W has length 17, expected layers·dim·dim = 18/],
    ['W too long', { W: new Float64Array(19) }, 'W', /W has length 19, expected layers·dim·dim = 18/],
    ['b the wrong length', { b: new Float64Array(3) }, 'b', /b has length 3, expected layers·dim = 6/],
    ['w the wrong length', { w: Float64Array.of(1, 2) }, 'w', /w has length 2, expected dim = 3/],
    ['inputDim above dim', { inputDim: 4 }, 'inputDim', /inputDim 4 exceeds dim 3/],
    ['inputDim 0', { inputDim: 0 }, 'inputDim', /inputDim must be a positive integer, got 0/],
    ['K = 0', { layers: 0, W: [], b: [] }, 'layers', /layers must be a positive integer, got 0/],
    ['d = 0', { dim: 0, W: [], b: [], w: [] }, 'dim', /dim must be a positive integer, got 0/],
    ['fractional K', { layers: 1.5 }, 'layers', /layers must be a positive integer, got 1.5/],
    ['an unknown activation', { activation: 'softplus' }, 'activation', /unknown activation 'softplus', expected one of tanh, sigmoid, relu/],
    ['an unknown output', { output: 'softmax' }, 'output', /unknown output 'softmax', expected one of identity, logistic/],
    ['a prototype key as activation', { activation: 'toString' }, 'activation', /unknown activation 'toString'/],
    ['a NaN weight', { W: Object.assign(new Float64Array(18), { 7: Number.NaN }) }, 'W', /W\[7\] must be a finite number, got NaN/],
    ['an infinite bias', { b: Float64Array.of(0, 0, 0, 0, Infinity, 0) }, 'b', /b\[4\] must be a finite number, got Infinity/],
    ['an infinite h', { h: -Infinity }, 'h', /h must be a finite number, got -Infinity/],
    ['a NaN mu', { mu: Number.NaN }, 'mu', /mu must be a finite number, got NaN/],
  ] as const)('%s', (_name, change, field, message) => {
    const attempt = () => createModel({ ...valid, ...change });
    expect(attempt).toThrow(ModelDataError);
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (error) {
      expect((error as ModelDataError).field).toBe(field);
    }
  });
});

describe('a model', () => {
  it('defaults to tanh, identity and inputDim = dim', () => {
    const model = createModel(valid);
    expect([model.activation, model.output, model.inputDim]).toEqual(['tanh', 'identity', 3]);
  });

  it('is immutable: later writes to the caller’s arrays do not reach it', () => {
    const W = new Float64Array(valid.W);
    const model = createModel({ ...valid, W });
    const points = Float64Array.of(1, 2, 3);
    const before = valueAndGradient(model, points);
    W.fill(9);
    const after = valueAndGradient(model, points);
    expect(sameBits(before.values, after.values)).toBe(true);
    expect(Object.isFrozen(model)).toBe(true);
  });

  it('counts its learned parameters: K·d² + K·d + d + 1', () => {
    expect(parameterCount(createModel(valid))).toBe(18 + 6 + 3 + 1);
  });
});

describe('random parameters', () => {
  it('are the same for the same seed and differ for another', () => {
    const a = randomParameters({ layers: 3, dim: 4, seed: 42 });
    const b = randomParameters({ layers: 3, dim: 4, seed: 42 });
    const c = randomParameters({ layers: 3, dim: 4, seed: 43 });
    expect(sameBits(a.W as Float64Array, b.W as Float64Array)).toBe(true);
    expect(sameBits(a.W as Float64Array, c.W as Float64Array)).toBe(false);
  });

  it('have mean near 0 and variance near 1/d', () => {
    const { W } = randomParameters({ layers: 100, dim: 16, seed: 1 });
    const n = W.length;
    let mean = 0;
    let variance = 0;
    for (let i = 0; i < n; i++) {
      mean += W[i];
      variance += W[i] * W[i];
    }
    expect(Math.abs(mean / n)).toBeLessThan(0.01);
    expect(variance / n).toBeGreaterThan(0.95 / 16);
    expect(variance / n).toBeLessThan(1.05 / 16);
  });

  it('refuse a seed outside [0, 2³²)', () => {
    expect(() => randomParameters({ layers: 1, dim: 1, seed: -1 })).toThrow(/seed must be an integer/);
    expect(() => randomParameters({ layers: 1, dim: 1, seed: 2 ** 32 })).toThrow(/seed must be an integer/);
  });
});

describe('kernel arguments', () => {
  const model = createModel(valid);

  it('points must hold whole points', () => {
    expect(() => pointCount(model, new Float64Array(7))).toThrow(/points has length 7, not a multiple of inputDim 3/);
    expect(() => valueAndGradient(model, new Float64Array(4))).toThrow(RangeError);
  });

  it('output arrays must have the right length', () => {
    const points = new Float64Array(6);
    expect(() => evaluateInto(model, points, new Float64Array(3))).toThrow(/values has length 3, expected 2/);
    expect(() => valueAndGradientInto(model, points, new Float64Array(2), new Float64Array(5))).toThrow(
      /gradients has length 5, expected 6/,
    );
  });
});

describe('non-finite results', () => {
  // relu passes overflow on: a huge weight makes W·y overflow for large |y| only.
  const relu = createModel({ layers: 1, dim: 2, h: 1, mu: 0, W: [1e300, 0, 0, 1], b: [0, 0], w: [1, 1], activation: 'relu' });

  it('are returned as they are and found cheaply', () => {
    const points = Float64Array.of(1, 1, 1e10, 0, 0.5, 0.5, -1e10, 3);
    const { values, gradients } = valueAndGradient(relu, points);
    expect(values[1]).toBe(Infinity);
    expect(Number.isFinite(values[0]) && Number.isFinite(values[2]) && Number.isFinite(values[3])).toBe(true);
    expect(nonFinitePoints(values, gradients, 2)).toEqual([1]);
    expect(nonFinitePoints(values, null, 2)).toEqual([1]);
  });

  it('include a finite value with a non-finite gradient', () => {
    const values = Float64Array.of(1, 2, 3);
    const gradients = Float64Array.of(0, 0, 0, Number.NaN, -Infinity, 0);
    expect(nonFinitePoints(values, gradients, 2)).toEqual([1, 2]);
    expect(nonFinitePoints(values, gradients, 2, 1)).toEqual([1]);
  });
});
