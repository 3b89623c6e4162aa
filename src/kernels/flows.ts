/**
 * Hamiltonian flows of learned networks: q̇ = ∂H/∂p, ṗ = −∂H/∂q, with y = (q, p) and
 * f(y) = J∇H(y), J = [[0, I], [−I, 0]]. The Hamiltonian is separable, H(q, p) = T(p) + V(q) with
 * two networks of n inputs each, or general, one network H(q, p) of 2n inputs, q first. Each
 * network's scaling applies (./scaling.ts), so H is the function the models were trained to be.
 *
 * The steps, in the notation of Hairer, Lubich & Wanner (Geometric Numerical Integration), from
 * (qₙ, pₙ) to (qₙ₊₁, pₙ₊₁) with step h:
 *
 *   euler               yₙ₊₁ = yₙ + h f(yₙ)
 *   rk4                 k₁ = f(yₙ), k₂ = f(yₙ + h/2 k₁), k₃ = f(yₙ + h/2 k₂), k₄ = f(yₙ + h k₃),
 *                       yₙ₊₁ = yₙ + h/6 (k₁ + 2k₂ + 2k₃ + k₄)
 *   symplectic-euler-p  pₙ₊₁ = pₙ − h ∇V(qₙ),  qₙ₊₁ = qₙ + h ∇T(pₙ₊₁)
 *   symplectic-euler-q  qₙ₊₁ = qₙ + h ∇T(pₙ),  pₙ₊₁ = pₙ − h ∇V(qₙ₊₁)           (its adjoint)
 *   stormer-verlet      pₙ₊½ = pₙ − h/2 ∇V(qₙ),  qₙ₊₁ = qₙ + h ∇T(pₙ₊½),  pₙ₊₁ = pₙ₊½ − h/2 ∇V(qₙ₊₁)
 *   implicit-midpoint   yₙ₊₁ = yₙ + h f((yₙ + yₙ₊₁)/2)
 *
 * The symplectic Euler variants and Störmer–Verlet need a separable H; the others take either.
 * The implicit midpoint rule is solved by Newton's method on G(Y) = Y − yₙ − h f((yₙ + Y)/2),
 * whose Jacobian I − (h/2) J∇²H((yₙ + Y)/2) comes from the exact Hessian (./second.ts), starting
 * from the explicit Euler step; it stops when the update is at most NEWTON_TOLERANCE·max(1, ‖Y‖∞)
 * (the max norm), and a trajectory that has not converged in NEWTON_MAX_ITERATIONS ends there.
 *
 * Every trajectory of a batch is integrated together, one batched network call per stage, and
 * each is independent of the others: its numbers are the same alone or in any batch. Each step
 * reuses the gradients its predecessor computed at the same state (first same as last), so that
 * Störmer–Verlet costs two gradients and one evaluation a step, the energy included.
 */
import { evaluateInto, valueAndGradientInto } from './index.js';
import type { ResNetModel } from './model.js';
import { scaleGradients, scaleHessians, scaleInputs, scaleValues } from './scaling.js';
import { hessianInto } from './second.js';

export const flowMethods = ['stormer-verlet', 'symplectic-euler-p', 'symplectic-euler-q', 'implicit-midpoint', 'rk4', 'euler'] as const;
export type FlowMethod = (typeof flowMethods)[number];

/** The methods that need H = T(p) + V(q). */
export const separableMethods: readonly FlowMethod[] = ['stormer-verlet', 'symplectic-euler-p', 'symplectic-euler-q'];

/** The methods whose one-step map is symplectic. */
export const symplecticMethods: readonly FlowMethod[] = ['stormer-verlet', 'symplectic-euler-p', 'symplectic-euler-q', 'implicit-midpoint'];

/** Newton's method for the implicit midpoint rule: the relative size of the last update, and the most iterations. */
export const NEWTON_TOLERANCE = 1e-13;
export const NEWTON_MAX_ITERATIONS = 20;

