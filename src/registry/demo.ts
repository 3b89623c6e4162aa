import type { RandomModelDocument } from './documents.js';

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
