/**
 * Who may do what, and how often. Routes declare `config.access`: 'write' (POST and DELETE of
 * /models) or 'read' (/evaluate, /gradient, the GETs of /models); others are open (health,
 * metrics, docs, problem types). With API_KEY or API_KEYS set, write routes need a bearer key, and
 * read routes too when PROTECT_READS is true; the OpenAPI document declares the bearer scheme on
 * exactly those operations. Keys are compared in constant time by @fastify/bearer-auth.
 * RATE_LIMIT_MAX (off when 0) limits each client on the read and write routes.
 */
import bearerAuth from '@fastify/bearer-auth';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { apiKeys } from '../../config.js';
import { HttpProblem } from '../problems.js';
import { problemResponses } from '../schemas/problem.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which key, if any, the route needs: see src/http/plugins/security.ts. */
    access?: 'read' | 'write';
  }
}

export const BEARER_SCHEME = 'bearerAuth';

const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

export const securityPlugin = fp(
  async (app) => {
    const { config } = app;
    const keys = apiKeys(config);
    const guards = (access: 'read' | 'write' | undefined) =>
      keys.length > 0 && (access === 'write' || (access === 'read' && config.PROTECT_READS));
    const limiting = config.RATE_LIMIT_MAX > 0;

    if (keys.length > 0) await app.register(bearerAuth, { keys, addHook: false, verifyErrorLogLevel: 'info' });
    const requireKey: onRequestHookHandler = (request, reply, done) =>
      app.verifyBearerAuth!(request, reply, (error?: Error) => {
        if (!error) return done();
        reply.header('www-authenticate', 'Bearer realm="resnet-gradient"');
        const detail = request.headers.authorization
          ? 'the bearer key is not valid'
          : 'this operation needs Authorization: Bearer <key>';
        done(new HttpProblem('unauthorized', detail));
      });

    app.addHook('onRoute', (route: RouteOptions) => {
      const access = route.config?.access;
      // Only the API routes count against the rate limit; health, metrics and docs never do.
      if (!access) route.config = { ...route.config, rateLimit: false } as RouteOptions['config'];
      if (!route.schema || route.schema.hide) return;
      const responses: Record<number, string> = {};
      if (guards(access)) {
        route.onRequest = [requireKey, ...asArray(route.onRequest)];
        route.schema = { ...route.schema, security: [{ [BEARER_SCHEME]: [] }] };
        responses[401] = 'The Authorization header is missing, or its bearer key is not valid.';
      }
      if (access && limiting) responses[429] = 'Too many requests from this client in the window; retry after Retry-After seconds.';
      route.schema = { ...route.schema, response: { ...(route.schema.response as object), ...problemResponses(responses) } };
    });

    if (config.CORS_ORIGIN) {
      const origins = config.CORS_ORIGIN.split(',').map((origin) => origin.trim());
      await app.register(cors, { origin: origins.includes('*') ? true : origins, exposedHeaders: ['location', 'x-request-id', 'retry-after'] });
    }
    if (limiting) {
      await app.register(rateLimit, {
        global: true,
        max: config.RATE_LIMIT_MAX,
        timeWindow: config.RATE_LIMIT_WINDOW_MS,
        // One budget per API key when a client sends one, else per address.
        keyGenerator: (request: FastifyRequest) => request.headers.authorization ?? request.ip,
        errorResponseBuilder: (_request: FastifyRequest, context: { max: number; after: string }) =>
          new HttpProblem('too-many-requests', `more than ${context.max} requests in ${config.RATE_LIMIT_WINDOW_MS} ms; retry in ${context.after}`),
      });
    }
  },
  { name: 'security' },
);
