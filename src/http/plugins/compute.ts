/**
 * The executor, and what a request's work needs from HTTP: its recycled memory and its
 * cancellation. A request's memory (a lease on the shared, recycled memory) is made on first use
 * and goes back once its answer is out or its client has gone (after any pool work on it has
 * settled); its work is cancelled when the client goes away before the answer is out. A request
 * whose client went away is logged and counted with status 499, as Fastify completes no request
 * for it. Routes see none of this: they call `app.compute`.
 *
 * On shutdown, work still running shortly before the grace period ends (SHUTDOWN_GRACE_MS) is
 * cancelled, and its requests answered 503 with Retry-After, so that the process exits in time
 * and cleanly.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ComputeRequest } from '../../codecs/compute.js';
import { createExecutor, type Cancellation, type Executor, type Result, type RunContext } from '../../compute/executor.js';
import { createSharedMemory, type Lease, type SharedMemory } from '../../compute/memory.js';
import type { Operation, Subject } from '../../compute/operations.js';
import type { PointsInput } from '../../compute/points.js';
import { createPool } from '../../compute/pool.js';
import { CancelledError, ModelNotFoundError } from '../../errors.js';
import type { ModelRecord } from '../../registry/registry.js';

/** What a request's work draws on: made when first asked for, released with the request. */
/** A request's cancellation: an AbortController's work, for less than one costs to make. */
class RequestCancellation implements Cancellation {
  aborted = false;
  reason: unknown = undefined;
  private listeners: (() => void)[] = [];

  abort(reason: CancelledError): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    for (const listener of this.listeners.splice(0)) listener();
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.listeners.indexOf(listener);
    if (at >= 0) this.listeners.splice(at, 1);
  }
}

/** What the answer asks of a run: work for the pool's threads on each slice (see RunContext). */
export interface AnswerWork {
  readonly followUp: RunContext['followUp'];
}

/** What a streaming answer watches of a run (see RunContext). */
export interface RunWatch {
  readonly progress: Int32Array;
  readonly started: (outputs: readonly Float64Array[]) => void;
}

export interface RequestWork {
  /** Recycled shared memory for the request's large arrays. */
  readonly memory: Lease;
  /** Aborted when the client goes away before the answer is out. */
  readonly signal: Cancellation;
  /** Float64s for the request: recycled when large enough, shared when the pool may read them. */
  float64(length: number): Float64Array;
}

declare module 'fastify' {
  interface FastifyInstance {
    readonly executor: Executor;
    readonly sharedMemory: SharedMemory;
    /**
     * Runs `operation` for a decoded request: the model it names, its inputs, the request's memory
     * and cancellation. A small batch's result comes at once (see Executor.run).
     */
    compute(request: FastifyRequest, reply: FastifyReply, operation: Operation, decoded: ComputeRequest, answer?: AnswerWork): Result | Promise<Result>;
    /**
     * Runs `operation` on a subject the route has put together (a Hamiltonian of several models,
     * say), with the request's memory and cancellation; `watch` gives the run's progress cells and
     * hears of its outputs as the work begins, for an answer that streams them.
     */
    computeOn<M extends Subject>(request: FastifyRequest, reply: FastifyReply, operation: Operation<M>, subject: M, inputs: Readonly<Record<string, PointsInput>>, watch?: RunWatch): Result<M> | Promise<Result<M>>;
    /** The request's work (see RequestWork). */
    work(request: FastifyRequest, reply: FastifyReply): RequestWork;
  }
}

export interface ComputeOptions {
  readonly threads: number;
  readonly poolMinFlops: number;
  readonly maxPoints: number;
  readonly maxRequestFlops: number;
  /** Recycled memory kept for reuse, at most. */
  readonly retainBytes: number;
  /** SHUTDOWN_GRACE_MS: work still running near its end is cancelled. */
  readonly graceMs: number;
}

/** How long before the end of the grace period running work is cancelled. */
export const cancelMarginMs = (graceMs: number): number => Math.min(1000, graceMs / 2);

const works = new WeakMap<FastifyRequest, RequestWork>();

