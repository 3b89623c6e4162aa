/**
 * A worker thread of the kernel pool: runs the kernels on a slice of a batch. The points and
 * results are views of shared memory, written in place; the model's parameters are shared too,
 * and each worker builds its model once per model key and keeps the most recent few.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { createModel, evaluateInto, nonFinitePoints, valueAndGradientInto, type ResNetModel } from '../kernels/index.js';
import { writeJsonText, type JsonText } from './json-text.js';

/**
 * The niceness of kernel threads. On a machine whose cores the workers fill, the event loop still
 * answers at once (health probes, small requests): the scheduler runs it ahead of these threads
 * whenever it wakes. A positive niceness needs no privileges.
 */
export const KERNEL_THREAD_NICENESS = 10;

/**
 * Lowers this thread's priority, and this thread's only: on Linux every thread has its own id,
 * which /proc/thread-self names, and setpriority applies to that id alone. Elsewhere, or when it
 * is refused, the thread keeps the normal priority.
 */
function yieldToEventLoop(): void {
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(threadId) && threadId > 0) setPriority(threadId, KERNEL_THREAD_NICENESS);
  } catch {
    // Not Linux, or not allowed: run at the normal priority.
  }
}
yieldToEventLoop();

export interface KernelTask {
  /** Identifies the model for the worker's cache; the same key always means the same model. */
  readonly key: number;
  readonly model: ResNetModel;
  readonly points: Float64Array;
  readonly values: Float64Array;
  readonly gradients: Float64Array | null;
  /** At most this many non-finite results are reported. */
  readonly report: number;
  /** Room for the slice's results as JSON text, written here, off the event loop; null when not wanted. */
  readonly text: JsonText<Uint8Array> | null;
}

/** What a slice found, with indices relative to the slice: the scans run here, off the main thread. */
export interface KernelOutcome {
  /** The first coordinate that is not a finite number, or −1; nothing is computed when there is one. */
  readonly nonFiniteInput: number;
  /** Points whose value or gradient is not finite. */
  readonly nonFinitePoints: number[];
  /** When asked for and every result is finite: the text written, as views of the room given. */
  readonly json?: JsonText<Uint8Array[]>;
}

const CACHED_MODELS = 32;
const models = new Map<number, ResNetModel>();

function modelFor({ key, model }: KernelTask): ResNetModel {
  let built = models.get(key);
  if (built === undefined) {
    built = createModel(model);
    models.set(key, built);
    if (models.size > CACHED_MODELS) models.delete(models.keys().next().value!);
  }
  return built;
}

export default function runKernel(task: KernelTask): KernelOutcome {
  const { points, values, gradients } = task;
  for (let e = 0; e < points.length; e++) {
    if (!Number.isFinite(points[e])) return { nonFiniteInput: e, nonFinitePoints: [] };
  }
  const model = modelFor(task);
  if (gradients) valueAndGradientInto(model, points, values, gradients);
  else evaluateInto(model, points, values);
  const bad = nonFinitePoints(values, gradients, model.inputDim, task.report);
  const { text } = task;
  if (text === null || bad.length > 0) return { nonFiniteInput: -1, nonFinitePoints: bad };
  return { nonFiniteInput: -1, nonFinitePoints: bad, json: writeJsonText(values, gradients, model.inputDim, text) };
}
