/**
 * The layer trace, for people: the forward states Z^(0) … Z^(K) and the adjoints A^(K) … A^(0) of
 * the backward sweep, as the seed's pseudo-code computes them (plain loops, one point at a time):
 *
 *   Z^(0) = (y, 0),  Z^(k+1) = Z^(k) + h·σ(W_k Z^(k) + b_k)
 *   A^(K) = η′(wᵀZ^(K) + μ)·w,  A^(k) = A^(k+1) + W_kᵀ(h·σ′(W_k Z^(k) + b_k) ⊙ A^(k+1))
 *
 * so that ∇F is the first d₀ coordinates of A^(0). Written point-major, (K + 1)·d numbers a point
 * each, layer k at [k·d, (k + 1)·d).
 */
import { hiddenActivations, outputActivations, type Activation } from './activations.js';
import type { ResNetModel } from './model.js';

export function traceInto(model: ResNetModel, points: Float64Array, values: Float64Array, gradients: Float64Array, states: Float64Array, adjoints: Float64Array): void {
  const { layers: K, dim: d, inputDim: d0, h, W, b, w } = model;
  const sigma: Activation = hiddenActivations[model.activation];
  const eta: Activation = outputActivations[model.output];
  const slopes = new Float64Array(K * d);
  const scaled = new Float64Array(d);
  for (let p = 0; p < values.length; p++) {
    const Z = states.subarray(p * (K + 1) * d, (p + 1) * (K + 1) * d);
    const A = adjoints.subarray(p * (K + 1) * d, (p + 1) * (K + 1) * d);
    for (let i = 0; i < d; i++) Z[i] = i < d0 ? points[p * d0 + i] : 0;
    for (let k = 0; k < K; k++) {
      for (let i = 0; i < d; i++) {
        let u = b[k * d + i];
        for (let c = 0; c < d; c++) u += W[(k * d + i) * d + c] * Z[k * d + c];
        const y = sigma.value(u);
        slopes[k * d + i] = h * sigma.derivative(u, y);
        Z[(k + 1) * d + i] = Z[k * d + i] + h * y;
      }
    }
    let x = model.mu;
    for (let i = 0; i < d; i++) x += w[i] * Z[K * d + i];
    values[p] = eta.value(x);
    const g = eta.derivative(x, values[p]);
    for (let i = 0; i < d; i++) A[K * d + i] = g * w[i];
    for (let k = K - 1; k >= 0; k--) {
      for (let i = 0; i < d; i++) scaled[i] = slopes[k * d + i] * A[(k + 1) * d + i];
      for (let r = 0; r < d; r++) {
        let acc = 0;
        for (let i = 0; i < d; i++) acc += W[(k * d + i) * d + r] * scaled[i];
        A[k * d + r] = A[(k + 1) * d + r] + acc;
      }
    }
    for (let r = 0; r < d0; r++) gradients[p * d0 + r] = A[r];
  }
}
