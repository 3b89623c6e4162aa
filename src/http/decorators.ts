import type { Config } from '../config.js';
import type { ComputeService } from '../domain/compute.js';
import type { ModelRegistry } from '../domain/registry.js';
import type { Metrics } from './metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    readonly config: Config;
    readonly registry: ModelRegistry;
    readonly compute: ComputeService;
    readonly metrics: Metrics;
  }
}
