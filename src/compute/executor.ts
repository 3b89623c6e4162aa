/**
 * The executor: runs any operation (./operations.ts) on a model and a batch of points, and owns
 * everything about where and how: the checks of the points against the model, the work budget,
 * this thread or the pool, slices (dispatched as their points arrive, a few at a time so that
 * other requests interleave), recycled memory, cancellation, the non-finite checks and the
 * metrics. It knows no wire format: codecs hand it points and write what it returns.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CancelledError, LimitExceededError, NonFiniteResultError, PointsShapeError } from '../errors.js';
import { RECYCLED_MIN_BYTES, type Lease } from './memory.js';
import type { ResNetModel } from '../kernels/index.js';
import { outputSize, runKernel, UNWATCHED, type AnyOperation, type KernelControl, type Operation, type Subject } from './operations.js';
import { checkByteLength, checkPointCount, checkWidth, firstNonFinite, nonFiniteCoordinate, type PointSet, type PointsInput } from './points.js';
import type { Pool } from './pool.js';
import { nonFinitePoints, type SliceFollowUp, type SliceOutcome } from './slices.js';

/** How many offending points a non-finite error names. */
export const REPORTED_NON_FINITE = 10;

/**
 * The work of one slice, in flops: small enough that a slice takes a few milliseconds (so that
 * cancellation and other requests wait no longer), large enough that handing it to a thread costs
 * little next to it.
 */
export const SLICE_FLOPS = 32_000_000;

export interface ExecutorOptions {
  /** Large batches go here; without a pool everything runs on the calling thread, in slices. */
  readonly pool: Pool | null;
  /** The work (points × the operation's flops a point) from which a batch goes to the pool. */
  readonly poolMinFlops: number;
  readonly maxPoints: number;
  /** The most work one request may ask for; more is refused before any work starts. */
  readonly maxRequestFlops: number;
  /** Told about every run, for metrics. */
  readonly observe?: (operation: string, points: number, seconds: number) => void;
}

