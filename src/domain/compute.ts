/**
 * Running the kernels for a request: look the model up, check and flatten the points, sweep on
 * this thread or, for large batches, on the worker pool, and refuse results that are not finite.
 * The HTTP layer only translates to and from this.
 */
import { evaluateInto, nonFinitePoints, valueAndGradientInto, type ResNetModel } from '../kernels/index.js';
import { MalformedPointsError, ModelNotFoundError, NonFiniteResultError } from './errors.js';
import { textRoom, textRoomFor, writeJsonText, type JsonText } from './json-text.js';
import { mergeOutcomes, sharedFloat64, type KernelPool } from './kernel-pool.js';
import type { KernelOutcome } from './kernel-worker.js';
import { checkByteLength, checkCoordinates, flattenPoints, nonFiniteCoordinate, pointsFromBytes, type Allocate } from './points.js';
import type { ModelRegistry } from './registry.js';
import { RECYCLED_MIN_BYTES, type Lease } from './shared-memory.js';

/**
 * Where a request's large arrays come from: a lease on recycled shared memory, asked for when a
 * batch goes to the pool, or when an array of a batch on this thread is large enough to be
 * recycled (RECYCLED_MIN_BYTES). Without one, fresh memory is used.
 */
export type LeaseSource = () => Lease | null;
const noLease: LeaseSource = () => null;

/** How many offending points a non-finite error names. */
const REPORTED_NON_FINITE = 10;

/**
 * From this many points, a JSON answer swept on this thread is written by numbersJson too, as on
 * the pool; smaller ones are written as strings (exact-json), which costs less for a few numbers.
 */
const TEXT_POINTS = 64;

/**
 * Memory that is about to be written over: Node's unzeroed allocation, which reuses freed memory,
 * where a zeroed array of the same size costs fresh pages (3,900 points' text room: measured
 * 1.86 against 1.91 ms, and 31 against 54 µs at 64 points, both with the writing).
 */
const unzeroed = (length: number): Float64Array => {
  const bytes = Buffer.allocUnsafe(length * 8);
  return new Float64Array(bytes.buffer, bytes.byteOffset, length);
};

/**
 * Arrays of a batch swept on this thread: from the request's recycled memory when they are large
 * enough to be recycled, since fresh memory of that size costs a page fault per 4 KiB page when
 * first written (a 16,384-point JSON /gradient here: ~560 faults and 29 ms of CPU with fresh
 * arrays, ~210 and 22 ms with recycled ones); small ones from `fresh`.
 */
const onThisThread =
  (lease: LeaseSource, fresh: Allocate): Allocate =>
  (length) =>
    (length * 8 >= RECYCLED_MIN_BYTES ? lease()?.float64(length) : undefined) ?? fresh(length);

/**
 * Raw points still arriving (a request body being read): their length is known before the bytes
 * are, and the chunks come in order.
 */
export interface IncomingBytes {
  readonly byteLength: number;
  readonly chunks: AsyncIterable<Uint8Array>;
}

/** An arriving batch for the pool goes out in about this many slices, each as soon as its bytes are in. */
const ARRIVAL_SLICES = 8;
const MIN_SLICE_POINTS = 4096;

/** Reads arriving bytes into `into`, which they must fill exactly; `arrived` hears of each chunk. */
async function receive(incoming: IncomingBytes, into: Uint8Array, arrived: (received: number) => void = () => {}): Promise<void> {
  let received = 0;
  try {
    for await (const chunk of incoming.chunks) {
      if (received + chunk.length > into.length) throw new MalformedPointsError('the body is longer than its Content-Length');
      into.set(chunk, received);
      received += chunk.length;
      arrived(received);
    }
  } catch (error) {
    if (error instanceof MalformedPointsError) throw error;
    throw new MalformedPointsError(`the body could not be read: ${(error as Error).message}`);
  }
  if (received !== into.length) throw new MalformedPointsError('the body is shorter than its Content-Length');
}

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
  /**
   * When JSON was asked for, and the batch has TEXT_POINTS or more: the values as JSON array items
   * and the gradients as JSON rows, without enclosing brackets, written as bytes (on the pool
   * threads when the batch ran there), in pieces to be joined with commas (JsonText).
   */
  readonly json?: JsonText<Uint8Array[]>;
}

export interface SweepOptions {
  readonly withGradient: boolean;
  /** The answer will be JSON: a batch on the pool has its text written there too. */
  readonly json?: boolean;
  readonly lease?: LeaseSource;
}

