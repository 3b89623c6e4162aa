/**
 * The kernel pool (piscina): large batches run on worker threads, split into one slice per
 * thread, so that the event loop stays free and both cores work. Points and results live in
 * shared memory, which the slices read and write in place.
 */
import { Piscina } from 'piscina';
import type { ResNetModel } from '../kernels/index.js';
import { textRoom, type JsonText } from './json-text.js';
import type { KernelOutcome, KernelTask } from './kernel-worker.js';

export interface KernelPool {
  readonly threads: number;
  /**
   * Runs the kernels on `points` across the threads, writing `values` (and `gradients`), and
   * scans inputs and results there: the outcome's indices are over the whole batch. With `text`,
   * room for the batch's JSON text (textRoomFor), the threads write it there too.
   */
  run(
    model: ResNetModel,
    points: Float64Array,
    values: Float64Array,
    gradients: Float64Array | null,
    report: number,
    text: JsonText<Uint8Array> | null,
  ): Promise<KernelOutcome>;
  close(): Promise<void>;
}

const fromSources = import.meta.url.endsWith('.ts');
const workerFile = new URL(fromSources ? './kernel-worker.dev.mjs' : './kernel-worker.js', import.meta.url);

/** Model keys for the workers' caches: one per model object, which never changes. */
const keys = new WeakMap<ResNetModel, number>();
let nextKey = 1;
const keyOf = (model: ResNetModel): number => {
  let key = keys.get(model);
  if (key === undefined) keys.set(model, (key = nextKey++));
  return key;
};

export function createKernelPool(threads: number): KernelPool {
  // Threads start with the first large batch and stay for a minute after the last.
  const piscina = new Piscina({ filename: workerFile.href, minThreads: 0, maxThreads: threads, idleTimeout: 60_000 });
  return {
    threads,
    async run(model, points, values, gradients, report, text) {
      const d0 = model.inputDim;
      const n = values.length;
      const slices = Math.min(threads, n);
      const starts: number[] = [];
      const tasks: Promise<KernelOutcome>[] = [];
      for (let s = 0; s < slices; s++) {
        const start = Math.floor((n * s) / slices);
        const end = Math.floor((n * (s + 1)) / slices);
        const task: KernelTask = {
          key: keyOf(model),
          model,
          points: points.subarray(start * d0, end * d0),
          values: values.subarray(start, end),
          gradients: gradients ? gradients.subarray(start * d0, end * d0) : null,
          report,
          text: text && textRoom(text, d0, start, end),
        };
        starts.push(start);
        tasks.push(piscina.run(task));
      }
      return mergeOutcomes(await Promise.all(tasks), starts, d0, report);
    },
    close: () => piscina.close(),
  };
}

/**
 * One outcome for a batch from the outcomes of its consecutive slices, which start at the points
 * `starts`: indices become the batch's, and the earliest bad input wins.
 */
export function mergeOutcomes(outcomes: readonly KernelOutcome[], starts: readonly number[], d0: number, report: number): KernelOutcome {
  const badInput = outcomes.findIndex((o) => o.nonFiniteInput >= 0);
  const texts = outcomes.map((o) => o.json);
  const json = texts.length > 0 && texts.every((text) => text !== undefined)
    ? {
        values: texts.flatMap((text) => text.values),
        gradients: texts[0].gradients === null ? null : texts.flatMap((text) => text.gradients!),
      }
    : undefined;
  return {
    nonFiniteInput: badInput < 0 ? -1 : starts[badInput] * d0 + outcomes[badInput].nonFiniteInput,
    nonFinitePoints: outcomes.flatMap((o, s) => o.nonFinitePoints.map((p) => starts[s] + p)).slice(0, report),
    ...(json && { json }),
  };
}

/** A Float64Array of `length` in shared memory, which pool threads can read and write. */
export const sharedFloat64 = (length: number): Float64Array => new Float64Array(new SharedArrayBuffer(length * 8));
