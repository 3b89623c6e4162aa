import { describe, expect, it } from 'vitest';
import {
  createModel,
  evaluate,
  hiddenActivationNames,
  outputActivationNames,
  randomParameters,
  valueAndGradient,
} from '../../src/kernels/index.js';
import { sameBits } from '../helpers/bits.js';
import { randomPoints } from '../helpers/points.js';

describe('central finite differences agree with the backward sweep', () => {
  const step = 1e-6;
  const shapes = [
    { layers: 1, dim: 1, inputDim: 1 },
    { layers: 3, dim: 1, inputDim: 1 },
    { layers: 7, dim: 3, inputDim: 3 },
    { layers: 12, dim: 5, inputDim: 2 },
    { layers: 50, dim: 16, inputDim: 16 },
    { layers: 50, dim: 16, inputDim: 9 },
  ];
  const cases = hiddenActivationNames.flatMap((activation) =>
    outputActivationNames.flatMap((output) => shapes.map((shape) => ({ activation, output, ...shape }))),
  );

  it.each(cases)('σ = $activation, η = $output, K = $layers, d = $dim, d₀ = $inputDim', (c) => {
    const model = createModel(randomParameters({ ...c, seed: 1000 * c.layers + c.dim + c.inputDim }));
    const points = randomPoints(model, 4, c.layers + c.dim);
    const { gradients } = valueAndGradient(model, points);
    const d0 = model.inputDim;
    const shifted = new Float64Array(points);
    let worst = 0;
    for (let p = 0; p < 4; p++) {
      const scale = Math.max(1e-3, ...gradients.subarray(p * d0, (p + 1) * d0).map(Math.abs));
      for (let i = 0; i < d0; i++) {
        const at = p * d0 + i;
        shifted[at] = points[at] + step;
        const forward = evaluate(model, shifted)[p];
        shifted[at] = points[at] - step;
        const backward = evaluate(model, shifted)[p];
        shifted[at] = points[at];
        const difference = (forward - backward) / (2 * step);
        worst = Math.max(worst, Math.abs(difference - gradients[at]) / scale);
      }
    }
    expect(worst).toBeLessThan(1e-6);
  });
});

describe('worked by hand (K = 1, d = 1)', () => {
  // With W = 2, b = −2 and y = 1 the pre-activation is 0, so σ(0) and σ′(0) are exact.
  // z¹ = y + h·σ(0), F = η(w·z¹ + μ), F′ = η′(·)·w·(1 + h·W·σ′(0)); with h = 1/4 and w = 3:
  const hand = { layers: 1, dim: 1, h: 0.25, W: [2], b: [-2], w: [3] };
  const y = Float64Array.of(1);

  it('tanh, identity: F = 3·1 + 0.5 = 3.5, F′ = 3·(1 + 0.25·2·1) = 4.5', () => {
    const model = createModel({ ...hand, mu: 0.5 });
    const { values, gradients } = valueAndGradient(model, y);
    expect([values[0], gradients[0]]).toEqual([3.5, 4.5]);
  });

  it('sigmoid, identity: z¹ = 1 + 0.25·0.5, F = 3·1.125 + 0.5 = 3.875, F′ = 3·(1 + 0.25·2·0.25) = 3.375', () => {
    const model = createModel({ ...hand, mu: 0.5, activation: 'sigmoid' });
    const { values, gradients } = valueAndGradient(model, y);
    expect([values[0], gradients[0]]).toEqual([3.875, 3.375]);
  });

  it('relu, identity at a positive pre-activation (b = 1): z¹ = 1 + 0.25·3, F = 5.75, F′ = 4.5', () => {
    const model = createModel({ ...hand, b: [1], mu: 0.5, activation: 'relu' });
    const { values, gradients } = valueAndGradient(model, y);
    expect([values[0], gradients[0]]).toEqual([5.75, 4.5]);
  });

  it('relu below zero passes nothing on: F = 3·1 + 0.5, F′ = 3', () => {
    const model = createModel({ ...hand, b: [-5], mu: 0.5, activation: 'relu' });
    const { values, gradients } = valueAndGradient(model, y);
    expect([values[0], gradients[0]]).toEqual([3.5, 3]);
  });

  it('tanh, logistic with wz¹ + μ = 0: F = η(0) = 0.5, F′ = η′(0)·4.5 = 0.25·4.5 = 1.125', () => {
    const model = createModel({ ...hand, mu: -3, output: 'logistic' });
    const { values, gradients } = valueAndGradient(model, y);
    expect([values[0], gradients[0]]).toEqual([0.5, 1.125]);
  });

  it('two layers: the backward sweep multiplies the layer Jacobians', () => {
    // Both layers see pre-activation 0: z¹ = 1, z² = 1, each layer's Jacobian is 1 + h·W = 1.5.
    const model = createModel({ layers: 2, dim: 1, h: 0.25, W: [2, 2], b: [-2, -2], w: [3], mu: 0 });
    const { values, gradients } = valueAndGradient(model, y);
    expect([values[0], gradients[0]]).toEqual([3, 3 * 1.5 * 1.5]);
  });
});

describe('input embedding (d₀ < d)', () => {
  it('pads the point with zeros and differentiates only its own coordinates', () => {
    const full = createModel(randomParameters({ layers: 6, dim: 5, seed: 7 }));
    const embedded = createModel({ ...full, inputDim: 3 });
    const points = Float64Array.of(0.3, -1.2, 2.5, 1, 2, 3);
    const padded = Float64Array.of(0.3, -1.2, 2.5, 0, 0, 1, 2, 3, 0, 0);
    const a = valueAndGradient(embedded, points);
    const b = valueAndGradient(full, padded);
    expect(sameBits(a.values, b.values)).toBe(true);
    expect([...a.gradients]).toEqual([...b.gradients.subarray(0, 3), ...b.gradients.subarray(5, 8)]);
  });
});

describe('batches', () => {
  it.each(hiddenActivationNames)('give bit-for-bit the numbers of one point at a time (σ = %s)', (activation) => {
    const model = createModel(randomParameters({ layers: 20, dim: 6, inputDim: 4, seed: 3, activation, output: 'logistic' }));
    const n = 37;
    const points = randomPoints(model, n, 11);
    const batch = valueAndGradient(model, points);
    const batchValues = evaluate(model, points);
    for (let p = 0; p < n; p++) {
      const one = valueAndGradient(model, points.subarray(p * 4, (p + 1) * 4));
      expect(sameBits(one.values, batch.values.subarray(p, p + 1))).toBe(true);
      expect(sameBits(one.gradients, batch.gradients.subarray(p * 4, (p + 1) * 4))).toBe(true);
      expect(sameBits(evaluate(model, points.subarray(p * 4, (p + 1) * 4)), batchValues.subarray(p, p + 1))).toBe(true);
    }
    expect(sameBits(batchValues, batch.values)).toBe(true);
  });

  it('an empty batch gives empty results', () => {
    const model = createModel(randomParameters({ layers: 2, dim: 3, seed: 1 }));
    const { values, gradients } = valueAndGradient(model, new Float64Array(0));
    expect([values.length, gradients.length]).toEqual([0, 0]);
  });
});
