/**
 * The points a request brings (and, for some operations, a direction vector per point), as the
 * codecs hand them over: already read (JSON, or a binary body gathered whole), or still arriving
 * (a binary body with a declared length). The executor checks them against the model here, with
 * messages that name the offending point, before anything of their size is allocated.
 */
import { LimitExceededError, MalformedPointsError, PointsShapeError } from '../errors.js';

/** Points already read: `count` of them, point-major. */
export interface PointSet {
  readonly kind: 'set';
  /** The request's name for them, for messages: `points`, `vectors`. */
  readonly name: string;
  readonly count: number;
  /** count·width numbers when every point has `width` coordinates. */
  readonly data: Float64Array;
  /** The coordinates of the first point. */
  readonly width: number;
  /** The first point with another number of coordinates than the first; null when all agree. */
  readonly irregular: { readonly index: number; readonly length: number } | null;
  /** False when the numbers may hold NaN or ±Infinity (raw float64s): the executor checks them. */
  readonly finite: boolean;
}

/** Raw little-endian float64s still arriving: their length is known before the bytes are. */
export interface IncomingPoints {
  readonly kind: 'incoming';
  readonly name: string;
  readonly byteLength: number;
  /** What the bytes are in messages, when not the whole body: `the body's points`. */
  readonly part?: string;
  /** Reads the bytes, in order, into `into` (exactly byteLength long); `arrived` hears of each chunk. */
  fill(into: Uint8Array, arrived: (received: number) => void): Promise<void>;
}

export type PointsInput = PointSet | IncomingPoints;

/** Raw float64s already in memory, as a point set of `width`-coordinate points (the width is checked later). */
export function pointSetOfBytes(name: string, bytes: Uint8Array, width: number, copy: (length: number) => Float64Array): PointSet {
  if (bytes.length % (8 * width) !== 0 || bytes.length === 0) throw wholePoints(bytes.length, width);
  const aligned = bytes.byteOffset % 8 === 0;
  const data = aligned ? new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8) : copy(bytes.length / 8);
  if (!aligned) new Uint8Array(data.buffer, data.byteOffset, bytes.length).set(bytes);
  return { kind: 'set', name, count: bytes.length / 8 / width, data, width, irregular: null, finite: false };
}

export const wholePoints = (byteLength: number, width: number, part = 'the body'): MalformedPointsError =>
  new MalformedPointsError(`${part} has ${byteLength} bytes, not a positive multiple of ${8 * width} (inputDim ${width} float64s a point)`);

/** Refuses more points than the limit, before anything of their size is allocated. */
export function checkPointCount(name: string, count: number, maxPoints: number): void {
  if (count > maxPoints) throw new LimitExceededError(name, `${name} has ${count} points, more than the limit of ${maxPoints} (MAX_POINTS)`);
}

/** The error for more points than the limit, found while reading them (their total is not known). */
export const tooManyPoints = (name: string, maxPoints: number): LimitExceededError =>
  new LimitExceededError(name, `${name} has more than ${maxPoints} points, the limit (MAX_POINTS)`);

/** Checks that every point of the set has inputDim coordinates; names the first that does not. */
export function checkWidth(points: PointSet, inputDim: number, meaning = "the model's inputDim"): void {
  const { name, width, irregular } = points;
  const what = name === 'vectors' ? 'components' : 'coordinates';
  if (width !== inputDim) throw new PointsShapeError(`${name}[0]`, `${name}[0] has ${width} ${what}, expected ${inputDim} (${meaning})`);
  if (irregular !== null) {
    throw new PointsShapeError(`${name}[${irregular.index}]`, `${name}[${irregular.index}] has ${irregular.length} ${what}, expected ${inputDim} (${meaning})`);
  }
}

/** Arriving raw points: a whole number of points of inputDim float64s, within the limit; returns how many. */
export function checkByteLength(points: IncomingPoints, inputDim: number, maxPoints: number): number {
  const pointBytes = 8 * inputDim;
  if (points.byteLength === 0 || points.byteLength % pointBytes !== 0) throw wholePoints(points.byteLength, inputDim, points.part);
  const count = points.byteLength / pointBytes;
  checkPointCount(points.name, count, maxPoints);
  return count;
}

/** The index of the first number that is NaN or ±Infinity, or −1. */
export function firstNonFinite(data: Float64Array): number {
  for (let e = 0; e < data.length; e++) if (!Number.isFinite(data[e])) return e;
  return -1;
}

/** The error for a coordinate (at flat index e) that is NaN or ±Infinity. */
export const nonFiniteCoordinate = (name: string, data: Float64Array, e: number, width: number): MalformedPointsError =>
  new MalformedPointsError(`${name}[${Math.floor(e / width)}][${e % width}] is ${data[e]}, not a finite number`);
