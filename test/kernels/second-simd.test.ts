/**
 * The SIMD second-derivative kernels against the plain reference loops of second.ts (which the
 * fixtures check against PyTorch's double autograd): every σ × η, d₀ < d, batches that span
 * several chunks and end in a short one, the Hessian and the Hessian–vector product; and F and
 * ∇F with the very bits of the gradient kernels.
 */
import { describe, expect, it } from 'vitest';
import {
  createModel,
  hessianInto,
  hessianVectorInto,
  hiddenActivationNames,
  outputActivationNames,
  randomParameters,
  referenceHessianInto,
  referenceHessianVectorInto,
  simdAvailable,
  valueAndGradient,
} from '../../src/kernels/index.js';
import { secondChunkSize } from '../../src/kernels/simd/index.js';
import { sameBits } from '../helpers/bits.js';
import { randomPoints } from '../helpers/points.js';

/** The largest |a − b| over the largest |b| (the largest |a − b| when b is all zeros: a ReLU network's Hessian with η the identity). */
function relative(a: Float64Array, b: Float64Array): number {
  let gap = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    gap = Math.max(gap, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? gap : gap / scale;
}

const shapes = [
  { layers: 3, dim: 4, inputDim: 2 },
  { layers: 5, dim: 7, inputDim: 3 },
  { layers: 2, dim: 16, inputDim: 16 },
];

describe.skipIf(!simdAvailable)('SIMD second derivatives', () => {
  it.each(shapes.flatMap((shape) => hiddenActivationNames.flatMap((activation) => outputActivationNames.map((output) => ({ ...shape, activation, output })))))(
    'K = $layers, d = $dim, d₀ = $inputDim, σ = $activation, η = $output: the reference’s numbers to 1e-13',
    ({ layers, dim, inputDim, activation, output }) => {
      const model = createModel(randomParameters({ layers, dim, inputDim, activation, output, seed: layers * dim }));
      const n = secondChunkSize(model, inputDim, true) + 7;
      const points = randomPoints(model, n, dim, 1.5);
      const vectors = randomPoints(model, n, dim + 1, 1);
      const d0 = inputDim;
      const simd = { values: new Float64Array(n), gradients: new Float64Array(n * d0), hessians: new Float64Array(n * d0 * d0) };
      const plain = { values: new Float64Array(n), gradients: new Float64Array(n * d0), hessians: new Float64Array(n * d0 * d0) };
      hessianInto(model, points, simd.values, simd.gradients, simd.hessians);
      referenceHessianInto(model, points, plain.values, plain.gradients, plain.hessians);
      expect(relative(simd.values, plain.values)).toBeLessThan(1e-13);
      expect(relative(simd.gradients, plain.gradients)).toBeLessThan(1e-13);
      expect(relative(simd.hessians, plain.hessians)).toBeLessThan(1e-13);
      // F and ∇F are the gradient kernels' own bits.
      const first = valueAndGradient(model, points);
      expect(sameBits(simd.values, first.values)).toBe(true);
      expect(sameBits(simd.gradients, first.gradients)).toBe(true);
      const products = new Float64Array(n * d0);
      const plainProducts = new Float64Array(n * d0);
      hessianVectorInto(model, points, vectors, new Float64Array(n), new Float64Array(n * d0), products);
      referenceHessianVectorInto(model, points, vectors, new Float64Array(n), new Float64Array(n * d0), plainProducts);
      expect(relative(products, plainProducts)).toBeLessThan(1e-13);
    },
  );

  it('a point gets the same bits alone (single-point kernel) as in a batch, Hessian and HVP', () => {
    const model = createModel(randomParameters({ layers: 4, dim: 5, inputDim: 3, seed: 3, activation: 'sigmoid', output: 'logistic' }));
    const n = 13;
    const points = randomPoints(model, n, 4, 1);
    const all = new Float64Array(n * 9);
    hessianInto(model, points, new Float64Array(n), new Float64Array(n * 3), all);
    const vectors = randomPoints(model, n, 5, 1);
    const products = new Float64Array(n * 3);
    hessianVectorInto(model, points, vectors, new Float64Array(n), new Float64Array(n * 3), products);
    for (let p = 0; p < n; p++) {
      // One point goes through the single-point kernel (features in lanes); a batch through chunks.
      const one = new Float64Array(9);
      hessianInto(model, points.subarray(p * 3, p * 3 + 3), new Float64Array(1), new Float64Array(3), one);
      expect(sameBits(one, all.subarray(p * 9, p * 9 + 9))).toBe(true);
      const product = new Float64Array(3);
      hessianVectorInto(model, points.subarray(p * 3, p * 3 + 3), vectors.subarray(p * 3, p * 3 + 3), new Float64Array(1), new Float64Array(3), product);
      expect(sameBits(product, products.subarray(p * 3, p * 3 + 3))).toBe(true);
    }
  });
});
