/**
 * The application: plugins, the domain objects, then the routes. It does not listen; server.ts
 * owns the process, and the tests build the app without a port.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';
import { createComputeService } from './domain/compute.js';
import { DEMO_MODEL_ID, demoModelDocument } from './domain/demo.js';
import { modelFromDocument } from './domain/documents.js';
import { createMemoryRegistry, type ModelRegistry } from './domain/registry.js';
import './http/decorators.js';
import { bodyParsersPlugin } from './http/plugins/body-parsers.js';
import { openapiPlugin } from './http/plugins/openapi.js';
import { problemsPlugin } from './http/plugins/problems.js';
import { RequestLog } from './http/request-log.js';
import { computeRoutes } from './http/routes/compute.js';
import { modelRoutes } from './http/routes/models.js';
import { problemRoutes } from './http/routes/problems.js';

export interface AppOptions {
  readonly config: Config;
  /** Defaults to the in-memory registry. */
  readonly registry?: ModelRegistry;
  readonly logger?: FastifyServerOptions['logger'];
}

export async function buildApp({ config, registry, logger = false }: AppOptions) {
  const app = Fastify({
    logger,
    bodyLimit: config.BODY_LIMIT,
    logController: new RequestLog(),
    ajv: {
      // Validate what the client sent, as sent: no coercion ("1" is not a number), no silent
      // removal of unknown fields (a typo must not fall back to a default), no defaults filled in.
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const models = registry ?? createMemoryRegistry({ capacity: config.MAX_MODELS });
  if ((await models.get(DEMO_MODEL_ID)) === undefined) {
    const model = modelFromDocument(demoModelDocument, { maxModelWeights: Number.POSITIVE_INFINITY });
    await models.add({ id: DEMO_MODEL_ID, name: demoModelDocument.name, model });
  }
  app.decorate('config', config);
  app.decorate('registry', models);
  app.decorate('compute', createComputeService({ registry: models, maxPoints: config.MAX_POINTS }));
  app.addHook('onClose', () => models.close());

  await app.register(problemsPlugin);
  await app.register(bodyParsersPlugin);
  await app.register(openapiPlugin);
  await app.register(modelRoutes);
  await app.register(computeRoutes);
  await app.register(problemRoutes);
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