export type HamiltonianModels =
  | { readonly kind: 'separable'; readonly kinetic: ResNetModel; readonly potential: ResNetModel }
  | { readonly kind: 'general'; readonly model: ResNetModel };

/** n: the number of coordinates of q (and of p). */
export const halfDimension = (hamiltonian: HamiltonianModels): number =>
  hamiltonian.kind === 'separable' ? hamiltonian.kinetic.inputDim : hamiltonian.model.inputDim / 2;

export interface FlowSpec {
  readonly method: FlowMethod;
  readonly h: number;
  readonly steps: number;
  /** States are saved at steps 0, every, 2·every, …, and at the last step. */
  readonly every: number;
}

/** The number of saved states of a trajectory: steps 0, every, 2·every, …, and `steps`. */
export const saveCount = ({ steps, every }: Pick<FlowSpec, 'steps' | 'every'>): number => Math.floor(steps / every) + 1 + (steps % every === 0 ? 0 : 1);

/** The step of each saved state. */
export function savedSteps(spec: Pick<FlowSpec, 'steps' | 'every'>): number[] {
  const saved: number[] = [];
  for (let s = 0; s <= spec.steps; s += spec.every) saved.push(s);
  if (saved.at(-1) !== spec.steps) saved.push(spec.steps);
  return saved;
}

/** Why a trajectory ended before its last step (0: it did not). */
export const FLOW_END = { completed: 0, nonFinite: 1, newtonFailed: 2 } as const;

/** A network with its scaling, on batches of up to `capacity` points; allocates nothing per call. */
export class Network {
  private readonly mapped: Float64Array;
  constructor(
    readonly model: ResNetModel,
    capacity: number,
  ) {
    this.mapped = new Float64Array(capacity * model.inputDim);
  }

  private input(points: Float64Array): Float64Array {
    const { affine } = this.model;
    if (affine === null) return points;
    return scaleInputs(affine, points, points.length === this.mapped.length ? this.mapped : this.mapped.subarray(0, points.length));
  }

  valueAndGradient(points: Float64Array, values: Float64Array, gradients: Float64Array): void {
    valueAndGradientInto(this.model, this.input(points), values, gradients);
    const { affine } = this.model;
    if (affine !== null) {
      scaleValues(affine, values);
      scaleGradients(affine, gradients);
    }
  }

  evaluate(points: Float64Array, values: Float64Array): void {
    evaluateInto(this.model, this.input(points), values);
    if (this.model.affine !== null) scaleValues(this.model.affine, values);
  }

  hessian(points: Float64Array, values: Float64Array, gradients: Float64Array, hessians: Float64Array): void {
    hessianInto(this.model, this.input(points), values, gradients, hessians);
    const { affine } = this.model;
    if (affine !== null) {
      scaleValues(affine, values);
      scaleGradients(affine, gradients);
      scaleHessians(affine, hessians);
    }
  }
}

/**
 * H, ∇H and ∇²H on batches of m states (m × 2n, point-major, q first); gradients are (∂H/∂q,
 * ∂H/∂p) and Hessians 2n × 2n, row-major.
 */
export class Hamiltonian {
  readonly n: number;
  private readonly networks: Network[];
  // Scratch for a separable H: q and p apart, and each part's results.
  private readonly q: Float64Array;
  private readonly p: Float64Array;
  private readonly values: Float64Array;
  private readonly gradients: Float64Array;
  private readonly hessians: Float64Array;

  constructor(
    readonly models: HamiltonianModels,
    readonly capacity: number,
  ) {
    const n = (this.n = halfDimension(models));
    this.networks = models.kind === 'separable' ? [new Network(models.kinetic, capacity), new Network(models.potential, capacity)] : [new Network(models.model, capacity)];
    const parts = models.kind === 'separable' ? capacity * n : 0;
    this.q = new Float64Array(parts);
    this.p = new Float64Array(parts);
    this.values = new Float64Array(models.kind === 'separable' ? capacity : 0);
    this.gradients = new Float64Array(parts);
    this.hessians = new Float64Array(parts * n);
  }

