/**
 * The pool of worker threads (piscina): slices of large batches, each with its follow-up (a
 * codec's share of the answer), run there, so that the event loop stays free and every core
 * works. Points, results and answer text live in shared memory, which the threads read and write
 * in place.
 */
import { Piscina } from 'piscina';
import type { ResNetModel } from '../kernels/index.js';
import { operations } from './operations.js';
import type { SliceOutcome, SliceTask } from './slices.js';

export interface Pool {
  readonly threads: number;
  /** Runs one slice of a batch on a thread. */
  slice(task: Omit<SliceTask, 'kind' | 'keys'>): Promise<SliceOutcome>;
  close(): Promise<void>;
}

const fromSources = import.meta.url.endsWith('.ts');
const workerFile = new URL(fromSources ? './worker.dev.mjs' : './worker.js', import.meta.url);

/** Network keys for the threads' caches: one per model object, which never changes. */
const keys = new WeakMap<ResNetModel, number>();
let nextKey = 1;
const keyOf = (model: ResNetModel): number => {
  let key = keys.get(model);
  if (key === undefined) keys.set(model, (key = nextKey++));
  return key;
};

export function createPool(threads: number): Pool {
  // Threads start with the first large batch and stay for a minute after the last.
  const piscina = new Piscina({ filename: workerFile.href, minThreads: 0, maxThreads: threads, idleTimeout: 60_000 });
  return {
    threads,
    slice: (task) => {
      const networks = operations[task.operation].networks?.(task.model) ?? [task.model as ResNetModel];
      return piscina.run({ ...task, kind: 'slice', keys: networks.map(keyOf) } satisfies SliceTask);
    },
    close: () => piscina.close(),
  };
}

/** The file URL of a module next to `base` (an import.meta.url), as the running code names it (.ts from sources, .js built). */
export const siblingModule = (base: string, name: string): string => new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base).href;
