import { normalGenerator, type ResNetModel } from '../../src/kernels/index.js';

/** n points for the model, point-major, each coordinate N(0, scale²) from a seeded stream. */
export function randomPoints(model: ResNetModel, n: number, seed: number, scale = 1): Float64Array {
  const normal = normalGenerator(seed);
  return Float64Array.from({ length: n * model.inputDim }, () => normal() * scale);
}