  get kinetic(): Network {
    return this.networks[0];
  }
  get potential(): Network {
    return this.networks[1];
  }

  /** q into `into` (m × n) from the states. */
  positions(states: Float64Array, m: number, into = this.q): Float64Array {
    const n = this.n;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) into[i * n + j] = states[i * 2 * n + j];
    return into.length === m * n ? into : into.subarray(0, m * n);
  }

  /** p into `into` (m × n) from the states. */
  momenta(states: Float64Array, m: number, into = this.p): Float64Array {
    const n = this.n;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) into[i * n + j] = states[i * 2 * n + n + j];
    return into.length === m * n ? into : into.subarray(0, m * n);
  }

  /** H and ∇H at m states. */
  gradient(states: Float64Array, m: number, values: Float64Array, gradients: Float64Array): void {
    const n = this.n;
    if (this.models.kind === 'general') return this.networks[0].valueAndGradient(states.subarray(0, 2 * n * m), values.subarray(0, m), gradients.subarray(0, 2 * n * m));
    const own = this.values.subarray(0, m);
    const part = this.gradients.subarray(0, m * n);
    this.kinetic.valueAndGradient(this.momenta(states, m), values.subarray(0, m), part);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) gradients[i * 2 * n + n + j] = part[i * n + j];
    this.potential.valueAndGradient(this.positions(states, m), own, part);
    for (let i = 0; i < m; i++) {
      values[i] += own[i];
      for (let j = 0; j < n; j++) gradients[i * 2 * n + j] = part[i * n + j];
    }
  }

  /** H, ∇H and ∇²H at m states. */
  hessian(states: Float64Array, m: number, values: Float64Array, gradients: Float64Array, hessians: Float64Array): void {
    const n = this.n;
    const w = 2 * n;
    if (this.models.kind === 'general') {
      return this.networks[0].hessian(states.subarray(0, w * m), values.subarray(0, m), gradients.subarray(0, w * m), hessians.subarray(0, w * w * m));
    }
    // ∇²H = diag(∇²V(q), ∇²T(p)).
    hessians.fill(0, 0, w * w * m);
    const own = this.values.subarray(0, m);
    const part = this.gradients.subarray(0, m * n);
    const block = this.hessians.subarray(0, m * n * n);
    for (const [network, offset] of [[this.kinetic, n], [this.potential, 0]] as const) {
      network.hessian(offset === 0 ? this.positions(states, m) : this.momenta(states, m), own, part, block);
      for (let i = 0; i < m; i++) {
        if (offset === n) values[i] = own[i];
        else values[i] += own[i];
        for (let j = 0; j < n; j++) {
          gradients[i * w + offset + j] = part[i * n + j];
          for (let k = 0; k < n; k++) hessians[i * w * w + (offset + j) * w + offset + k] = block[i * n * n + j * n + k];
        }
      }
    }
  }
}

/** f(y) = J∇H(y) = (∂H/∂p, −∂H/∂q) for m states, from their gradients. */
function fieldFromGradients(gradients: Float64Array, m: number, n: number, into: Float64Array): void {
  const w = 2 * n;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      into[i * w + j] = gradients[i * w + n + j];
      into[i * w + n + j] = -gradients[i * w + j];
    }
  }
}

/** Solves A x = b in place (A is r × r, row-major; b becomes x) by Gaussian elimination with partial pivoting; false when A is singular. */
export function solveInPlace(A: Float64Array, b: Float64Array, r: number): boolean {
  for (let c = 0; c < r; c++) {
    let pivot = c;
    for (let i = c + 1; i < r; i++) if (Math.abs(A[i * r + c]) > Math.abs(A[pivot * r + c])) pivot = i;
    if (!(Math.abs(A[pivot * r + c]) > 0)) return false;
    if (pivot !== c) {
      for (let k = 0; k < r; k++) {
        const t = A[c * r + k];
        A[c * r + k] = A[pivot * r + k];
        A[pivot * r + k] = t;
      }
      const t = b[c];
      b[c] = b[pivot];
      b[pivot] = t;
    }
    for (let i = c + 1; i < r; i++) {
      const factor = A[i * r + c] / A[c * r + c];
      if (factor === 0) continue;
      for (let k = c; k < r; k++) A[i * r + k] -= factor * A[c * r + k];
      b[i] -= factor * b[c];
    }
  }
  for (let i = r - 1; i >= 0; i--) {
    let acc = b[i];
    for (let k = i + 1; k < r; k++) acc -= A[i * r + k] * b[k];
    b[i] = acc / A[i * r + i];
  }
  return true;
}

