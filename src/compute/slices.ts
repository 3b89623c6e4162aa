/**
 * A slice of a batch: an operation's kernel on a range of points, with the inputs checked before
 * and the results after. The pool's threads run slices (./worker.ts); so does the executor, on
 * this thread, for batches too small for the pool.
 */
import { operations, runKernel, type KernelControl, type Subject } from './operations.js';

/**
 * Work on a slice's outputs right after its kernel, on the same thread: the function `name` of
 * `module`, called with `argument` and the slice's outputs (a codec writing the slice's share of
 * an answer, say, while the outputs are still in the thread's cache). It runs only when every
 * result of the slice is finite; what it returns comes back as the outcome's `followUp`.
 */
export interface SliceFollowUp {
  readonly module: string;
  readonly name: string;
  readonly argument: unknown;
}

/** A range of points of one batch, for one operation. */
export interface SliceTask {
  readonly kind: 'slice';
  readonly operation: string;
  /**
   * Identify the subject's networks (Operation.networks) for the thread's cache; the same key
   * always means the same network.
   */
  readonly keys: readonly number[];
  readonly model: Subject;
  /** The slice of each input and output, in the operation's order: views of shared memory. */
  readonly inputs: readonly Float64Array[];
  readonly outputs: readonly Float64Array[];
  /** The inputs may hold NaN or ±Infinity (raw float64s): look before computing. */
  readonly checkInputs: boolean;
  /** At most this many points with results that are not finite are reported. */
  readonly report: number;
  /** Shared with the executor: nonzero once the request no longer wants the results. */
  readonly cancel: Int32Array;
  /** The slice's progress cells (RunContext.progress), one a point; unset for none. */
  readonly progress?: Int32Array | undefined;
  readonly followUp?: SliceFollowUp | undefined;
}

/** What a slice found, with indices relative to the slice. */
export interface SliceOutcome {
  /** The slice was not run: the request had been cancelled. */
  readonly cancelled: boolean;
  /** The first input number that is not finite (nothing is computed then), or null. */
  readonly nonFiniteInput: { readonly input: number; readonly element: number } | null;
  /** Points whose results are not all finite. */
  readonly nonFinitePoints: number[];
  /** What the task's follow-up returned, when it ran. */
  readonly followUp?: unknown;
}

/** The points among n whose results (every output's share of each) are not all finite, at most `limit`. */
export function nonFinitePoints(outputs: readonly Float64Array[], n: number, limit: number): number[] {
  // x − x is 0 for every finite x and NaN otherwise: one pass finds whether there is anything to name.
  let sum = 0;
  for (let o = 0; o < outputs.length; o++) {
    const output = outputs[o];
    for (let i = 0; i < output.length; i++) sum += output[i] - output[i];
  }
  if (sum === 0) return [];
  const found: number[] = [];
  for (let p = 0; p < n && found.length < limit; p++) {
    let finite = true;
    for (let o = 0; finite && o < outputs.length; o++) {
      const size = outputs[o].length / n;
      for (let i = p * size; finite && i < (p + 1) * size; i++) finite = Number.isFinite(outputs[o][i]);
    }
    if (!finite) found.push(p);
  }
  return found;
}

/** Runs a slice here, on whichever thread calls it. */
export function runSlice(task: SliceTask, model: Subject = task.model): SliceOutcome {
  if (Atomics.load(task.cancel, 0) !== 0) return { cancelled: true, nonFiniteInput: null, nonFinitePoints: [] };
  if (task.checkInputs) {
    for (let input = 0; input < task.inputs.length; input++) {
      const data = task.inputs[input];
      for (let element = 0; element < data.length; element++) {
        if (!Number.isFinite(data[element])) return { cancelled: false, nonFiniteInput: { input, element }, nonFinitePoints: [] };
      }
    }
  }
  const { cancel, progress } = task;
  const control: KernelControl = {
    cancelled: () => Atomics.load(cancel, 0) !== 0,
    progress: (units) => {
      if (progress !== undefined) for (let i = 0; i < progress.length; i++) Atomics.store(progress, i, units);
    },
  };
  runKernel(operations[task.operation], model, task.inputs, task.outputs, control);
  if (control.cancelled()) return { cancelled: true, nonFiniteInput: null, nonFinitePoints: [] };
  const n = task.inputs[0].length / model.inputDim;
  return { cancelled: false, nonFiniteInput: null, nonFinitePoints: task.report > 0 ? nonFinitePoints(task.outputs, n, task.report) : [] };
}


type ModuleFunctions = Record<string, (argument: unknown, outputs: readonly Float64Array[]) => unknown>;
const modules = new Map<string, Promise<ModuleFunctions>>();

/** Runs a slice, then its follow-up when it has one and every result is finite. */
export async function runSliceAndFollowUp(task: SliceTask, model: Subject = task.model): Promise<SliceOutcome> {
  const outcome = runSlice(task, model);
  const { followUp } = task;
  if (followUp === undefined || outcome.cancelled || outcome.nonFiniteInput !== null || outcome.nonFinitePoints.length > 0) return outcome;
  let module = modules.get(followUp.module);
  if (module === undefined) modules.set(followUp.module, (module = import(followUp.module) as Promise<ModuleFunctions>));
  return { ...outcome, followUp: (await module)[followUp.name](followUp.argument, task.outputs) };
}
