import { LimitExceededError, PointsShapeError } from './errors.js';

/** Checks the number of points against the limit before anything of their size is allocated. */
export function checkPointCount(count: number, maxPoints: number): void {
  if (count > maxPoints) {
    throw new LimitExceededError('points', `points has ${count} points, more than the limit of ${maxPoints} (MAX_POINTS)`);
  }
}

/** Points as JSON arrays, flattened point-major into the kernels' layout after a shape check. */
export function flattenPoints(points: readonly (readonly number[])[], inputDim: number, maxPoints: number): Float64Array {
  checkPointCount(points.length, maxPoints);
  const flat = new Float64Array(points.length * inputDim);
  for (let p = 0; p < points.length; p++) {
    const point = points[p];
    if (point.length !== inputDim) {
      throw new PointsShapeError(`points[${p}]`, `points[${p}] has ${point.length} coordinates, expected ${inputDim} (the model's inputDim)`);
    }
    for (let i = 0; i < inputDim; i++) flat[p * inputDim + i] = point[i];
  }
  return flat;
}
