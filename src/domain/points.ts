import { LimitExceededError, MalformedPointsError, PointsShapeError } from './errors.js';

/** Makes the Float64Array the points go into (in shared memory when a worker pool will read them). */
export type Allocate = (length: number) => Float64Array;

const plain: Allocate = (length) => new Float64Array(length);

/** Checks the number of points against the limit before anything of their size is allocated. */
export function checkPointCount(count: number, maxPoints: number): void {
  if (count > maxPoints) {
    throw new LimitExceededError('points', `points has ${count} points, more than the limit of ${maxPoints} (MAX_POINTS)`);
  }
}

/** The error for point p, which has `length` coordinates where the model takes inputDim. */
const wrongCoordinates = (p: number, length: number, inputDim: number): PointsShapeError =>
  new PointsShapeError(`points[${p}]`, `points[${p}] has ${length} coordinates, expected ${inputDim} (the model's inputDim)`);

/**
 * Points already in the kernels' layout, `width` coordinates each (as the JSON points reader
 * reads them), checked as flattenPoints checks JSON arrays.
 */
export function checkCoordinates(coordinates: Float64Array, width: number, inputDim: number, maxPoints: number): Float64Array {
  checkPointCount(coordinates.length / width, maxPoints);
  if (width !== inputDim) throw wrongCoordinates(0, width, inputDim);
  return coordinates;
}

/** Points as JSON arrays, flattened point-major into the kernels' layout after a shape check. */
export function flattenPoints(
  points: readonly (readonly number[])[],
  inputDim: number,
  maxPoints: number,
  allocate: Allocate = plain,
): Float64Array {
  checkPointCount(points.length, maxPoints);
  const flat = allocate(points.length * inputDim);
  for (let p = 0; p < points.length; p++) {
    const point = points[p];
    if (point.length !== inputDim) throw wrongCoordinates(p, point.length, inputDim);
    for (let i = 0; i < inputDim; i++) flat[p * inputDim + i] = point[i];
  }
  return flat;
}

/** The error for a coordinate (at flat index e) that is NaN or ±Infinity. */
export const nonFiniteCoordinate = (points: Float64Array, e: number, inputDim: number): MalformedPointsError =>
  new MalformedPointsError(`points[${Math.floor(e / inputDim)}][${e % inputDim}] is ${points[e]}, not a finite number`);

/** Checks that raw points come to a whole number of them, within the limit; returns how many. */
export function checkByteLength(byteLength: number, inputDim: number, maxPoints: number): number {
  const pointBytes = 8 * inputDim;
  if (byteLength === 0 || byteLength % pointBytes !== 0) {
    throw new MalformedPointsError(
      `the body has ${byteLength} bytes, not a positive multiple of ${pointBytes} (inputDim ${inputDim} float64s a point)`,
    );
  }
  const count = byteLength / pointBytes;
  checkPointCount(count, maxPoints);
  return count;
}

/**
 * Points as raw little-endian float64s, point-major: checked for a whole number of points, the
 * limit, and, unless `checkFinite` is false (a worker pool checks them instead), for finite
 * coordinates (a binary body, unlike JSON, can hold NaN and ±Infinity).
 */
export function pointsFromBytes(
  bytes: Uint8Array,
  inputDim: number,
  maxPoints: number,
  allocate: Allocate = plain,
  checkFinite = true,
): Float64Array {
  checkByteLength(bytes.length, inputDim, maxPoints);
  // Bytes that already sit in shared memory, 8-aligned, are used where they are.
  const flat =
    bytes.buffer instanceof SharedArrayBuffer && bytes.byteOffset % 8 === 0
      ? new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8)
      : allocate(bytes.length / 8);
  if (flat.buffer !== bytes.buffer) new Uint8Array(flat.buffer, flat.byteOffset, bytes.length).set(bytes);
  if (checkFinite) {
    for (let e = 0; e < flat.length; e++) if (!Number.isFinite(flat[e])) throw nonFiniteCoordinate(flat, e, inputDim);
  }
  return flat;
}
