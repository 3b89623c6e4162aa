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

const RegistryState = Type.Object(
  {
    store: Type.Enum(['memory', 'files', 'postgres'], { description: 'Where the models live: in memory, REGISTRY_DIR, or REGISTRY_URL.', examples: ['memory'] }),
    reachable: Type.Boolean({
      description:
        "False while the shared database cannot be reached: models held in this replica's cache still compute and read; writes, and reads of other models, get 503 with Retry-After until it is back.",
      examples: [true],
    }),
    cachedVersions: Type.Optional(Type.Integer({ minimum: 0, description: 'Versions this replica holds decoded (REGISTRY_URL).', examples: [4] })),
    cachedBytes: Type.Optional(Type.Integer({ minimum: 0, description: 'Bytes of parameters in that cache, at most MODEL_CACHE_BYTES.', examples: [6208] })),
  },
  { additionalProperties: false, description: 'The model registry, as this replica sees it.', examples: [{ store: 'postgres', reachable: false, cachedVersions: 4, cachedBytes: 6208 }] },
);

const ModelsDir = Type.Object(
  {
    dir: Type.String({ description: 'MODELS_DIR.', examples: ['/mnt/models'] }),
    loaded: Type.Integer({ minimum: 0, description: 'Model files registered at start-up.', examples: [2] }),
    skipped: Type.Array(
      Type.Object(
        {
          file: Type.String({ description: 'The file.', examples: ['broken.npz'] }),
          reason: Type.String({ description: 'Why it was not registered.', examples: ['the file has no tensor W (K × d × d)'] }),
        },
        { additionalProperties: false, description: 'A file that did not load.' },
      ),
      { description: 'The model files that did not load, and why (also logged).', examples: [[{ file: 'broken.npz', reason: 'the file has no tensor W (K × d × d)' }]] },
    ),
  },
  { additionalProperties: false, description: 'What MODELS_DIR held at start-up, when it is set.', examples: [{ dir: '/mnt/models', loaded: 2, skipped: [] }] },
);

const Ready = Type.Object(
  {
    status: Type.Enum(['ready', 'degraded'], {
      description: "ready; or degraded while the shared registry's database cannot be reached (the replica still serves cached models, so it stays in rotation).",
      examples: ['ready'],
    }),
    registry: RegistryState,
    modelsDir: Type.Optional(ModelsDir),
  },
  { additionalProperties: false, description: 'The service takes requests.' },
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
        description:
          'Answers 200 once the registry and the demo models are loaded, and 503 from the start of shutdown on. With a shared registry (REGISTRY_URL) whose database cannot be reached, it still answers 200, with status degraded: the replica serves the models it holds, and taking every replica out of rotation would stop that too.',
        response: {
          200: Ready,
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
      const registry = app.registry.status();
      const modelsDir = app.modelsDir === null ? {} : { modelsDir: { dir: app.modelsDir.dir, loaded: app.modelsDir.loaded.length, skipped: [...app.modelsDir.skipped] } };
      return { status: registry.reachable ? ('ready' as const) : ('degraded' as const), registry, ...modelsDir };
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
