/**
 * Who may do what, and how often. Routes declare `config.access`: 'write' (POST and DELETE of
 * /models) or 'read' (/evaluate, /gradient, the GETs of /models); others are open (health,
 * metrics, docs, problem types). With API_KEY or API_KEYS set, write routes need a bearer key, and
 * read routes too when PROTECT_READS is true; the OpenAPI document declares the bearer scheme on
 * exactly those operations. The key is checked before the request's body is read.
 *
 * - Keys are compared in constant time: the SHA-256 of the key sent against each key's, with
 *   crypto.timingSafeEqual, every key each time. The scheme name is matched without regard to
 *   case (RFC 9110, 11.1); @fastify/bearer-auth parses the header.
 * - RATE_LIMIT_MAX (off when 0) limits each client on the read and write routes: a client is its
 *   verified key when it sent one that passed, and otherwise its address (request.ip, which
 *   follows TRUST_PROXY). An Authorization header that was not verified counts for nothing, so
 *   sending a different bogus one each time does not make a new client.
 * - Failed authentications are counted per address, with their own limit (AUTH_FAILURE_LIMIT per
 *   RATE_LIMIT_WINDOW_MS): past it, that address gets 429 on guarded routes, without its key being
 *   looked at, until the window ends.
 */
import bearerAuth from '@fastify/bearer-auth';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { createHash, timingSafeEqual } from 'node:crypto';
import { apiKeys } from '../../config.js';
import { HttpProblem } from '../problems.js';
import { errorResponses, examplePath, type ErrorResponse, type ProblemExample } from '../schemas/problem.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which key, if any, the route needs: see src/http/plugins/security.ts. */
    access?: 'read' | 'write';
  }
}

export const BEARER_SCHEME = 'bearerAuth';

const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Most addresses whose failures are counted at once; past it the count starts over. */
const MAX_COUNTED_ADDRESSES = 100_000;

/** Failed authentications per address in fixed windows. */
class FailureCounter {
  private counts = new Map<string, number>();
  private windowStart = Date.now();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  private rotate(): void {
    const now = Date.now();
    if (now - this.windowStart >= this.windowMs || this.counts.size >= MAX_COUNTED_ADDRESSES) {
      this.counts = new Map();
      this.windowStart = now;
    }
  }

  blocked(address: string): boolean {
    this.rotate();
    return (this.counts.get(address) ?? 0) >= this.limit;
  }

  fail(address: string): void {
    this.rotate();
    this.counts.set(address, (this.counts.get(address) ?? 0) + 1);
  }

  /** Seconds until the window ends. */
  retryAfter(): number {
    return Math.max(1, Math.ceil((this.windowStart + this.windowMs - Date.now()) / 1000));
  }
}

const MISSING_KEY = 'this operation needs Authorization: Bearer <key>';
const WRONG_KEY = 'the bearer key is not valid';

