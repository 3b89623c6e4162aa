import type { RandomModelDocument } from './documents.js';
import { pendulumHamiltonian, pendulumKinetic, pendulumPotential } from './pendulum.js';

/**
 * The model registered at start-up, so that the examples in the README and in Swagger UI work
 * with no setup: a seeded random tanh network on two inputs (q, p) embedded in width 4.
 */
export const DEMO_MODEL_ID = 'demo';

export const demoModelDocument: RandomModelDocument = {
  name: 'demo',
  layers: 8,
  dim: 4,
  inputDim: 2,
  seed: 2020,
  h: 0.1,
  activation: 'tanh',
  output: 'identity',
};

/**
 * Registered beside it, for the examples of /flows: networks trained on the pendulum
 * H(q, p) = p²/2 + 1 − cos q (scripts/fixtures/flow_models.py), `demo-pendulum-T` (T(p)) and
 * `demo-pendulum-V` (V(q)) for a separable H, and `demo-pendulum-H` for the whole of it.
 */
export const pendulumModels = [pendulumKinetic, pendulumPotential, pendulumHamiltonian];

/** The ids of every model registered at start-up. */
export const BUILT_IN_MODEL_IDS: readonly string[] = [DEMO_MODEL_ID, ...pendulumModels.map((model) => model.name)];