/** The per-trajectory results of integrateInto, each point-major: m × saves × 2n, m × saves, m, m × 2. */
export interface FlowOutputs {
  readonly states: Float64Array;
  readonly energy: Float64Array;
  readonly maxEnergyError: Float64Array;
  /** [the last step reached, why it ended (FLOW_END)] per trajectory. */
  readonly end: Float64Array;
}

/** How a long run is watched: asked between steps whether to stop, and told how far it got. */
export interface FlowControl {
  cancelled(): boolean;
  progress(step: number): void;
}

const UNWATCHED: FlowControl = { cancelled: () => false, progress: () => {} };

/**
 * Integrates the m initial states (m × 2n, q first) by `spec`, and writes every trajectory's saved
 * states, their energies, the largest |H − H₀| over every step, and where it ended. A trajectory
 * that ends early (a state or energy that is not finite, or Newton's method not converging) keeps
 * the saves it reached; the saves after are NaN. Returns false when `control` cancelled the run.
 */
export function integrateInto(models: HamiltonianModels, spec: FlowSpec, initial: Float64Array, outputs: FlowOutputs, control: FlowControl = UNWATCHED): boolean {
  const n = halfDimension(models);
  const w = 2 * n;
  const m = initial.length / w;
  const { method, h, steps, every } = spec;
  const saves = saveCount(spec);
  const H = new Hamiltonian(models, m);
  const y = Float64Array.from(initial);
  const energy = new Float64Array(m);
  const start = new Float64Array(m);
  const alive = new Uint8Array(m).fill(1);
  const { states, energy: savedEnergy, maxEnergyError, end } = outputs;
  states.fill(Number.NaN);
  savedEnergy.fill(Number.NaN);
  maxEnergyError.fill(0);
  const stepper = stepperFor(method, H, m, h, y, energy, alive);
  stepper.prepare();
  start.set(energy);
  let save = 0;
  const record = (step: number) => {
    for (let i = 0; i < m; i++) {
      if (!alive[i]) continue;
      for (let j = 0; j < w; j++) states[(i * saves + save) * w + j] = y[i * w + j];
      savedEnergy[i * saves + save] = energy[i];
    }
    save++;
    control.progress(step);
  };
  for (let i = 0; i < m; i++) {
    end[2 * i] = 0;
    end[2 * i + 1] = FLOW_END.completed;
    if (!Number.isFinite(energy[i])) {
      alive[i] = 0;
      end[2 * i + 1] = FLOW_END.nonFinite;
    }
  }
  record(0);
  for (let s = 1; s <= steps; s++) {
    if (control.cancelled()) return false;
    const failed = stepper.step();
    let any = false;
    for (let i = 0; i < m; i++) {
      if (!alive[i]) continue;
      let finite = Number.isFinite(energy[i]);
      for (let j = 0; finite && j < w; j++) finite = Number.isFinite(y[i * w + j]);
      if (failed !== null && failed[i]) {
        alive[i] = 0;
        end[2 * i + 1] = FLOW_END.newtonFailed;
      } else if (!finite) {
        alive[i] = 0;
        end[2 * i + 1] = FLOW_END.nonFinite;
      } else {
        end[2 * i] = s;
        const error = Math.abs(energy[i] - start[i]);
        if (error > maxEnergyError[i]) maxEnergyError[i] = error;
        any = true;
      }
    }
    if (s % every === 0 || s === steps) record(s);
    if (!any) {
      control.progress(steps);
      break;
    }
  }
  return true;
}

