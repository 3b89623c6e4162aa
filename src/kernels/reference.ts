/**
 * The reference kernels: plain loops over one point at a time, written to read like the seed
 * document (shared/seed/tma4215-project2-supplement.md). Every fast path is tested against them.
 *
 *   forward:  Z⁰ = (y, 0),  Z^{k+1} = Z^k + h·σ(W_k Z^k + b_k),  F = η(wᵀZ^K + μ)
 *   backward: A = η′(wᵀZ^K + μ)·w;  for k = K−1 … 0:  A ← A + W_kᵀ(S_k ⊙ A),  S_k = h·σ′(W_k Z^k + b_k)
 *
 * The forward pass stores S_k, so the backward pass needs neither Z^k nor a second σ′ call.
 */
import { hiddenActivations, outputActivations, type Activation } from './activations.js';
import type { ResNetModel } from './model.js';

/** Scratch for one point: z (d), pre-activations (d), S (K·d), A (d), S ⊙ A (d). */
interface PointScratch {
  readonly z: Float64Array;
  readonly pre: Float64Array;
  readonly slopes: Float64Array;
  readonly adjoint: Float64Array;
  readonly scaled: Float64Array;
}

const pointScratch = (model: ResNetModel): PointScratch => ({
  z: new Float64Array(model.dim),
  pre: new Float64Array(model.dim),
  slopes: new Float64Array(model.layers * model.dim),
  adjoint: new Float64Array(model.dim),
  scaled: new Float64Array(model.dim),
});

/**
 * Runs the forward sweep for point p and returns wᵀZ^K + μ (before η). When `slopes` is given,
 * it receives S_k = h·σ′(W_k Z^k + b_k) for every layer.
 */
function forward(
  model: ResNetModel,
  points: Float64Array,
  p: number,
  scratch: PointScratch,
  slopes: Float64Array | null,
): number {
  const { layers: K, dim: d, inputDim: d0, h, W, b, w } = model;
  const sigma: Activation = hiddenActivations[model.activation];
  const { z, pre } = scratch;
  for (let i = 0; i < d; i++) z[i] = i < d0 ? points[p * d0 + i] : 0;
  for (let k = 0; k < K; k++) {
    const Wk = k * d * d;
    for (let i = 0; i < d; i++) {
      let acc = 0;
      for (let j = 0; j < d; j++) acc += W[Wk + i * d + j] * z[j];
      pre[i] = acc + b[k * d + i];
    }
    for (let i = 0; i < d; i++) {
      const y = sigma.value(pre[i]);
      if (slopes !== null) slopes[k * d + i] = h * sigma.derivative(pre[i], y);
      z[i] += h * y;
    }
  }
  let acc = 0;
  for (let i = 0; i < d; i++) acc += w[i] * z[i];
  return acc + model.mu;
}

/** values[p] = F(points[p]) for the N = values.length points, point-major with inputDim coordinates. */
export function referenceEvaluate(model: ResNetModel, points: Float64Array, values: Float64Array): Float64Array {
  const eta: Activation = outputActivations[model.output];
  const scratch = pointScratch(model);
  for (let p = 0; p < values.length; p++) values[p] = eta.value(forward(model, points, p, scratch, null));
  return values;
}

/** values[p] = F(points[p]) and gradients[p·d₀ … p·d₀ + d₀) = ∇F(points[p]), from one forward and one backward sweep. */
export function referenceValueAndGradient(
  model: ResNetModel,
  points: Float64Array,
  values: Float64Array,
  gradients: Float64Array,
): void {
  const { layers: K, dim: d, inputDim: d0, W, w } = model;
  const eta: Activation = outputActivations[model.output];
  const scratch = pointScratch(model);
  const { slopes, adjoint: A, scaled } = scratch;
  for (let p = 0; p < values.length; p++) {
    const x = forward(model, points, p, scratch, slopes);
    values[p] = eta.value(x);
    const g = eta.derivative(x, values[p]);
    for (let i = 0; i < d; i++) A[i] = g * w[i];
    for (let k = K - 1; k >= 0; k--) {
      const Wk = k * d * d;
      for (let i = 0; i < d; i++) scaled[i] = slopes[k * d + i] * A[i];
      // A ← A + W_kᵀ(S_k ⊙ A): column r of W_k, read in place (no transposed copy).
      for (let r = 0; r < d; r++) {
        let acc = 0;
        for (let i = 0; i < d; i++) acc += W[Wk + i * d + r] * scaled[i];
        A[r] += acc;
      }
    }
    for (let r = 0; r < d0; r++) gradients[p * d0 + r] = A[r];
  }
}