export function createComputeService({ registry, maxPoints, observe = () => {}, pool = null, poolMinFlops = 0 }: ComputeOptions) {
  const flops = (model: ResNetModel, points: number) => 4 * model.layers * model.dim * model.dim * points;
  const offloads = (model: ResNetModel, points: number) => pool !== null && flops(model, points) >= poolMinFlops;
  const allocator = (model: ResNetModel, points: number, lease: LeaseSource): Allocate => {
    if (!offloads(model, points)) return onThisThread(lease, (length) => new Float64Array(length));
    const leased = lease();
    return leased ? leased.float64 : sharedFloat64;
  };

  /** One block, values then gradients: the binary answer is this block as it is. */
  const resultsFor = (model: ResNetModel, n: number, withGradient: boolean, lease: LeaseSource): Sweep => {
    const results = allocator(model, n, lease)(withGradient ? n * (1 + model.inputDim) : n);
    return { results, values: results.subarray(0, n), gradients: withGradient ? results.subarray(n) : null };
  };

  /** Room for the JSON text of a batch on the pool, when JSON was asked for. */
  const roomFor = (model: ResNetModel, n: number, { withGradient, json = false, lease = noLease }: SweepOptions) =>
    json ? textRoomFor(n, model.inputDim, withGradient, allocator(model, n, lease)) : null;

  /** Points [from, to) on the pool, with the results in place and indices relative to `from`. */
  const onPool = (
    model: ResNetModel,
    points: Float64Array,
    { values, gradients }: Sweep,
    from: number,
    to: number,
    lease: LeaseSource,
    room: JsonText<Uint8Array> | null,
  ) => {
    const d0 = model.inputDim;
    const run = pool!.run(
      model,
      points.subarray(from * d0, to * d0),
      values.subarray(from, to),
      gradients ? gradients.subarray(from * d0, to * d0) : null,
      REPORTED_NON_FINITE,
      room && textRoom(room, d0, from, to),
    );
    // The lease's buffers stay out until the threads are done with them, even if the client is not.
    return lease()?.hold(run) ?? run;
  };

  /** Records the run, and throws for a non-finite coordinate or result. */
  const settle = (model: ResNetModel, points: Float64Array, sweep: Sweep, outcome: KernelOutcome, start: number): Sweep => {
    if (outcome.nonFiniteInput >= 0) throw nonFiniteCoordinate(points, outcome.nonFiniteInput, model.inputDim);
    observe(sweep.gradients ? 'gradient' : 'evaluate', sweep.values.length, (performance.now() - start) / 1e3);
    if (outcome.nonFinitePoints.length > 0) throw new NonFiniteResultError(outcome.nonFinitePoints, REPORTED_NON_FINITE);
    return outcome.json ? { ...sweep, json: outcome.json } : sweep;
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

    /** Points already read into the kernels' layout, `width` coordinates each (JSON read by readPointsJson). */
    fromCoordinates(model: ResNetModel, coordinates: Float64Array, width: number): Float64Array {
      return checkCoordinates(coordinates, width, model.inputDim, maxPoints);
    },

    /** Points given as raw little-endian float64s, in the kernels' layout. */
    fromBytes(model: ResNetModel, bytes: Uint8Array, lease: LeaseSource = noLease): Float64Array {
      const points = Math.floor(bytes.length / 8 / model.inputDim);
      // Batches for the pool have their coordinates checked there, off the event loop.
      return pointsFromBytes(bytes, model.inputDim, maxPoints, allocator(model, points, lease), !offloads(model, points));
    },

    /** F (and ∇F) at every point; throws NonFiniteResultError when any is not finite. */
    async sweep(model: ResNetModel, points: Float64Array, options: SweepOptions): Promise<Sweep> {
      const { withGradient, lease = noLease } = options;
      const d0 = model.inputDim;
      const n = points.length / d0;
      const sweep = resultsFor(model, n, withGradient, lease);
      const start = performance.now();
      let outcome: KernelOutcome;
      if (offloads(model, n)) {
        outcome = await onPool(model, points, sweep, 0, n, lease, roomFor(model, n, options));
      } else {
        const { values, gradients } = sweep;
        if (gradients) valueAndGradientInto(model, points, values, gradients);
        else evaluateInto(model, points, values);
        const bad = nonFinitePoints(values, gradients, d0, REPORTED_NON_FINITE);
        outcome = { nonFiniteInput: -1, nonFinitePoints: bad };
        if (options.json && n >= TEXT_POINTS && bad.length === 0) {
          outcome = { ...outcome, json: writeJsonText(values, gradients, d0, textRoomFor(n, d0, withGradient, onThisThread(lease, unzeroed))) };
        }
      }
      return settle(model, points, sweep, outcome, start);
    },

    /**
     * F (and ∇F) at raw points as they arrive. A batch for the pool starts on its first slice as
     * soon as those bytes are in, so that receiving and computing overlap; smaller batches are
     * read whole, then swept here.
     */
    async sweepIncoming(model: ResNetModel, incoming: IncomingBytes, options: SweepOptions): Promise<Sweep> {
      const { withGradient, lease = noLease } = options;
      const d0 = model.inputDim;
      const n = checkByteLength(incoming.byteLength, d0, maxPoints);
      if (!offloads(model, n)) {
        // Into recycled memory when large enough, where the points are then read in place.
        const room = allocator(model, n, lease)(n * d0);
        const bytes = new Uint8Array(room.buffer, room.byteOffset, incoming.byteLength);
        await receive(incoming, bytes);
        return this.sweep(model, pointsFromBytes(bytes, d0, maxPoints), options);
      }
      const points = allocator(model, n, lease)(n * d0);
      const sweep = resultsFor(model, n, withGradient, lease);
      const room = roomFor(model, n, options);
      const slice = Math.max(MIN_SLICE_POINTS, Math.ceil(n / ARRIVAL_SLICES));
      const starts: number[] = [];
      const runs: Promise<KernelOutcome>[] = [];
      const dispatch = (from: number, to: number) => {
        starts.push(from);
        runs.push(onPool(model, points, sweep, from, to, lease, room));
      };
      const start = performance.now();
      let dispatched = 0;
      try {
        await receive(incoming, new Uint8Array(points.buffer, points.byteOffset, incoming.byteLength), (received) => {
          const complete = Math.floor(received / (8 * d0));
          for (; complete - dispatched >= slice; dispatched += slice) dispatch(dispatched, dispatched + slice);
        });
      } catch (error) {
        // The slices already out finish on their own; their outcomes no longer matter.
        for (const run of runs) run.catch(() => {});
        throw error;
      }
      if (dispatched < n) dispatch(dispatched, n);
      const outcome = mergeOutcomes(await Promise.all(runs), starts, d0, REPORTED_NON_FINITE);
      return settle(model, points, sweep, outcome, start);
    },
  };
}

export type ComputeService = ReturnType<typeof createComputeService>;