interface Stepper {
  /** Computes what the first step reuses, and the energy at the initial states. */
  prepare(): void;
  /** One step of every trajectory, in place, with the energy at the new states; the trajectories whose solve failed, or null. */
  step(): Uint8Array | null;
}

/** The stepper of a method, over the states y (m × 2n) and their energies, both updated in place. */
function stepperFor(method: FlowMethod, H: Hamiltonian, m: number, h: number, y: Float64Array, energy: Float64Array, alive: Uint8Array): Stepper {
  const n = H.n;
  const w = 2 * n;
  switch (method) {
    case 'stormer-verlet':
    case 'symplectic-euler-p':
    case 'symplectic-euler-q': {
      if (H.models.kind !== 'separable') throw new RangeError(`${method} needs a separable Hamiltonian`);
      const q = new Float64Array(m * n);
      const p = new Float64Array(m * n);
      const dV = new Float64Array(m * n);
      const dT = new Float64Array(m * n);
      const V = new Float64Array(m);
      const T = new Float64Array(m);
      const split = () => {
        H.positions(y, m, q);
        H.momenta(y, m, p);
      };
      const join = () => {
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            y[i * w + j] = q[i * n + j];
            y[i * w + n + j] = p[i * n + j];
          }
          energy[i] = T[i] + V[i];
        }
      };
      const { kinetic, potential } = H;
      // Størmer–Verlet and symplectic-euler-p start with a kick: ∇V at the first state, and T there for H₀.
      const prepareKick = () => {
        split();
        potential.valueAndGradient(q, V, dV);
        kinetic.evaluate(p, T);
        join();
      };
      if (method === 'stormer-verlet') {
        return {
          prepare: prepareKick,
          step() {
            for (let i = 0; i < m * n; i++) p[i] -= (h / 2) * dV[i];
            kinetic.valueAndGradient(p, T, dT);
            for (let i = 0; i < m * n; i++) q[i] += h * dT[i];
            potential.valueAndGradient(q, V, dV);
            for (let i = 0; i < m * n; i++) p[i] -= (h / 2) * dV[i];
            kinetic.evaluate(p, T);
            join();
            return null;
          },
        };
      }
      if (method === 'symplectic-euler-p') {
        return {
          prepare: prepareKick,
          step() {
            for (let i = 0; i < m * n; i++) p[i] -= h * dV[i];
            kinetic.valueAndGradient(p, T, dT);
            for (let i = 0; i < m * n; i++) q[i] += h * dT[i];
            potential.valueAndGradient(q, V, dV);
            join();
            return null;
          },
        };
      }
      return {
        prepare() {
          split();
          kinetic.valueAndGradient(p, T, dT);
          potential.evaluate(q, V);
          join();
        },
        step() {
          for (let i = 0; i < m * n; i++) q[i] += h * dT[i];
          potential.valueAndGradient(q, V, dV);
          for (let i = 0; i < m * n; i++) p[i] -= h * dV[i];
          kinetic.valueAndGradient(p, T, dT);
          join();
          return null;
        },
      };
    }
    case 'euler':
    case 'rk4': {
      const gradients = new Float64Array(m * w);
      const k1 = new Float64Array(m * w);
      const stage = new Float64Array(m * w);
      const scratch = new Float64Array(m);
      const k = method === 'rk4' ? [new Float64Array(m * w), new Float64Array(m * w), new Float64Array(m * w)] : [];
      const at = (states: Float64Array, into: Float64Array, values: Float64Array) => {
        H.gradient(states, m, values, gradients);
        fieldFromGradients(gradients, m, n, into);
      };
      return {
        prepare: () => at(y, k1, energy),
        step() {
          if (method === 'euler') {
            for (let i = 0; i < m * w; i++) y[i] += h * k1[i];
          } else {
            const [k2, k3, k4] = k;
            for (let i = 0; i < m * w; i++) stage[i] = y[i] + (h / 2) * k1[i];
            at(stage, k2, scratch);
            for (let i = 0; i < m * w; i++) stage[i] = y[i] + (h / 2) * k2[i];
            at(stage, k3, scratch);
            for (let i = 0; i < m * w; i++) stage[i] = y[i] + h * k3[i];
            at(stage, k4, scratch);
            for (let i = 0; i < m * w; i++) y[i] += (h / 6) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
          }
          at(y, k1, energy);
          return null;
        },
      };
    }
    case 'implicit-midpoint': {
      const gradients = new Float64Array(m * w);
      const hessians = new Float64Array(m * w * w);
      const f = new Float64Array(m * w);
      const next = new Float64Array(m * w);
      const middle = new Float64Array(m * w);
      const scratch = new Float64Array(m);
      const A = new Float64Array(w * w);
      const delta = new Float64Array(w);
      const pending = new Uint8Array(m);
      const failed = new Uint8Array(m);
      const at = (states: Float64Array, values: Float64Array) => {
        H.gradient(states, m, values, gradients);
        fieldFromGradients(gradients, m, n, f);
      };
      return {
        prepare: () => at(y, energy),
        step() {
          failed.fill(0);
          for (let i = 0; i < m * w; i++) next[i] = y[i] + h * f[i];
          let remaining = 0;
          for (let i = 0; i < m; i++) remaining += pending[i] = alive[i];
          for (let iteration = 0; remaining > 0 && iteration < NEWTON_MAX_ITERATIONS; iteration++) {
            for (let i = 0; i < m * w; i++) middle[i] = (y[i] + next[i]) / 2;
            H.hessian(middle, m, scratch, gradients, hessians);
            for (let i = 0; i < m; i++) {
              if (!pending[i]) continue;
              const g = i * w;
              // −G = y + h f(mid) − Y, with f(mid) = (H_p, −H_q).
              for (let j = 0; j < n; j++) {
                delta[j] = y[g + j] + h * gradients[g + n + j] - next[g + j];
                delta[n + j] = y[g + n + j] - h * gradients[g + j] - next[g + n + j];
              }
              // A = I − (h/2) J∇²H: rows of f_q are (H_pq, H_pp), rows of f_p are −(H_qq, H_qp).
              const S = i * w * w;
              for (let r = 0; r < w; r++) {
                const source = r < n ? r + n : r - n;
                const sign = r < n ? 1 : -1;
                for (let c = 0; c < w; c++) A[r * w + c] = (r === c ? 1 : 0) - (h / 2) * sign * hessians[S + source * w + c];
              }
              if (!solveInPlace(A, delta, w)) {
                pending[i] = 0;
                failed[i] = 1;
                remaining--;
                continue;
              }
              let size = 0;
              let scale = 1;
              for (let j = 0; j < w; j++) {
                next[g + j] += delta[j];
                size = Math.max(size, Math.abs(delta[j]));
                scale = Math.max(scale, Math.abs(next[g + j]));
              }
              if (size <= NEWTON_TOLERANCE * scale) {
                pending[i] = 0;
                remaining--;
              } else if (!Number.isFinite(size)) {
                pending[i] = 0;
                failed[i] = 1;
                remaining--;
              }
            }
          }
          for (let i = 0; i < m; i++) if (pending[i]) failed[i] = 1;
          y.set(next);
          at(y, energy);
          return failed;
        },
      };
    }
  }
}

/** H, ∂H/∂q and ∂H/∂p at m states (m × 2n): for callers who integrate themselves. */
export function vectorFieldInto(models: HamiltonianModels, states: Float64Array, values: Float64Array, dq: Float64Array, dp: Float64Array): void {
  const n = halfDimension(models);
  const m = values.length;
  const gradients = new Float64Array(m * 2 * n);
  new Hamiltonian(models, m).gradient(states, m, values, gradients);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      dq[i * n + j] = gradients[i * 2 * n + j];
      dp[i * n + j] = gradients[i * 2 * n + n + j];
    }
  }
}