/** A run's cancellation, as the executor watches it (an AbortSignal is one). */
export interface Cancellation {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Read only when needed (a small batch on this thread needs neither), so they may be made lazily. */
export interface RunContext {
  /** Aborts the run: slices not yet started are skipped, and run() rejects with CancelledError. */
  readonly signal?: Cancellation | undefined;
  /** Recycled shared memory for the run's large arrays; fresh memory without one. */
  readonly memory?: Lease | null | undefined;
  /**
   * Work for the pool's threads to do on each slice's outputs once they are computed (see
   * SliceFollowUp), asked for as each slice of the n points is dispatched; undefined for none.
   * Slices run on this thread have none.
   */
  readonly followUp?: ((model: ResNetModel, n: number, from: number, to: number) => SliceFollowUp | undefined) | undefined;
  /**
   * Where the kernels say how far each point's work got (one cell a point, in shared memory), so
   * that a long run can be watched while it goes: the steps of a flow, say. Unset for none.
   */
  readonly progress?: Int32Array | undefined;
  /** Told the outputs' views as the work begins, for an answer that streams them as they fill (with `progress`). */
  readonly started?: ((outputs: readonly Float64Array[]) => void) | undefined;
}

/** What a slice's follow-up returned, for the slice of points [from, to). */
export interface FollowedUp {
  readonly from: number;
  readonly to: number;
  readonly value: unknown;
}

export interface Result<M extends Subject = ResNetModel> {
  readonly operation: Operation<M>;
  readonly model: M;
  readonly count: number;
  /** The outputs one after another, in the operation's order: the raw-float64 answer as it is. */
  readonly block: Float64Array;
  /** Views of the block, one per output. */
  readonly outputs: readonly Float64Array[];
  /** The batch ran on the pool. */
  readonly pooled: boolean;
  /** The follow-ups' results, one per slice in the order of the points; null when none ran. */
  readonly followUps: readonly FollowedUp[] | null;
}

/** A Float64Array in shared memory, which pool threads can read and write. */
export const sharedFloat64 = (length: number): Float64Array => new Float64Array(new SharedArrayBuffer(length * 8));

export function createExecutor({ pool, poolMinFlops, maxPoints, maxRequestFlops, observe = () => {} }: ExecutorOptions) {
  /** Where a run's arrays come from: shared memory for the pool; recycled when large enough. */
  const allocator = (pooled: boolean, context: RunContext) => (length: number): Float64Array => {
    if (!pooled && length * 8 < RECYCLED_MIN_BYTES) return new Float64Array(length);
    const lease = context.memory ?? null;
    if (lease !== null) return lease.float64(length);
    return pooled ? sharedFloat64(length) : new Float64Array(length);
  };

  /** Checks each input against the model and the limits; returns the number of points. */
  function countPoints(operation: AnyOperation, model: Subject, inputs: readonly PointsInput[]): number {
    let count = -1;
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i];
      let n: number;
      if (input.kind === 'set') {
        checkPointCount(input.name, input.count, maxPoints);
        checkWidth(input, model.inputDim, operation.width);
        n = input.count;
      } else n = checkByteLength(input, model.inputDim, maxPoints);
      if (i > 0 && n !== count) {
        throw new PointsShapeError(input.name, `${input.name} has ${n} items, expected ${count}: one for each of the ${operation.inputs[0]}`);
      }
      count = n;
    }
    if (count < 1) throw new PointsShapeError(operation.inputs[0], `${operation.inputs[0]} must have at least 1 item`);
    return count;
  }

  function checkBudget(operation: AnyOperation, model: Subject, n: number): number {
    const flops = n * operation.flops(model);
    if (flops > maxRequestFlops) {
      throw new LimitExceededError(
        operation.inputs[0],
        `the request asks for ${n} points × ${operation.flops(model)} flops = ${flops} flops of work (${operation.name} on ${operation.describe(model)}), more than the limit of ${maxRequestFlops} (MAX_REQUEST_FLOPS)`,
      );
    }
    return flops;
  }

  /** The inputs an operation takes, in its order, from those given by name. */
  function inputsOf(operation: AnyOperation, given: Readonly<Record<string, PointsInput>>): PointsInput[] {
    const inputs: PointsInput[] = [];
    for (const name of operation.inputs) {
      const input = given[name];
      if (input === undefined) throw new PointsShapeError(name, `${name} is required`);
      inputs.push(input);
    }
    return inputs;
  }

  /** The outputs' views of one block (the raw answer's layout). */
  function outputsOf(operation: AnyOperation, model: Subject, n: number, allocate: (length: number) => Float64Array) {
    const { outputs: kinds } = operation;
    let total = 0;
    for (let o = 0; o < kinds.length; o++) total += outputSize(kinds[o], model);
    const block = allocate(n * total);
    const outputs: Float64Array[] = new Array(kinds.length);
    let at = 0;
    for (let o = 0; o < kinds.length; o++) {
      const size = n * outputSize(kinds[o], model);
      outputs[o] = kinds.length === 1 ? block : block.subarray(at, at + size);
      at += size;
    }
    return { block, outputs };
  }

  /** The outcome's errors, the metrics, and the result. */
  function finish(operation: AnyOperation, model: Subject, inputs: readonly PointsInput[], n: number, block: Float64Array, outputs: Float64Array[], pooled: boolean, outcome: Merged, start: number): Result<Subject> {
    if (outcome.nonFiniteInput !== null) {
      const { input, element } = outcome.nonFiniteInput;
      throw nonFiniteCoordinate(inputs[input].name, outcome.inputData[input], element, model.inputDim);
    }
    observe(operation.name, n, (performance.now() - start) / 1e3);
    if (outcome.nonFinitePoints.length > 0) throw new NonFiniteResultError(outcome.nonFinitePoints, REPORTED_NON_FINITE);
    return { operation, model, count: n, block, outputs, pooled, followUps: outcome.followUps ?? null };
  }

  return {
    /**
     * Runs `operation` on `model` at the points (and other per-point inputs) given by name. Rejects
     * with the checks' errors, NonFiniteResultError when a result is not finite, and CancelledError
     * when the context's signal aborts first. A small batch of points already read (one point, say)
     * is computed at once, in this call, and its result returned as it is; errors always come as a
     * rejection.
     */
    run<M extends Subject>(operation: Operation<M>, model: M, given: Readonly<Record<string, PointsInput>>, context: RunContext = {}): Result<M> | Promise<Result<M>> {
      try {
        const inputs = inputsOf(operation, given);
        const n = countPoints(operation, model, inputs);
        const flops = checkBudget(operation, model, n);
        const pooled = pool !== null && flops >= poolMinFlops;
        const allocate = allocator(pooled, context);
        const { block, outputs } = outputsOf(operation, model, n, allocate);
        context.started?.(outputs);
        const start = performance.now();
        const small = !pooled && flops <= SLICE_FLOPS && inputs.every((input) => input.kind === 'set');
        const any = operation as unknown as AnyOperation;
        if (small) return finish(any, model, inputs, n, block, outputs, false, computeHere(any, model, inputs as PointSet[], outputs, n, context), start) as unknown as Result<M>;
        const outcome = pooled ? onPool(any, model, inputs, outputs, n, allocate, context) : here(any, model, inputs, outputs, n, allocate, context);
        return outcome.then((merged) => finish(any, model, inputs, n, block, outputs, pooled, merged, start) as unknown as Result<M>);
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };

  /** A small batch, its points read, on this thread, at once. */
  function computeHere(operation: AnyOperation, model: Subject, inputs: readonly PointSet[], outputs: Float64Array[], n: number, context: RunContext): Merged {
    const data: Float64Array[] = [];
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i];
      data.push(input.data);
      const bad = input.finite ? -1 : firstNonFinite(input.data);
      if (bad >= 0) return { nonFiniteInput: { input: i, element: bad }, nonFinitePoints: [], inputData: data };
    }
    // At once, in this call: nothing can cancel it meanwhile, and only a watched run needs its progress.
    runKernel(operation, model, data, outputs, context.progress === undefined ? UNWATCHED : controlHere(context, 0, n));
    return { nonFiniteInput: null, nonFinitePoints: unfinished(operation, outputs, n), inputData: data };
  }

  /** On this thread: at once when small; else in slices, yielding to the event loop between them. */
  async function here(
    operation: AnyOperation,
    model: Subject,
    inputs: readonly PointsInput[],
    outputs: Float64Array[],
    n: number,
    allocate: (length: number) => Float64Array,
    context: RunContext,
  ): Promise<Merged> {
    const d0 = model.inputDim;
    const data: Float64Array[] = [];
    for (const input of inputs) {
      if (input.kind === 'set') data.push(input.data);
      else {
        const room = allocate(n * d0);
        await input.fill(new Uint8Array(room.buffer, room.byteOffset, input.byteLength), () => {});
        data.push(room);
      }
      const checked = input.kind === 'set' && input.finite;
      const bad = checked ? -1 : firstNonFinite(data.at(-1)!);
      if (bad >= 0) return { nonFiniteInput: { input: data.length - 1, element: bad }, nonFinitePoints: [], inputData: data };
    }
    const perSlice = Math.max(1, Math.floor(SLICE_FLOPS / operation.flops(model)));
    if (n <= perSlice) {
      runKernel(operation, model, data, outputs, controlHere(context, 0, n));
      return { nonFiniteInput: null, nonFinitePoints: unfinished(operation, outputs, n), inputData: data };
    }
    const bad: number[] = [];
    for (let from = 0; from < n; from += perSlice) {
      if (from > 0) await nextTurn();
      if (context.signal?.aborted) throw cancelled(context.signal);
      const to = Math.min(n, from + perSlice);
      const sliceOutputs = outputs.map((output) => output.subarray((output.length / n) * from, (output.length / n) * to));
      runKernel(operation, model, data.map((input) => input.subarray(from * d0, to * d0)), sliceOutputs, controlHere(context, from, to));
      if (bad.length < REPORTED_NON_FINITE) bad.push(...unfinished(operation, sliceOutputs, to - from, REPORTED_NON_FINITE - bad.length).map((p) => from + p));
    }
    return { nonFiniteInput: null, nonFinitePoints: bad, inputData: data };
  }

  /**
   * On the pool, in slices of about SLICE_FLOPS, at most one per thread at a time. Inputs still
   * arriving are read into shared memory, and each slice goes out as soon as its points are in.
   */
  async function onPool(
    operation: AnyOperation,
    model: Subject,
    inputs: readonly PointsInput[],
    outputs: Float64Array[],
    n: number,
    allocate: (length: number) => Float64Array,
    context: RunContext,
  ): Promise<Merged> {
    const lease = context.memory ?? null;
    const { signal, followUp, progress } = context;
    const d0 = model.inputDim;
    const data = inputs.map((input) => {
      if (input.kind === 'incoming') return allocate(n * d0);
      if (input.data.buffer instanceof SharedArrayBuffer) return input.data;
      const copy = allocate(input.data.length);
      copy.set(input.data);
      return copy;
    });
    const checkInputs = inputs.some((input) => input.kind === 'incoming' || !input.finite);
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const size = Math.max(1, Math.min(Math.ceil(n / pool!.threads), Math.floor(SLICE_FLOPS / operation.flops(model))));
    const slices = new Slices(n, size, pool!.threads, (from, to) => {
      const run = pool!.slice({
        operation: operation.name,
        model,
        inputs: data.map((input) => input.subarray(from * d0, to * d0)),
        outputs: outputs.map((output) => output.subarray((output.length / n) * from, (output.length / n) * to)),
        checkInputs,
        report: operation.reportsNonFinite ? 0 : REPORTED_NON_FINITE,
        cancel,
        progress: progress?.subarray(from, to),
        // Only answers of operations on one network (the JSON codec's) ask for follow-ups.
        followUp: followUp?.(model as ResNetModel, n, from, to),
      });
      // The lease's buffers stay out until the threads are done with them, even if the request is not.
      return lease ? lease.hold(run) : run;
    });
    const abort = () => {
      Atomics.store(cancel, 0, 1);
      slices.stop();
    };
    signal?.addEventListener('abort', abort, { once: true });
    try {
      const arriving = inputs.findIndex((input) => input.kind === 'incoming');
      if (arriving < 0) slices.arrive(n);
      else {
        const incoming = inputs[arriving] as Extract<PointsInput, { kind: 'incoming' }>;
        const target = data[arriving];
        try {
          await incoming.fill(new Uint8Array(target.buffer, target.byteOffset, incoming.byteLength), (received) => slices.arrive(Math.floor(received / (8 * d0))));
        } catch (error) {
          // The slices already out finish on their own; their outcomes no longer matter.
          slices.stop();
          await slices.settled.catch(() => {});
          throw error;
        }
        slices.arrive(n);
      }
      const outcomes = await slices.settled;
      if (signal?.aborted) throw cancelled(signal);
      return { ...mergeOutcomes(outcomes, d0, REPORTED_NON_FINITE), inputData: data };
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }
}