export const computePlugin = fp(
  async (app, options: ComputeOptions) => {
    const pool = options.threads > 0 ? createPool(options.threads) : null;
    const memory = createSharedMemory({ retainBytes: options.retainBytes });
    const executor = createExecutor({
      pool,
      poolMinFlops: options.poolMinFlops,
      maxPoints: options.maxPoints,
      maxRequestFlops: options.maxRequestFlops,
      observe: app.metrics.observeKernel,
    });
    app.decorate('executor', executor);
    app.decorate('sharedMemory', memory);

    /** The cancellations of requests whose work may be cancelled, until their answers are out. */
    const running = new Set<RequestCancellation>();
    let shuttingDown = false;

    const work = (request: FastifyRequest, reply: FastifyReply): RequestWork => {
      let known = works.get(request);
      if (known !== undefined) return known;
      const lease = memory.lease();
      let controller: RequestCancellation | null = null;
      const gone = () => {
        lease.release();
        if (controller) running.delete(controller);
        if (reply.raw.writableFinished) return;
        controller?.abort(new CancelledError('client-gone'));
        app.metrics.clientGone(request, reply);
      };
      // A closed response is either sent (its memory may serve another request) or abandoned.
      if (reply.raw.destroyed) queueMicrotask(gone);
      else reply.raw.once('close', gone);
      known = {
        memory: lease,
        get signal(): Cancellation {
          if (controller === null) {
            controller = new RequestCancellation();
            if (shuttingDown) controller.abort(new CancelledError('shutting-down'));
            else if (reply.raw.destroyed && !reply.raw.writableFinished) controller.abort(new CancelledError('client-gone'));
            else running.add(controller);
          }
          return controller;
        },
        float64: (length) => lease.float64(length),
      };
      works.set(request, known);
      return known;
    };
    app.decorate('work', work);

    /** A run's context whose memory, cancellation and follow-ups are made only if the run asks for them. */
    class LazyContext implements RunContext {
      constructor(
        private readonly request: FastifyRequest,
        private readonly reply: FastifyReply,
        private readonly answer: AnswerWork | undefined,
        private readonly watch?: RunWatch,
      ) {}
      get progress() {
        return this.watch?.progress;
      }
      get started() {
        return this.watch?.started;
      }
      get followUp() {
        return this.answer?.followUp;
      }
      get memory(): Lease {
        return work(this.request, this.reply).memory;
      }
      get signal(): Cancellation {
        return work(this.request, this.reply).signal;
      }
    }

    const runOn = (record: ModelRecord | undefined, request: FastifyRequest, reply: FastifyReply, operation: Operation, decoded: ComputeRequest, answer: AnswerWork | undefined) => {
      if (record === undefined) throw new ModelNotFoundError(decoded.model.id, decoded.model.version);
      // The version that computes the answer, for the answer to say.
      reply.header('model-version', record.version);
      return executor.run(operation, record.model, decoded.inputs, new LazyContext(request, reply, answer));
    };
    app.decorate('compute', (request: FastifyRequest, reply: FastifyReply, operation: Operation, decoded: ComputeRequest, answer?: AnswerWork) => {
      const { id, version } = decoded.model;
      const known = app.registry.peek(id, version);
      if (known !== undefined) return runOn(known, request, reply, operation, decoded, answer);
      return app.registry.get(id, version).then((record) => runOn(record, request, reply, operation, decoded, answer));
    });

    app.decorate('computeOn', <M extends Subject>(request: FastifyRequest, reply: FastifyReply, operation: Operation<M>, subject: M, inputs: Readonly<Record<string, PointsInput>>, watch?: RunWatch) =>
      executor.run(operation, subject, inputs, new LazyContext(request, reply, undefined, watch)),
    );

    let deadline: NodeJS.Timeout | undefined;
    app.addHook('preClose', (done) => {
      deadline = setTimeout(() => {
        shuttingDown = true;
        for (const controller of running) controller.abort(new CancelledError('shutting-down'));
        running.clear();
      }, Math.max(0, options.graceMs - cancelMarginMs(options.graceMs)));
      deadline.unref();
      done();
    });
    app.addHook('onClose', async () => {
      clearTimeout(deadline);
      await pool?.close();
    });
  },
  { name: 'compute', dependencies: ['metrics', 'registry'] },
);
