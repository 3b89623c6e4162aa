/**
 * Finite-difference checks of the exact derivatives, as the course teaches gradient checking:
 * central differences of F for the gradient, and of ∇F for the Hessian, coordinate by
 * coordinate. The step for coordinate i is ε_i = ∛u · max(1, |x_i|), u = 2⁻⁵² the rounding unit:
 * it balances the truncation error, O(ε²), against the rounding error, O(u/ε), so that a correct
 * derivative agrees to about u^(2/3) ≈ 4e-11 relative where F is smooth. The step actually taken
 * is (x_i + ε_i) − (x_i − ε_i), as represented.
 */
import { evaluateInto, valueAndGradientInto } from './index.js';
import type { ResNetModel } from './model.js';
import { hessianInto } from './second.js';

export const FD_STEP_FACTOR = Math.cbrt(2 ** -52);

/** The 2·d₀ points around point p, x ± ε_i e_i in the order (−e_0, +e_0, −e_1, …), and their step widths. */
function neighbours(points: Float64Array, p: number, d0: number, into: Float64Array, widths: Float64Array): void {
  for (let i = 0; i < d0; i++) {
    const x = points[p * d0 + i];
    const step = FD_STEP_FACTOR * Math.max(1, Math.abs(x));
    for (const [side, shifted] of [[0, x - step], [1, x + step]] as const) {
      const at = (2 * i + side) * d0;
      for (let c = 0; c < d0; c++) into[at + c] = points[p * d0 + c];
      into[at + i] = shifted;
    }
    widths[i] = x + step - (x - step);
  }
}

/** F and ∇F at every point, and central differences of F beside ∇F (point-major, d₀ each). */
export function gradientCheckInto(model: ResNetModel, points: Float64Array, values: Float64Array, gradients: Float64Array, differences: Float64Array): void {
  valueAndGradientInto(model, points, values, gradients);
  const d0 = model.inputDim;
  const around = new Float64Array(2 * d0 * d0);
  const widths = new Float64Array(d0);
  const f = new Float64Array(2 * d0);
  for (let p = 0; p < values.length; p++) {
    neighbours(points, p, d0, around, widths);
    evaluateInto(model, around, f);
    for (let i = 0; i < d0; i++) differences[p * d0 + i] = (f[2 * i + 1] - f[2 * i]) / widths[i];
  }
}

/** F, ∇F and ∇²F at every point, and central differences of ∇F beside ∇²F (d₀ × d₀ each, row i the derivative of ∂F/∂x_i). */
export function hessianCheckInto(
  model: ResNetModel,
  points: Float64Array,
  values: Float64Array,
  gradients: Float64Array,
  hessians: Float64Array,
  differences: Float64Array,
): void {
  hessianInto(model, points, values, gradients, hessians);
  const d0 = model.inputDim;
  const around = new Float64Array(2 * d0 * d0);
  const widths = new Float64Array(d0);
  const f = new Float64Array(2 * d0);
  const g = new Float64Array(2 * d0 * d0);
  for (let p = 0; p < values.length; p++) {
    neighbours(points, p, d0, around, widths);
    valueAndGradientInto(model, around, f, g);
    for (let j = 0; j < d0; j++) {
      for (let i = 0; i < d0; i++) differences[(p * d0 + i) * d0 + j] = (g[(2 * j + 1) * d0 + i] - g[2 * j * d0 + i]) / widths[j];
    }
  }
}