export type Executor = ReturnType<typeof createExecutor>;

/** The points with results that are not finite, at most `limit`; none for an operation that reports them itself. */
const unfinished = (operation: AnyOperation, outputs: readonly Float64Array[], n: number, limit = REPORTED_NON_FINITE): number[] =>
  operation.reportsNonFinite ? [] : nonFinitePoints(outputs, n, limit);

/** A kernel's control on this thread: the run's signal, and its progress cells for points [from, to). */
function controlHere(context: RunContext, from: number, to: number): KernelControl {
  return {
    cancelled: () => context.signal?.aborted === true,
    progress: (units) => context.progress?.fill(units, from, to),
  };
}

/** The error for an aborted run: the signal's reason when it is one, else the client went away. */
const cancelled = (signal: Cancellation): Error => (signal.reason instanceof CancelledError ? signal.reason : new CancelledError());

interface Merged {
  readonly nonFiniteInput: { readonly input: number; readonly element: number } | null;
  readonly nonFinitePoints: number[];
  /** The inputs as the kernels read them, for naming a bad coordinate. */
  readonly inputData: readonly Float64Array[];
  readonly followUps?: readonly FollowedUp[] | null;
}

/** Outcomes of slices, each with its slice's points [start, end). */
export interface PlacedOutcome {
  readonly start: number;
  readonly end: number;
  readonly outcome: SliceOutcome;
}

