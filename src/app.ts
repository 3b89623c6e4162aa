/**
 * The application: the framework's options, then the plugins (each says what it needs), then the
 * routes. It does not listen; server.ts owns the process, and the tests build the app without a port.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyServerOptions, type RawServerDefault } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { AJV_OPTIONS } from './codecs/json/document.js';
import { trustProxy, workerThreads, type Config } from './config.js';
import { answersPlugin } from './http/answers.js';
import { metricsPlugin } from './http/metrics.js';
import { bodyPlugin } from './http/plugins/body.js';
import { computePlugin } from './http/plugins/compute.js';
import { openapiPlugin } from './http/plugins/openapi.js';
import { frameworkProblems, problemsPlugin } from './http/plugins/problems.js';
import { securityPlugin } from './http/plugins/security.js';
import { RequestLog } from './http/request-log.js';
import { computeRoutes } from './http/routes/compute.js';
import { flowRoutes } from './http/routes/flows.js';
import { modelRoutes } from './http/routes/models.js';
import { inferenceRoutes } from './http/routes/inference.js';
import { modelsDirPlugin } from './http/plugins/models-dir.js';
import { operationsRoutes } from './http/routes/operations.js';
import { problemRoutes } from './http/routes/problems.js';
import { MODEL_ID_MAX_LENGTH } from './http/schemas/models.js';
import { registryPlugin } from './registry/plugin.js';
import type { ModelRegistry } from './registry/registry.js';

/**
 * How long, once shutdown begins, an idle keep-alive connection stays open. A connection is idle
 * to the server while a client's next request is still on its way to it; closing it at once would
 * reset that request. Requests that arrive meanwhile are answered, with Connection: close.
 */
export const IDLE_DRAIN_MS = 500;

/**
 * Node's server.close() closes idle connections at once; this keeps them for `ms` (IDLE_DRAIN_MS,
 * or less when the grace period is short), then closes those idle then, and those that become
 * idle later (those that got a request during shutdown close after its answer).
 */
function drainIdleConnections(server: HttpServer, ms: number): void {
  const closeIdle = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => {};
  // And again as answers begun before shutdown (a long stream) end, so that their connections do
  // not hold the server open.
  setTimeout(() => {
    closeIdle();
    const again = setInterval(closeIdle, Math.max(50, ms));
    again.unref();
    server.once('close', () => clearInterval(again));
  }, ms).unref();
}

/** How long a connection closed under a client still sending is drained before it is destroyed. */
export const LINGER_MS = 5000;

/**
 * A connection whose answer went out before the request's body had all arrived is closed after
 * the answer, as Connection: close says. Destroyed at once, its unread bytes would make the
 * kernel send a reset, and a client still sending would lose the answer with it; so, as nginx's
 * lingering close does, it is ended and its bytes drained (Node reads and drops the rest of the
 * body), then destroyed when the client closes its side, or after LINGER_MS. Node's HTTP server
 * closes such a connection through socket.destroySoon, which is replaced for this socket.
 */
function lingerOnClose(socket: Socket): void {
  if (lingering.has(socket)) return;
  lingering.add(socket);
  socket.destroySoon = function lingerThenDestroy(this: Socket) {
    if (this.writable) this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('end', () => this.destroy());
    this.once('close', () => clearTimeout(timer));
  };
}
const lingering = new WeakSet<Socket>();

/** How much later than REQUEST_TIMEOUT_MS Node's own request timeout closes a connection. */
const REQUEST_TIMEOUT_BACKSTOP_MS = 10_000;

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
    // Query strings and paths are validated as bodies are (see AJV_OPTIONS).
    ajv: { customOptions: { ...AJV_OPTIONS } },
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    trustProxy: trustProxy(config),
    // The body watchdog answers a request that is slow to arrive with 408 problem+json; Node's own
    // request timeout, a little later, is the backstop for anything the watchdog does not see.
    requestTimeout: config.REQUEST_TIMEOUT_MS + REQUEST_TIMEOUT_BACKSTOP_MS,
    // Opening the registry may wait for its database (30 s with REGISTRY_URL) or load a
    // large folder; it ends with the registry or a message, not with Fastify's 10 s plugin timeout.
    pluginTimeout: 0,
  }).withTypeProvider<TypeBoxTypeProvider>();
  const server = app.server as HttpServer;
  server.headersTimeout = Math.min(config.HEADERS_TIMEOUT_MS, config.REQUEST_TIMEOUT_MS);
  server.maxConnections = config.MAX_CONNECTIONS;
  app.decorate('config', config);

  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    drainIdleConnections(server, Math.min(IDLE_DRAIN_MS, config.SHUTDOWN_GRACE_MS / 4));
    done();
  });
  // API answers are data, never rendered: the one browser header that matters for them is
  // nosniff. The documents browsers do render (Swagger UI) get @fastify/helmet's whole set, in
  // the openapi plugin.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
    // While shutting down every answer closes its connection, so that the server can finish
    // closing, and clients reconnect to another instance. So does an answer given before the
    // request's body has all arrived (an unknown route, a refused key, a refused body): its
    // remaining bytes are not waited for, only drained for a moment (lingerOnClose).
    if (request.raw.complete === false) {
      reply.header('connection', 'close');
      lingerOnClose(request.raw.socket);
    } else if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  await app.register(problemsPlugin);
  await app.register(registryPlugin, { registry });
  await app.register(modelsDirPlugin);
  await app.register(metricsPlugin, { countModels: () => app.registry.count(), requestLog });
  await app.register(bodyPlugin, {
    bodyLimit: config.BODY_LIMIT,
    bodyBytesInFlight: config.BODY_BYTES_IN_FLIGHT,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    bodyStallTimeoutMs: config.BODY_STALL_TIMEOUT_MS,
    graceMs: config.SHUTDOWN_GRACE_MS,
  });
  await app.register(answersPlugin, { stallMs: config.ANSWER_STALL_TIMEOUT_MS });
  await app.register(computePlugin, {
    threads: workerThreads(config),
    poolMinFlops: config.WORKER_MIN_FLOPS,
    maxPoints: config.MAX_POINTS,
    maxRequestFlops: config.MAX_REQUEST_FLOPS,
    // Recycled memory kept: room for a few of the largest bodies and their results.
    retainBytes: 4 * config.BODY_LIMIT,
    graceMs: config.SHUTDOWN_GRACE_MS,
  });
  await app.register(securityPlugin);
  await app.register(openapiPlugin);
  await app.register(modelRoutes);
  await app.register(computeRoutes);
  await app.register(flowRoutes);
  await app.register(operationsRoutes, { isClosing: () => closing });
  await app.register(inferenceRoutes, { isClosing: () => closing });
  await app.register(problemRoutes);
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
