/**
 * The application: plugins, the domain objects, then the routes. It does not listen; server.ts
 * owns the process, and the tests build the app without a port.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyReply, type FastifyRequest, type FastifyServerOptions, type RawServerDefault } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { workerThreads, type Config } from './config.js';
import { createComputeService } from './domain/compute.js';
import { DEMO_MODEL_ID, demoModelDocument } from './domain/demo.js';
import { modelFromDocument } from './domain/documents.js';
import { createFileRegistry } from './domain/file-registry.js';
import { createKernelPool } from './domain/kernel-pool.js';
import { createMemoryRegistry, type ModelRegistry } from './domain/registry.js';
import { createSharedMemory } from './domain/shared-memory.js';
import './http/decorators.js';
import { CLIENT_CLOSED_REQUEST, createMetrics } from './http/metrics.js';
import { bodyParsersPlugin, pointsBodyValidators } from './http/plugins/body-parsers.js';
import { openapiPlugin } from './http/plugins/openapi.js';
import { frameworkProblems, problemsPlugin } from './http/plugins/problems.js';
import { securityPlugin } from './http/plugins/security.js';
import { RequestLog } from './http/request-log.js';
import { MODEL_ID_MAX_LENGTH } from './http/schemas/models.js';
import { computeRoutes } from './http/routes/compute.js';
import { modelRoutes } from './http/routes/models.js';
import { operationsRoutes } from './http/routes/operations.js';
import { problemRoutes } from './http/routes/problems.js';

export interface AppOptions {
  readonly config: Config;
  /** Defaults to the file registry when REGISTRY_DIR is set, and to the in-memory one otherwise. */
  readonly registry?: ModelRegistry;
  readonly logger?: FastifyServerOptions<RawServerDefault>['logger'];
}

/**
 * An incoming x-request-id is kept when it is a sane token. Otherwise the id is this process's
 * random prefix and a counter: unique across restarts and replicas, and cheaper than a UUID per
 * request.
 */
const REQUEST_ID = /^[\w.:@-]{1,128}$/;
const processPrefix = randomUUID().slice(0, 8);
let requestCounter = 0;
const requestId = (request: IncomingMessage): string => {
  const incoming = request.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : `${processPrefix}-${(++requestCounter).toString(36)}`;
};

export async function buildApp({ config, registry, logger = false }: AppOptions) {
  const requestLog = new RequestLog();
  const app = Fastify({
    logger,
    logController: requestLog,
    genReqId: requestId,
    bodyLimit: config.BODY_LIMIT,
    routerOptions: { maxParamLength: MODEL_ID_MAX_LENGTH },
    frameworkErrors: frameworkProblems(config.BODY_LIMIT),
    // During shutdown, requests on open connections are still served (with Connection: close);
    // only readiness turns to 503. Fastify's own 503 would not be problem+json.
    return503OnClosing: false,
    ajv: {
      // Validate what the client sent, as sent: no coercion ("1" is not a number), no silent
      // removal of unknown fields (a typo must not fall back to a default), no defaults filled in.
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false },
    },
    // Fastify's validators, but for compute bodies the points reader has read (PointsBody).
    schemaController: { compilersFactory: { buildValidator: pointsBodyValidators } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const models =
    registry ??
    (config.REGISTRY_DIR
      ? await createFileRegistry({ dir: config.REGISTRY_DIR, capacity: config.MAX_MODELS, warn: (details, message) => app.log.warn(details, message) })
      : createMemoryRegistry({ capacity: config.MAX_MODELS }));
  if ((await models.get(DEMO_MODEL_ID)) === undefined) {
    const model = modelFromDocument(demoModelDocument, { maxModelWeights: Number.POSITIVE_INFINITY });
    await models.add({ id: DEMO_MODEL_ID, name: demoModelDocument.name, model });
  }
  const metrics = createMetrics(() => models.count());
  app.decorate('config', config);
  app.decorate('registry', models);
  app.decorate('metrics', metrics);
  // Memory for large batches is recycled: room for a few of the largest bodies and their results.
  app.decorate('sharedMemory', createSharedMemory({ retainBytes: 4 * config.BODY_LIMIT }));
  app.decorateRequest('memoryLease', null);
  const threads = workerThreads(config);
  const pool = threads > 0 ? createKernelPool(threads) : null;
  app.decorate(
    'compute',
    createComputeService({
      registry: models,
      maxPoints: config.MAX_POINTS,
      observe: metrics.observeKernel,
      pool,
      poolMinFlops: config.WORKER_MIN_FLOPS,
    }),
  );

  // Hooks on every request are callback-style: an async hook costs a promise per request.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  /**
   * A request whose client went away before its answer was out: its shared memory goes back (once
   * the threads are done with it; see Lease.hold), and it is logged and counted with status 499.
   */
  const clientGone = (request: FastifyRequest, reply: FastifyReply) => {
    request.memoryLease?.release();
    metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', CLIENT_CLOSED_REQUEST, reply.elapsedTime / 1e3);
    requestLog.clientGone(request, reply);
  };
  // API answers are data, never rendered: the one browser header that matters for them is
  // nosniff. The documents browsers do render (Swagger UI) get @fastify/helmet's whole set, in
  // the openapi plugin.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
    // While shutting down, every answer (in-flight ones too) closes its connection, so that the
    // server can finish closing once they are sent, and clients reconnect to another instance.
    if (closing) reply.header('connection', 'close');
    // A client that goes away leaves no onResponse behind. Gone already: say so now. A request
    // holding shared memory may also lose its client while a long answer goes out.
    if (reply.raw.destroyed) clientGone(request, reply);
    else if (request.memoryLease !== null) {
      reply.raw.once('close', () => (reply.raw.writableFinished ? request.memoryLease?.release() : clientGone(request, reply)));
    }
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    // The answer is out (or the client is gone): the request's shared memory may serve another.
    request.memoryLease?.release();
    metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1e3);
    done();
  });
  app.addHook('onClose', async () => {
    await pool?.close();
    await models.close();
  });

  await app.register(problemsPlugin);
  await app.register(bodyParsersPlugin);
  await app.register(securityPlugin);
  await app.register(openapiPlugin);
  await app.register(modelRoutes);
  await app.register(computeRoutes);
  await app.register(operationsRoutes, { isClosing: () => closing });
  await app.register(problemRoutes);
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
