/**
 * Prometheus metrics, kept by prom-client in a registry of the app's own (so that several apps in
 * one process, as in the tests, do not share counters): every request's duration by route and
 * status, and the work of the executor by operation.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestLog } from './request-log.js';

declare module 'fastify' {
  interface FastifyInstance {
    readonly metrics: Metrics;
  }
}

/** The status recorded for a client that went away before its answer was out (nginx's 499). */
export const CLIENT_CLOSED_REQUEST = 499;

export function createMetrics(countModels: () => Promise<number>) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const requestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to sending its answer, by route and status (499: the client went away first).',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const pointsEvaluated = new Counter({
    name: 'resnet_points_evaluated_total',
    help: 'Points at which F was evaluated, by every operation.',
    registers,
  });
  const gradientsComputed = new Counter({
    name: 'resnet_gradients_computed_total',
    help: 'Points at which ∇F was computed, by every operation but evaluate.',
    registers,
  });
  const kernelDuration = new Histogram({
    name: 'resnet_kernel_duration_seconds',
    help: 'Time spent in the kernels for one request, by operation.',
    labelNames: ['operation'] as const,
    buckets: [0.00001, 0.0001, 0.001, 0.01, 0.1, 1, 10],
    registers,
  });
  const flowSteps = new Counter({
    name: 'resnet_flow_steps_total',
    help: 'Steps of Hamiltonian flows taken (trajectories × steps), by method.',
    labelNames: ['method'] as const,
    registers,
  });
  const flowDuration = new Histogram({
    name: 'resnet_flow_duration_seconds',
    help: 'Time from the start of a flow\'s integration to its end, by method.',
    labelNames: ['method'] as const,
    buckets: [0.001, 0.01, 0.1, 1, 10, 100],
    registers,
  });
  new Gauge({
    name: 'resnet_registry_models',
    help: 'Models in the registry.',
    registers,
    async collect() {
      this.set(await countModels());
    },
  });

  const observeKernel = (operation: string, points: number, seconds: number): void => {
    pointsEvaluated.inc(points);
    // A flow's points are its trajectories: its steps are counted by observeFlow instead.
    if (operation === 'flow') return kernelDuration.observe({ operation }, seconds);
    if (operation !== 'evaluate') gradientsComputed.inc(points);
    kernelDuration.observe({ operation }, seconds);
  };

  return {
    registry,
    observeKernel,
    observeFlow(method: string, steps: number, seconds: number): void {
      flowSteps.inc({ method }, steps);
      flowDuration.observe({ method }, seconds);
    },
    observeRequest(method: string, route: string, status: number, seconds: number): void {
      requestDuration.observe({ method, route, status }, seconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics> & {
  /** Logs and counts (once) a request whose client went away before its answer was out. */
  clientGone(request: FastifyRequest, reply: FastifyReply): void;
};

/** The route a request matched, as metrics and logs name it. */
const routeOf = (request: FastifyRequest): string => request.routeOptions.url ?? 'unmatched';

/**
 * The metrics, and the hooks that count every request once: when its answer is out (onResponse),
 * or, for a client that went away first (Fastify runs no onResponse then), with status 499.
 */
export const metricsPlugin = fp(
  async (app, { countModels, requestLog }: { countModels: () => Promise<number>; requestLog: RequestLog }) => {
    const gone = new WeakSet<FastifyRequest>();
    const clientGone = (request: FastifyRequest, reply: FastifyReply) => {
      if (gone.has(request)) return;
      gone.add(request);
      metrics.observeRequest(request.method, routeOf(request), CLIENT_CLOSED_REQUEST, reply.elapsedTime / 1e3);
      requestLog.clientGone(request, reply);
    };
    const metrics = { ...createMetrics(countModels), clientGone };
    app.decorate('metrics', metrics);
    // Hooks on every request are callback-style: an async hook costs a promise per request.
    app.addHook('onSend', (request, reply, payload, done) => {
      if (reply.raw.destroyed) clientGone(request, reply);
      done(null, payload);
    });
    app.addHook('onResponse', (request, reply, done) => {
      metrics.observeRequest(request.method, routeOf(request), reply.statusCode, reply.elapsedTime / 1e3);
      done();
    });
  },
  { name: 'metrics' },
);
