/**
 * The OpenAPI document, generated from the routes' TypeBox schemas, and Swagger UI at /docs
 * (the document itself at /docs/json). openapi/openapi.json is this document, committed.
 */
import swagger from '@fastify/swagger';
import helmet from '@fastify/helmet';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { readFileSync } from 'node:fs';
import { apiKeys } from '../../config.js';
import { errorResponses, examplePath, internalError } from '../schemas/problem.js';
import { BEARER_SCHEME } from './security.js';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const description = `Values and input gradients of residual neural networks
F(y) = η(wᵀZ^K + μ), Z^{k+1} = Z^k + h·σ(W_k Z^k + b_k), Z⁰ = y, computed in float64 from one forward
and one backward sweep. Register a model under /models, then ask /evaluate for F(y) or /gradient
for F(y) and ∇F(y) at a batch of points. The model \`demo\` is always there to try.

Every error is an RFC 9457 problem (\`application/problem+json\`) whose \`detail\` names the
offending field, and whose \`type\` resolves to a description of the kind of problem.`;

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The request body as the document shows it: a schema (for JSON), or media types with a
     * schema each, as @fastify/swagger takes a route's body. Bodies are read by the codecs, which
     * check them against the same schemas; Fastify does not validate them.
     */
    documentedBody?: object;
  }
}

export const openapiPlugin = fp(
  async (app) => {
    // What every documented operation shares: an explicit security list (empty when open), and
    // the 500 that any route can answer.
    app.addHook('onRoute', (route) => {
      if (!route.schema || route.schema.hide) return;
      route.schema = {
        ...route.schema,
        security: route.schema.security ?? [],
        response: { ...(route.schema.response as object), ...errorResponses(examplePath(route.url), { 500: internalError }) },
      };
    });
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'ResNet gradient service',
          version,
          description,
          license: { name: 'MIT', identifier: 'MIT' },
        },
        servers: [{ url: '/', description: 'The server that serves this document' }],
        ...(apiKeys(app.config).length > 0
          ? { components: { securitySchemes: { [BEARER_SCHEME]: { type: 'http', scheme: 'bearer', description: 'One of the keys in API_KEY or API_KEYS.' } } } }
          : {}),
        tags: [
          { name: 'models', description: 'The model registry: register, list, read and delete residual networks.' },
          { name: 'compute', description: 'F(y), and F(y) with ∇F(y), at a batch of points.' },
          { name: 'flows', description: 'Hamiltonian flows of learned T(p) + V(q) or H(q, p): symplectic integration on the server, and the vector field.' },
          { name: 'problems', description: 'Descriptions of the kinds of error the API reports.' },
          { name: 'operations', description: 'Health checks and Prometheus metrics, for orchestrators and monitoring.' },
          {
            name: 'open-inference-protocol',
            description:
              'The Open Inference Protocol (the V2 protocol of KServe and Triton): metadata, health and inference for the same models, with the binary tensor data extension. Errors here are the protocol\'s {"error": "…"}.',
          },
        ],
      },
      hideUntagged: true,
      transform: ({ schema, url, route }) => {
        const body = route.config?.documentedBody;
        return { schema: body === undefined ? schema : { ...schema, body }, url };
      },
    });
    // Swagger UI, in a context of its own with @fastify/helmet's security headers: these pages
    // are what a browser renders. Its CSP is Swagger UI's own, minus the upgrade to https (the
    // service is often reached over plain http), and with the inline styles its components set.
    await app.register(async (docs) => {
      await docs.register(helmet, {
        contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
        strictTransportSecurity: false,
      });
      await docs.register(swaggerUi, {
        routePrefix: '/docs',
        uiConfig: { tryItOutEnabled: true, persistAuthorization: true },
        staticCSP: true,
        transformStaticCSP: (header) =>
          header.replace(/\s*upgrade-insecure-requests;?/, '').replace("style-src 'self' https:", "style-src 'self' https: 'unsafe-inline'"),
      });
    });
  },
  { name: 'openapi' },
);
