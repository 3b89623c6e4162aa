/**
 * A thread of the pool (the module piscina loads in each; never imported by the main thread, whose
 * priority it would lower). It runs slices of a batch (./slices.ts: an operation's kernel on a
 * range of points, in shared memory, written in place, then the slice's follow-up: a codec
 * formatting its share of the answer, say), so that heavy work stays off the event loop. Models'
 * parameters are shared too; each thread builds its model once per model key and keeps the most
 * recent few.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { createModel, type ResNetModel } from '../kernels/index.js';
import { operations, type Subject } from './operations.js';
import { runSliceAndFollowUp, type SliceOutcome, type SliceTask } from './slices.js';

/**
 * The niceness of pool threads. On a machine whose cores they fill, the event loop still answers
 * at once (health probes, small requests): the scheduler runs it ahead of these threads whenever
 * it wakes. A positive niceness needs no privileges.
 */
export const POOL_THREAD_NICENESS = 10;

/**
 * Lowers this thread's priority, and this thread's only: on Linux every thread has its own id,
 * which /proc/thread-self names, and setpriority applies to that id alone. Elsewhere, or when it
 * is refused, the thread keeps the normal priority.
 */
function yieldToEventLoop(): void {
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(threadId) && threadId > 0) setPriority(threadId, POOL_THREAD_NICENESS);
  } catch {
    // Not Linux, or not allowed: run at the normal priority.
  }
}
yieldToEventLoop();

const CACHED_MODELS = 32;
const models = new Map<number, ResNetModel>();

function networkFor(key: number, network: ResNetModel): ResNetModel {
  let built = models.get(key);
  if (built === undefined) {
    built = createModel(network);
    models.set(key, built);
    if (models.size > CACHED_MODELS) models.delete(models.keys().next().value!);
  }
  return built;
}

/** The task's subject, its networks built here once and kept. */
function modelFor({ operation: name, keys, model }: SliceTask): Subject {
  const operation = operations[name];
  const networks = (operation.networks?.(model) ?? [model as ResNetModel]).map((network, i) => networkFor(keys[i], network));
  return operation.revive ? operation.revive(model, networks) : networks[0];
}

export default function work(task: SliceTask): Promise<SliceOutcome> {
  return runSliceAndFollowUp(task, modelFor(task));
}
