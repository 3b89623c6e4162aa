/**
 * Second derivatives by forward-over-reverse differentiation (Pearlmutter's R-operator): the
 * forward sweep carries, beside Z^k, a tangent Ż^k for each direction v (Ż⁰ = v), and the
 * backward sweep carries, beside the adjoint A^k, its derivative Ȧ^k along that direction:
 *
 *   forward:  U_k = W_k Z^k + b_k,  U̇_k = W_k Ż^k,  Z^{k+1} = Z^k + h·σ(U_k),  Ż^{k+1} = Ż^k + h·σ′(U_k) ⊙ U̇_k
 *   output:   x = wᵀZ^K + μ,  ẋ = wᵀŻ^K,  A^K = η′(x)·w,  Ȧ^K = η″(x)·ẋ·w
 *   backward: A^k = A^{k+1} + W_kᵀ(h·σ′(U_k) ⊙ A^{k+1})
 *             Ȧ^k = Ȧ^{k+1} + W_kᵀ(h·σ″(U_k) ⊙ U̇_k ⊙ A^{k+1} + h·σ′(U_k) ⊙ Ȧ^{k+1})
 *
 * Then ∇F = A⁰ and ∇²F·v = Ȧ⁰ (their first d₀ coordinates), exactly up to rounding: no finite
 * differences. The Hessian is d₀ such products, along the unit vectors e_1 … e_d₀. The plain loops
 * here, one point at a time, are the reference; the SIMD kernels (./simd) do the same in batches,
 * each direction's tangents a plane of their own: one more matrix product per layer each way.
 */
import { hiddenActivations, outputActivations, type Activation } from './activations.js';
import type { ResNetModel } from './model.js';
import { simdAvailable, simdSecond } from './simd/index.js';

interface Scratch {
  readonly z: Float64Array;
  readonly pre: Float64Array;
  /** h·σ′(U_k) and h·σ″(U_k), K·d each. */
  readonly slopes: Float64Array;
  readonly curvatures: Float64Array;
  /** Ż for each direction (m·d), and U̇_k for each layer and direction (K·m·d). */
  readonly tangents: Float64Array;
  readonly tangentPre: Float64Array;
  readonly adjoint: Float64Array;
  /** Ȧ for each direction (m·d). */
  readonly adjointTangents: Float64Array;
  readonly scaled: Float64Array;
  readonly scaledTangents: Float64Array;
}

const scratchFor = ({ layers: K, dim: d }: ResNetModel, m: number): Scratch => ({
  z: new Float64Array(d),
  pre: new Float64Array(d),
  slopes: new Float64Array(K * d),
  curvatures: new Float64Array(K * d),
  tangents: new Float64Array(m * d),
  tangentPre: new Float64Array(K * m * d),
  adjoint: new Float64Array(d),
  adjointTangents: new Float64Array(m * d),
  scaled: new Float64Array(d),
  scaledTangents: new Float64Array(m * d),
});

/**
 * For point p: F into values[p], ∇F into gradients[p·d₀ …), and ∇²F·v for the m directions whose
 * first d₀ coordinates `direction(j, i)` gives, into products[(p·m + j)·d₀ …).
 */
