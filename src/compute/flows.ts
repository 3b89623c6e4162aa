/**
 * Hamiltonian flows as operations (./operations.ts), so that the executor runs them as it runs
 * the others: the "points" are a batch's states (2n numbers each, q first), and the subject is
 * the Hamiltonian (its networks), with a flow's method and steps. Trajectories are independent,
 * so a batch is cut into slices of trajectories for the pool like any other; each slice checks
 * for cancellation between steps, and says how far it got in the run's progress cells, which a
 * streaming answer watches.
 */
import {
  FLOW_END,
  halfDimension,
  integrateInto,
  saveCount,
  sweepFlops,
  vectorFieldInto,
  type FlowMethod,
  type FlowSpec,
  type HamiltonianModels,
  type ResNetModel,
} from '../kernels/index.js';
import type { Operation, Output, Subject } from './operations.js';

/** A Hamiltonian as a subject: the inputs are states of 2n numbers. */
export interface HamiltonianSubject extends Subject {
  readonly hamiltonian: HamiltonianModels;
  readonly affine: null;
}

/** A flow's subject: the Hamiltonian, and how to integrate. */
export interface FlowProblem extends HamiltonianSubject {
  readonly spec: FlowSpec;
}

export const hamiltonianSubject = (hamiltonian: HamiltonianModels): HamiltonianSubject => ({ hamiltonian, inputDim: 2 * halfDimension(hamiltonian), affine: null });

export const flowProblem = (hamiltonian: HamiltonianModels, spec: FlowSpec): FlowProblem => ({ ...hamiltonianSubject(hamiltonian), spec });

const networksOf = ({ hamiltonian }: HamiltonianSubject): readonly ResNetModel[] =>
  hamiltonian.kind === 'separable' ? [hamiltonian.kinetic, hamiltonian.potential] : [hamiltonian.model];

function revive<S extends HamiltonianSubject>(subject: S, [first, second]: readonly ResNetModel[]): S {
  const hamiltonian: HamiltonianModels = subject.hamiltonian.kind === 'separable' ? { kind: 'separable', kinetic: first, potential: second } : { kind: 'general', model: first };
  return { ...subject, hamiltonian };
}

function describe({ hamiltonian }: HamiltonianSubject): string {
  const of = (model: ResNetModel) => `K = ${model.layers}, d = ${model.dim}`;
  return hamiltonian.kind === 'separable' ? `T (${of(hamiltonian.kinetic)}) and V (${of(hamiltonian.potential)})` : `H (${of(hamiltonian.model)})`;
}

const WIDTH = '2n: q, then p';

/**
 * The flops of one step of a method, counted as the limits count a network call (a whole sweep,
 * 4·K·d², for an evaluation or a gradient; (1 + d₀) of them for a Hessian). The implicit midpoint
 * rule is counted at three Newton iterations, which a step takes at ordinary step sizes.
 */
export function stepFlops(method: FlowMethod, hamiltonian: HamiltonianModels): number {
  if (hamiltonian.kind === 'general') {
    const H = sweepFlops(hamiltonian.model);
    const hessian = H * (1 + hamiltonian.model.inputDim);
    return method === 'rk4' ? 4 * H : method === 'implicit-midpoint' ? H + 3 * hessian : H;
  }
  const T = sweepFlops(hamiltonian.kinetic);
  const V = sweepFlops(hamiltonian.potential);
  const n = hamiltonian.kinetic.inputDim;
  switch (method) {
    case 'stormer-verlet':
      return 2 * T + V;
    case 'rk4':
      return 4 * (T + V);
    case 'implicit-midpoint':
      return T + V + 3 * (1 + n) * (T + V);
    default:
      return T + V;
  }
}

const none = () => {};

const savedStates: Output<FlowProblem> = {
  name: 'states',
  shape: (problem) => [saveCount(problem.spec), problem.inputDim],
  size: (problem) => saveCount(problem.spec) * problem.inputDim,
  rescale: none,
};
const savedEnergy: Output<FlowProblem> = { name: 'energy', shape: (problem) => [saveCount(problem.spec)], size: (problem) => saveCount(problem.spec), rescale: none };
const NUMBER: readonly number[] = [];
const maxEnergyError: Output<FlowProblem> = { name: 'maxEnergyError', shape: () => NUMBER, size: () => 1, rescale: none };
/** [the last step reached, why the trajectory ended (FLOW_END)]. */
const ends: Output<FlowProblem> = { name: 'end', shape: () => [2], size: () => 2, rescale: none };

/** Integrates each initial state (input `initial`) by the problem's method. */
export const flowOperation: Operation<FlowProblem> = {
  name: 'flow',
  inputs: ['initial'],
  outputs: [savedStates, savedEnergy, maxEnergyError, ends],
  width: WIDTH,
  flops: (problem) => problem.spec.steps * stepFlops(problem.spec.method, problem.hamiltonian),
  describe,
  networks: networksOf,
  revive,
  reportsNonFinite: true,
  kernel: (problem, [initial], [states, energy, errors, end], control) => {
    integrateInto(problem.hamiltonian, problem.spec, initial, { states, energy, maxEnergyError: errors, end }, control);
  },
};

const halfOf = (subject: HamiltonianSubject) => subject.inputDim / 2;

/** H, ∂H/∂q and ∂H/∂p at each state (input `states`). */
export const vectorFieldOperation: Operation<HamiltonianSubject> = {
  name: 'vector-field',
  inputs: ['states'],
  outputs: [
    { name: 'energy', shape: () => NUMBER, size: () => 1, rescale: none },
    { name: 'dHdq', shape: (subject) => [halfOf(subject)], size: halfOf, rescale: none },
    { name: 'dHdp', shape: (subject) => [halfOf(subject)], size: halfOf, rescale: none },
  ],
  width: WIDTH,
  flops: ({ hamiltonian }) => (hamiltonian.kind === 'separable' ? sweepFlops(hamiltonian.kinetic) + sweepFlops(hamiltonian.potential) : sweepFlops(hamiltonian.model)),
  describe,
  networks: networksOf,
  revive,
  kernel: ({ hamiltonian }, [states], [energy, dq, dp]) => vectorFieldInto(hamiltonian, states, energy, dq, dp),
};

/** Why a trajectory ended, as answers say it. */
export const endReasons: Readonly<Record<number, string | null>> = {
  [FLOW_END.completed]: null,
  [FLOW_END.nonFinite]: 'non-finite',
  [FLOW_END.newtonFailed]: 'newton-not-converged',
};