export const securityPlugin = fp(
  async (app) => {
    const { config } = app;
    const authFailuresDetail = () => `more than ${config.AUTH_FAILURE_LIMIT} failed authentications from this address in ${config.RATE_LIMIT_WINDOW_MS} ms (AUTH_FAILURE_LIMIT)`;
    const rateLimitedDetail = (max: number, after: string) => `more than ${max} requests in ${config.RATE_LIMIT_WINDOW_MS} ms; retry in ${after}`;
    const keys = apiKeys(config);
    const guards = (access: 'read' | 'write' | undefined) =>
      keys.length > 0 && (access === 'write' || (access === 'read' && config.PROTECT_READS));
    const limiting = config.RATE_LIMIT_MAX > 0;
    const failures = new FailureCounter(config.AUTH_FAILURE_LIMIT, config.RATE_LIMIT_WINDOW_MS);
    /** Requests that presented a valid key, and which one (a digest prefix: the key itself is never kept here). */
    const principals = new WeakMap<FastifyRequest, string>();

    if (keys.length > 0) {
      const digests = keys.map(sha256);
      const identities = digests.map((digest) => `key:${digest.toString('hex').slice(0, 16)}`);
      await app.register(bearerAuth, {
        keys,
        addHook: false,
        verifyErrorLogLevel: 'info',
        specCompliance: 'rfc6749',
        auth: (key: string, request: FastifyRequest) => {
          const digest = sha256(key);
          let found = -1;
          for (let i = 0; i < digests.length; i++) if (timingSafeEqual(digest, digests[i])) found = i;
          if (found < 0) return false;
          principals.set(request, identities[found]);
          return true;
        },
      });
    }
    const requireKey: onRequestHookHandler = (request, reply, done) => {
      if (config.AUTH_FAILURE_LIMIT > 0 && failures.blocked(request.ip)) {
        return done(new HttpProblem('too-many-requests', authFailuresDetail(), {}, failures.retryAfter()));
      }
      app.verifyBearerAuth!(request, reply, (error?: Error) => {
        if (!error) return done();
        failures.fail(request.ip);
        reply.header('www-authenticate', 'Bearer realm="resnet-gradient"');
        const detail = request.headers.authorization ? WRONG_KEY : MISSING_KEY;
        done(new HttpProblem('unauthorized', detail));
      });
    };

    app.addHook('onRoute', (route: RouteOptions) => {
      const access = route.config?.access;
      // Only the API routes count against the rate limit; health, metrics and docs never do.
      if (!access) route.config = { ...route.config, rateLimit: false } as RouteOptions['config'];
      if (!route.schema || route.schema.hide) return;
      const responses: Record<number, ErrorResponse> = {};
      const tooMany: Record<string, ProblemExample> = {};
      if (guards(access)) {
        route.onRequest = [requireKey, ...asArray(route.onRequest)];
        route.schema = { ...route.schema, security: [{ [BEARER_SCHEME]: [] }] };
        responses[401] = {
          description: 'The Authorization header is missing, or its bearer key is not valid.',
          examples: {
            missingKey: { summary: 'no Authorization header', kind: 'unauthorized', detail: MISSING_KEY },
            wrongKey: { summary: 'a key that is not one of API_KEY or API_KEYS', kind: 'unauthorized', detail: WRONG_KEY },
          },
        };
        if (config.AUTH_FAILURE_LIMIT > 0) tooMany.failedKeys = { summary: 'too many wrong keys from one address', kind: 'too-many-requests', detail: authFailuresDetail() };
      }
      if (access && limiting) tooMany.rateLimited = { summary: 'more requests than RATE_LIMIT_MAX in the window', kind: 'too-many-requests', detail: rateLimitedDetail(config.RATE_LIMIT_MAX, '1 minute') };
      if (Object.keys(tooMany).length > 0) {
        responses[429] = { description: 'Too many requests from this client in the window, or too many failed authentications from this address; retry after Retry-After seconds.', examples: tooMany };
      }
      route.schema = { ...route.schema, response: { ...(route.schema.response as object), ...errorResponses(examplePath(route.url), responses) } };
    });

    if (config.CORS_ORIGIN) {
      const origins = config.CORS_ORIGIN.split(',').map((origin) => origin.trim());
      await app.register(cors, { origin: origins.includes('*') ? true : origins, exposedHeaders: ['location', 'x-request-id', 'retry-after', 'etag', 'model-version'] });
    }
    if (limiting) {
      await app.register(rateLimit, {
        global: true,
        // After authentication (onRequest), before the body is read (by the handler).
        hook: 'preHandler',
        max: config.RATE_LIMIT_MAX,
        timeWindow: config.RATE_LIMIT_WINDOW_MS,
        keyGenerator: (request: FastifyRequest) => principals.get(request) ?? request.ip,
        errorResponseBuilder: (_request: FastifyRequest, context: { max: number; after: string }) =>
          new HttpProblem('too-many-requests', rateLimitedDetail(context.max, context.after)),
      });
    }
  },
  { name: 'security', dependencies: ['problems'] },
);
