import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import type { ComputeService } from '../domain/compute.js';
import type { ModelRegistry } from '../domain/registry.js';
import type { Lease, SharedMemory } from '../domain/shared-memory.js';
import type { Metrics } from './metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    readonly config: Config;
    readonly registry: ModelRegistry;
    readonly compute: ComputeService;
    readonly metrics: Metrics;
    /** Recycled shared memory for large batches; absent when a plugin runs without the app. */
    readonly sharedMemory?: SharedMemory;
  }
  interface FastifyRequest {
    /** The request's borrowed shared memory, made on first use and given back in onResponse. */
    memoryLease: Lease | null;
  }
}

/** The request's lease on the recycled shared memory, made on first use. */
export function leaseOf(request: FastifyRequest): Lease | null {
  if (request.memoryLease === null && request.server.sharedMemory) request.memoryLease = request.server.sharedMemory.lease();
  return request.memoryLease;
}