function point(
  model: ResNetModel,
  points: Float64Array,
  p: number,
  m: number,
  direction: (j: number, i: number) => number,
  s: Scratch,
  values: Float64Array,
  gradients: Float64Array,
  products: Float64Array,
): void {
  const { layers: K, dim: d, inputDim: d0, h, W, b, w } = model;
  const sigma: Activation = hiddenActivations[model.activation];
  const eta: Activation = outputActivations[model.output];
  const { z, pre, slopes, curvatures, tangents, tangentPre, adjoint: A, adjointTangents: dA, scaled, scaledTangents } = s;
  for (let i = 0; i < d; i++) z[i] = i < d0 ? points[p * d0 + i] : 0;
  for (let j = 0; j < m; j++) for (let i = 0; i < d; i++) tangents[j * d + i] = i < d0 ? direction(j, i) : 0;
  for (let k = 0; k < K; k++) {
    const Wk = k * d * d;
    for (let i = 0; i < d; i++) {
      let acc = 0;
      for (let c = 0; c < d; c++) acc += W[Wk + i * d + c] * z[c];
      pre[i] = acc + b[k * d + i];
    }
    for (let j = 0; j < m; j++) {
      const U = (k * m + j) * d;
      for (let i = 0; i < d; i++) {
        let acc = 0;
        for (let c = 0; c < d; c++) acc += W[Wk + i * d + c] * tangents[j * d + c];
        tangentPre[U + i] = acc;
      }
    }
    for (let i = 0; i < d; i++) {
      const y = sigma.value(pre[i]);
      slopes[k * d + i] = h * sigma.derivative(pre[i], y);
      curvatures[k * d + i] = h * sigma.second(pre[i], y);
      z[i] += h * y;
    }
    for (let j = 0; j < m; j++) for (let i = 0; i < d; i++) tangents[j * d + i] += slopes[k * d + i] * tangentPre[(k * m + j) * d + i];
  }
  let x = model.mu;
  for (let i = 0; i < d; i++) x += w[i] * z[i];
  const value = eta.value(x);
  values[p] = value;
  const g1 = eta.derivative(x, value);
  const g2 = eta.second(x, value);
  for (let i = 0; i < d; i++) A[i] = g1 * w[i];
  for (let j = 0; j < m; j++) {
    let dx = 0;
    for (let i = 0; i < d; i++) dx += w[i] * tangents[j * d + i];
    for (let i = 0; i < d; i++) dA[j * d + i] = g2 * dx * w[i];
  }
  for (let k = K - 1; k >= 0; k--) {
    const Wk = k * d * d;
    // Both from A^{k+1}, before A is updated.
    for (let i = 0; i < d; i++) scaled[i] = slopes[k * d + i] * A[i];
    for (let j = 0; j < m; j++) {
      const U = (k * m + j) * d;
      for (let i = 0; i < d; i++) scaledTangents[j * d + i] = curvatures[k * d + i] * tangentPre[U + i] * A[i] + slopes[k * d + i] * dA[j * d + i];
    }
    for (let r = 0; r < d; r++) {
      let acc = 0;
      for (let i = 0; i < d; i++) acc += W[Wk + i * d + r] * scaled[i];
      A[r] += acc;
    }
    for (let j = 0; j < m; j++) {
      for (let r = 0; r < d; r++) {
        let acc = 0;
        for (let i = 0; i < d; i++) acc += W[Wk + i * d + r] * scaledTangents[j * d + i];
        dA[j * d + r] += acc;
      }
    }
  }
  for (let r = 0; r < d0; r++) gradients[p * d0 + r] = A[r];
  for (let j = 0; j < m; j++) for (let r = 0; r < d0; r++) products[(p * m + j) * d0 + r] = dA[j * d + r];
}

/** F, ∇F and ∇²F (d₀ × d₀, row-major) at every point: on the SIMD kernels where the machine has them. */
export function hessianInto(model: ResNetModel, points: Float64Array, values: Float64Array, gradients: Float64Array, hessians: Float64Array): void {
  if (simdAvailable) simdSecond(model, points, null, model.inputDim, values, gradients, hessians);
  else referenceHessianInto(model, points, values, gradients, hessians);
}

/** F, ∇F and ∇²F·v at every point, for the direction v given per point in `vectors` (point-major, d₀ each): on the SIMD kernels where the machine has them. */
export function hessianVectorInto(model: ResNetModel, points: Float64Array, vectors: Float64Array, values: Float64Array, gradients: Float64Array, products: Float64Array): void {
  if (simdAvailable) simdSecond(model, points, vectors, 1, values, gradients, products);
  else referenceHessianVectorInto(model, points, vectors, values, gradients, products);
}

/** hessianInto by the plain loops above: the reference the SIMD kernels are tested against. */
export function referenceHessianInto(model: ResNetModel, points: Float64Array, values: Float64Array, gradients: Float64Array, hessians: Float64Array): void {
  const d0 = model.inputDim;
  const scratch = scratchFor(model, d0);
  const unit = (j: number, i: number) => (i === j ? 1 : 0);
  for (let p = 0; p < values.length; p++) point(model, points, p, d0, unit, scratch, values, gradients, hessians);
}

/** hessianVectorInto by the plain loops above. */
export function referenceHessianVectorInto(model: ResNetModel, points: Float64Array, vectors: Float64Array, values: Float64Array, gradients: Float64Array, products: Float64Array): void {
  const d0 = model.inputDim;
  const scratch = scratchFor(model, 1);
  for (let p = 0; p < values.length; p++) point(model, points, p, 1, (_j, i) => vectors[p * d0 + i], scratch, values, gradients, products);
}
