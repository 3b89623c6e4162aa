import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { HttpProblem } from '../problems.js';
import { problemResponses } from '../schemas/problem.js';

export interface OperationsOptions {
  /** True from the start of shutdown on. */
  readonly isClosing: () => boolean;
}

const Status = (status: string, description: string) =>
  Type.Object(
    { status: Type.Literal(status, { description, examples: [status] }) },
    { additionalProperties: false, description },
  );

/** Liveness, readiness and Prometheus metrics, for orchestrators and monitoring; always open. */
export const operationsRoutes: FastifyPluginAsyncTypebox<OperationsOptions> = async (app, { isClosing }) => {
  app.get(
    '/health/live',
    {
      schema: {
        operationId: 'live',
        tags: ['operations'],
        summary: 'Liveness',
        description: 'Answers 200 while the process is up and its event loop turns.',
        response: { 200: Status('live', 'The process is up.') },
      },
    },
    async () => ({ status: 'live' as const }),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        operationId: 'ready',
        tags: ['operations'],
        summary: 'Readiness',
        description: 'Answers 200 once the registry and the demo model are loaded, and 503 from the start of shutdown on.',
        response: {
          200: Status('ready', 'The service takes requests.'),
          ...problemResponses('/health/ready', {
            503: {
              description: 'The service is shutting down; send new requests elsewhere.',
              examples: { closing: { summary: 'after SIGTERM', kind: 'service-unavailable', detail: 'the service is shutting down' } },
            },
          }),
        },
      },
    },
    async () => {
      if (isClosing()) throw new HttpProblem('service-unavailable', 'the service is shutting down');
      return { status: 'ready' as const };
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'metrics',
        tags: ['operations'],
        summary: 'Prometheus metrics',
        description:
          'Request durations by route and status, points evaluated, gradients computed, kernel time, the number of models, and the process metrics, in the Prometheus text format.',
        response: {
          200: {
            description: 'The metrics, in the Prometheus text exposition format.',
            content: {
              'text/plain': {
                schema: Type.String({
                  description: 'Prometheus text exposition format, version 0.0.4.',
                  examples: ['# HELP resnet_registry_models Models in the registry.\n# TYPE resnet_registry_models gauge\nresnet_registry_models 1\n'],
                }),
              },
            },
          },
        },
      },
    },
    async (_request, reply) => {
      const { registry } = app.metrics;
      return reply.type(registry.contentType).send((await registry.metrics()) as never);
    },
  );
};
