/**
 * Prometheus metrics, kept by prom-client in a registry of the app's own (so that several apps in
 * one process, as in the tests, do not share counters).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { KernelObserver } from '../domain/compute.js';

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
    help: 'Points at which F was evaluated, by /evaluate and by /gradient.',
    registers,
  });
  const gradientsComputed = new Counter({
    name: 'resnet_gradients_computed_total',
    help: 'Points at which ∇F was computed, by /gradient.',
    registers,
  });
  const kernelDuration = new Histogram({
    name: 'resnet_kernel_duration_seconds',
    help: 'Time spent in the kernels for one request, by operation.',
    labelNames: ['operation'] as const,
    buckets: [0.00001, 0.0001, 0.001, 0.01, 0.1, 1, 10],
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

  const observeKernel: KernelObserver = (operation, points, seconds) => {
    pointsEvaluated.inc(points);
    if (operation === 'gradient') gradientsComputed.inc(points);
    kernelDuration.observe({ operation }, seconds);
  };

  return {
    registry,
    observeKernel,
    observeRequest(method: string, route: string, status: number, seconds: number): void {
      requestDuration.observe({ method, route, status }, seconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
