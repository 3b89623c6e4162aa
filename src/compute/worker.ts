/**
 * A thread of the pool (the module piscina loads in each; never imported by the main thread, whose
 * priority it would lower). It runs slices of a batch (./slices.ts: an operation's kernel on a
 * range of points, in shared memory, written in place) and, for the codecs, named functions of
 * their modules (formatting a large answer, say), so that heavy work of any kind stays off the
 * event loop. Models' parameters are shared too; each thread builds its model once per model key
 * and keeps the most recent few.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { createModel, type ResNetModel } from '../kernels/index.js';
import { runSlice, type SliceTask } from './slices.js';

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

/** A function of a module, called with one argument: `call` tasks. */
export interface CallTask {
  readonly kind: 'call';
  readonly module: string;
  readonly name: string;
  readonly argument: unknown;
}

const CACHED_MODELS = 32;
const models = new Map<number, ResNetModel>();

function modelFor({ key, model }: SliceTask): ResNetModel {
  let built = models.get(key);
  if (built === undefined) {
    built = createModel(model);
    models.set(key, built);
    if (models.size > CACHED_MODELS) models.delete(models.keys().next().value!);
  }
  return built;
}

const modules = new Map<string, Promise<Record<string, (argument: unknown) => unknown>>>();

export default async function work(task: SliceTask | CallTask): Promise<unknown> {
  if (task.kind === 'slice') return runSlice(task, modelFor(task));
  let module = modules.get(task.module);
  if (module === undefined) modules.set(task.module, (module = import(task.module)));
  return (await module)[task.name](task.argument);
}