/**
 * One outcome for a batch from its slices' (in any order; inputs of `width` numbers a point):
 * indices become the batch's, the first bad input in the batch wins, and the first `report` points with non-finite results are listed.
 */
export function mergeOutcomes(placed: readonly PlacedOutcome[], width: number, report: number): Omit<Merged, 'inputData'> {
  const ordered = [...placed].sort((a, b) => a.start - b.start);
  const bad = ordered.find((p) => p.outcome.nonFiniteInput !== null);
  const followedUp = ordered.length > 0 && ordered.every((p) => 'followUp' in p.outcome);
  return {
    nonFiniteInput: bad ? { input: bad.outcome.nonFiniteInput!.input, element: bad.start * width + bad.outcome.nonFiniteInput!.element } : null,
    nonFinitePoints: ordered.flatMap((p) => p.outcome.nonFinitePoints.map((point) => p.start + point)).slice(0, report),
    followUps: followedUp ? ordered.map((p) => ({ from: p.start, to: p.end, value: p.outcome.followUp })) : null,
  };
}

/**
 * Dispatches the slices of n points, `size` points each, in order, at most `parallel` at a time,
 * each once its points have arrived. `settled` resolves with every outcome once every slice sent
 * has settled and nothing more will be sent: all sent, or stop() called (a bad input found, the
 * request cancelled, the body failed). A slice that finds a bad input stops the dispatch.
 */
