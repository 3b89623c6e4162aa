/**
 * Running the kernels for a request: look the model up, check and flatten the points, sweep on
 * this thread or, for large batches, on the worker pool, and refuse results that are not finite.
 * The HTTP layer only translates to and from this.
 */
import { evaluateInto, nonFinitePoints, valueAndGradientInto, type ResNetModel } from '../kernels/index.js';
import { ModelNotFoundError, NonFiniteResultError } from './errors.js';
import { sharedFloat64, type KernelPool } from './kernel-pool.js';
import { flattenPoints, nonFiniteCoordinate, pointsFromBytes, type Allocate } from './points.js';
import type { ModelRegistry } from './registry.js';
import type { Lease } from './shared-memory.js';

/**
 * Where a request's large arrays come from: a lease on recycled shared memory, asked for only
 * when a batch goes to the pool. Without one, fresh shared memory is used.
 */
export type LeaseSource = () => Lease | null;
const noLease: LeaseSource = () => null;

/** How many offending points a non-finite error names. */
const REPORTED_NON_FINITE = 10;

/** Told about every kernel run, for metrics; the domain does not know how they are kept. */
export interface KernelObserver {
  (operation: 'evaluate' | 'gradient', points: number, seconds: number): void;
}

export interface ComputeOptions {
  readonly registry: ModelRegistry;
  readonly maxPoints: number;
  readonly observe?: KernelObserver;
  /** Large batches go here; without a pool everything runs on the calling thread. */
  readonly pool?: KernelPool | null;
  /** The work (4·K·d² flops a point) from which a batch goes to the pool. */
  readonly poolMinFlops?: number;
}

export interface Sweep {
  /** N values, then N·inputDim gradients when asked for: the raw-float64 answer as it is. */
  readonly results: Float64Array;
  readonly values: Float64Array;
  /** Point-major, inputDim per point; null when only values were asked for. */
  readonly gradients: Float64Array | null;
}

export function createComputeService({ registry, maxPoints, observe = () => {}, pool = null, poolMinFlops = 0 }: ComputeOptions) {
  const flops = (model: ResNetModel, points: number) => 4 * model.layers * model.dim * model.dim * points;
  const offloads = (model: ResNetModel, points: number) => pool !== null && flops(model, points) >= poolMinFlops;
  const allocator = (model: ResNetModel, points: number, lease: LeaseSource): Allocate => {
    if (!offloads(model, points)) return (length) => new Float64Array(length);
    const leased = lease();
    return leased ? leased.float64 : sharedFloat64;
  };

  return {
    /** The model with this id; throws ModelNotFoundError. */
    async model(modelId: string): Promise<ResNetModel> {
      const record = await registry.get(modelId);
      if (record === undefined) throw new ModelNotFoundError(modelId);
      return record.model;
    },

    /** Points given as JSON arrays, in the kernels' layout. */
    fromJson(model: ResNetModel, points: readonly (readonly number[])[], lease: LeaseSource = noLease): Float64Array {
      return flattenPoints(points, model.inputDim, maxPoints, allocator(model, points.length, lease));
    },

    /** Points given as raw little-endian float64s, in the kernels' layout. */
    fromBytes(model: ResNetModel, bytes: Uint8Array, lease: LeaseSource = noLease): Float64Array {
      const points = Math.floor(bytes.length / 8 / model.inputDim);
      // Batches for the pool have their coordinates checked there, off the event loop.
      return pointsFromBytes(bytes, model.inputDim, maxPoints, allocator(model, points, lease), !offloads(model, points));
    },

    /** F (and ∇F) at every point; throws NonFiniteResultError when any is not finite. */
    async sweep(model: ResNetModel, points: Float64Array, withGradient: boolean, lease: LeaseSource = noLease): Promise<Sweep> {
      const d0 = model.inputDim;
      const n = points.length / d0;
      const pooled = offloads(model, n);
      // One block, values then gradients: the binary answer is this block as it is.
      const results = allocator(model, n, lease)(withGradient ? n * (1 + d0) : n);
      const values = results.subarray(0, n);
      const gradients = withGradient ? results.subarray(n) : null;
      const start = performance.now();
      let bad: number[];
      if (pooled) {
        const run = pool!.run(model, points, values, gradients, REPORTED_NON_FINITE);
        // The lease's buffers stay out until the threads are done with them, even if the client is not.
        const outcome = await (lease()?.hold(run) ?? run);
        if (outcome.nonFiniteInput >= 0) throw nonFiniteCoordinate(points, outcome.nonFiniteInput, d0);
        bad = outcome.nonFinitePoints;
      } else {
        if (gradients) valueAndGradientInto(model, points, values, gradients);
        else evaluateInto(model, points, values);
        bad = nonFinitePoints(values, gradients, d0, REPORTED_NON_FINITE);
      }
      observe(withGradient ? 'gradient' : 'evaluate', n, (performance.now() - start) / 1e3);
      if (bad.length > 0) throw new NonFiniteResultError(bad, REPORTED_NON_FINITE);
      return { results, values, gradients };
    },
  };
}

export type ComputeService = ReturnType<typeof createComputeService>;
