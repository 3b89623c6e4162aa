/**
 * The activation functions of the network, each with its derivative.
 *
 * `derivative(x, y)` receives both the argument x and the value y = f(x) that the forward pass
 * has already computed, so that σ′ = 1 − t² (tanh) or s(1 − s) (sigmoid) costs no second
 * transcendental call. Adding an activation is one entry in one of the two tables below.
 */
export interface Activation {
  readonly value: (x: number) => number;
  readonly derivative: (x: number, y: number) => number;
  /** The second derivative, from x and y = f(x) as the first. */
  readonly second: (x: number, y: number) => number;
}

/** σ, applied elementwise inside every residual layer Φ_k(y) = y + h·σ(W_k y + b_k). */
export const hiddenActivations = {
  tanh: {
    value: Math.tanh,
    derivative: (_x: number, t: number) => 1 - t * t,
    second: (_x: number, t: number) => -2 * t * (1 - t * t),
  },
  sigmoid: {
    value: (x: number) => 1 / (1 + Math.exp(-x)),
    derivative: (_x: number, s: number) => s * (1 - s),
    second: (_x: number, s: number) => s * (1 - s) * (1 - 2 * s),
  },
  relu: {
    // Math.max keeps NaN a NaN, so an overflow upstream is not hidden as 0.
    value: (x: number) => Math.max(x, 0),
    derivative: (x: number) => (x > 0 ? 1 : 0),
    // 0 on both sides of the kink, and at it: σ′ jumps there, and the jump's delta is not a
    // number a Hessian can hold (the gradient takes σ′(0) = 0, and the Hessian the one-sided 0).
    second: () => 0,
  },
} as const satisfies Record<string, Activation>;

/** η, applied to the scalar output G(z) = η(wᵀz + μ). */
export const outputActivations = {
  identity: {
    value: (x: number) => x,
    derivative: () => 1,
    second: () => 0,
  },
  // The scaled tanh of the course project, (1 + tanh(x/2))/2, which is the logistic function.
  logistic: {
    value: (x: number) => 0.5 * (1 + Math.tanh(x / 2)),
    derivative: (x: number) => {
      const t = Math.tanh(x / 2);
      return 0.25 * (1 - t * t);
    },
    second: (x: number) => {
      const t = Math.tanh(x / 2);
      return -0.25 * t * (1 - t * t);
    },
  },
} as const satisfies Record<string, Activation>;

export type HiddenActivationName = keyof typeof hiddenActivations;
export type OutputActivationName = keyof typeof outputActivations;

export const hiddenActivationNames = Object.keys(hiddenActivations) as HiddenActivationName[];
export const outputActivationNames = Object.keys(outputActivations) as OutputActivationName[];

export const isHiddenActivationName = (name: string): name is HiddenActivationName =>
  Object.hasOwn(hiddenActivations, name);
export const isOutputActivationName = (name: string): name is OutputActivationName =>
  Object.hasOwn(outputActivations, name);