export class Slices {
  private next = 0;
  private complete = 0;
  private inFlight = 0;
  private stopped = false;
  private failure: unknown = null;
  private readonly outcomes: PlacedOutcome[] = [];
  readonly settled: Promise<PlacedOutcome[]>;
  private resolve!: (outcomes: PlacedOutcome[]) => void;
  private reject!: (error: unknown) => void;

  constructor(
    private readonly n: number,
    private readonly size: number,
    private readonly parallel: number,
    private readonly run: (from: number, to: number) => Promise<SliceOutcome>,
  ) {
    this.settled = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** The first `points` points have all their inputs. */
  arrive(points: number): void {
    this.complete = Math.max(this.complete, points);
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.inFlight < this.parallel && this.next < this.n) {
      const to = Math.min(this.n, this.next + this.size);
      if (to > this.complete) break;
      const from = this.next;
      this.next = to;
      this.inFlight++;
      this.run(from, to).then(
        (outcome) => {
          this.inFlight--;
          this.outcomes.push({ start: from, end: to, outcome });
          if (outcome.nonFiniteInput !== null) this.stopped = true;
          this.pump();
        },
        (error: unknown) => {
          this.inFlight--;
          this.failure ??= error;
          this.stopped = true;
          this.pump();
        },
      );
    }
    if (this.inFlight === 0 && (this.stopped || this.next >= this.n)) {
      if (this.failure !== null) this.reject(this.failure);
      else this.resolve(this.outcomes);
    }
  }
}
