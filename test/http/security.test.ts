import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { problemType, startApp } from '../helpers/app.js';
import { BUILT_IN_MODEL_IDS } from '../../src/registry/demo.js';

const model = { layers: 2, dim: 2, seed: 1 };
const point = { modelId: 'demo', points: [[0.5, -0.25]] };

describe('API keys (API_KEY)', async () => {
  const { http } = await startApp({ API_KEY: 'k-primary' });

  it.each([
    ['no Authorization header', undefined, 'this operation needs Authorization: Bearer <key>'],
    ['a wrong key', 'Bearer k-wrong', 'the bearer key is not valid'],
    ['a key of another scheme', 'Basic k-primary', 'the bearer key is not valid'],
  ])('POST /models with %s → 401 problem+json, nothing registered', async (_name, authorization, detail) => {
    const request = http.post('/models').send(model);
    if (authorization) request.set('authorization', authorization);
    const response = await request.expect(401).expect('content-type', problemType);
    expect(response.body).toMatchObject({ type: '/problems/unauthorized', status: 401, detail });
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await http.get('/models')).body.models).toHaveLength(BUILT_IN_MODEL_IDS.length);
  });

  it('the right key registers and deletes', async () => {
    const created = await http.post('/models').set('authorization', 'Bearer k-primary').send(model).expect(201);
    await http.delete(`/models/${created.body.id}`).expect(401);
    await http.delete(`/models/${created.body.id}`).set('authorization', 'Bearer k-primary').expect(204);
  });

  it('reads, health, metrics and docs stay open', async () => {
    await http.post('/gradient').send(point).expect(200);
    await http.post('/evaluate').send(point).expect(200);
    await http.get('/models').expect(200);
    await http.get('/models/demo').expect(200);
    await http.get('/health/ready').expect(200);
    await http.get('/metrics').expect(200);
    await http.get('/docs/json').expect(200);
  });
});

describe('key rotation (API_KEYS) and guarded reads (PROTECT_READS)', async () => {
  const { http } = await startApp({ API_KEY: 'k-old', API_KEYS: 'k-new, k-next', PROTECT_READS: 'true' });

  it('accepts every configured key', async () => {
    for (const key of ['k-old', 'k-new', 'k-next']) {
      await http.post('/models').set('authorization', `Bearer ${key}`).send(model).expect(201);
    }
  });

  it('guards /evaluate, /gradient and the GETs of /models', async () => {
    for (const request of [http.post('/gradient').send(point), http.post('/evaluate').send(point), http.get('/models'), http.get('/models/demo')]) {
      await request.expect(401).expect('content-type', problemType);
    }
    await http.post('/gradient').set('authorization', 'Bearer k-new').send(point).expect(200);
    await http.get('/models/demo').set('authorization', 'Bearer k-next').expect(200);
  });

  it('leaves health, metrics and docs open', async () => {
    await http.get('/health/live').expect(200);
    await http.get('/health/ready').expect(200);
    await http.get('/metrics').expect(200);
    await http.get('/docs/').expect(200);
  });

  it('declares the bearer scheme on exactly the guarded operations, and the document lints clean', async () => {
    const spec = (await http.get('/docs/json').expect(200)).body;
    expect(spec.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const secured: string[] = [];
    for (const [path, methods] of Object.entries(spec.paths as Record<string, Record<string, { security: unknown[]; responses: object }>>)) {
      for (const [method, op] of Object.entries(methods)) {
        if (op.security.length > 0) {
          secured.push(`${method.toUpperCase()} ${path}`);
          expect(op.security).toEqual([{ bearerAuth: [] }]);
          expect(op.responses).toHaveProperty('401');
        } else {
          expect(op.responses).not.toHaveProperty('401');
        }
      }
    }
    expect(secured.sort()).toEqual(['DELETE /models/{id}', 'DELETE /models/{id}/versions/{version}', 'GET /models', 'GET /models/{id}', 'GET /models/{id}/versions', 'GET /models/{id}/versions/{version}', 'POST /evaluate', 'POST /flows', 'POST /flows/vector-field', 'POST /gradient', 'POST /hessian', 'POST /hvp', 'POST /models', 'POST /trace', 'PUT /models/{id}', 'GET /v2/models/{name}', 'GET /v2/models/{name}/ready', 'POST /v2/models/{name}/infer', 'GET /v2/models/{name}/versions/{version}', 'GET /v2/models/{name}/versions/{version}/ready', 'POST /v2/models/{name}/versions/{version}/infer'].sort());
    const file = join(mkdtempSync(join(tmpdir(), 'openapi-')), 'guarded.json');
    writeFileSync(file, JSON.stringify(spec));
    const { stdout } = await promisify(execFile)(new URL('../../node_modules/.bin/redocly', import.meta.url).pathname, ['lint', file, '--format=json'], {
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    }).catch((error: { stdout: string }) => error);
    const report = JSON.parse(stdout.slice(stdout.indexOf('{')));
    expect(report.problems.filter((p: { severity: string }) => p.severity === 'error')).toEqual([]);
  }, 60_000);
});

describe('without keys', async () => {
  const { http } = await startApp();

  it('every operation is open and says so', async () => {
    const spec = (await http.get('/docs/json').expect(200)).body;
    expect(spec.components?.securitySchemes).toBeUndefined();
    for (const methods of Object.values(spec.paths as Record<string, Record<string, { security: unknown[] }>>)) {
      for (const op of Object.values(methods)) expect(op.security).toEqual([]);
    }
  });
});

describe('rate limiting (RATE_LIMIT_MAX)', async () => {
  const { http } = await startApp({ RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' });

  it('answers 429 problem+json with Retry-After past the limit, per client', async () => {
    for (let i = 0; i < 3; i++) await http.post('/evaluate').send(point).expect(200);
    const limited = await http.post('/gradient').send(point).expect(429).expect('content-type', problemType);
    expect(limited.body).toMatchObject({ type: '/problems/too-many-requests', status: 429 });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // An Authorization header nobody verified makes no client of its own.
    await http.post('/evaluate').set('authorization', 'Bearer someone-else').send(point).expect(429);
  });

  it('never limits health, metrics or docs', async () => {
    for (let i = 0; i < 10; i++) await http.get('/health/live').expect(200);
    await http.get('/metrics').expect(200);
    await http.get('/docs/json').expect(200);
  });
});

describe('security headers (helmet)', async () => {
  const { http } = await startApp();

  it('API answers, which are data, carry nosniff', async () => {
    for (const response of [await http.post('/evaluate').send(point).expect(200), await http.get('/models/nope').expect(404)]) {
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['x-powered-by']).toBeUndefined();
    }
  });

  it('the pages browsers render (Swagger UI) carry helmet’s whole set', async () => {
    const response = await http.get('/docs/').expect(200);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(response.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
  });

  it('let Swagger UI run: its pages get Swagger UI’s own CSP, without the upgrade to https', async () => {
    for (const path of ['/docs/', '/docs/static/swagger-initializer.js']) {
      const csp = (await http.get(path).expect(200)).headers['content-security-policy'];
      expect(csp).toMatch(/script-src 'self'/);
      expect(csp).toContain('img-src \'self\' data: validator.swagger.io');
      expect(csp).not.toContain('upgrade-insecure-requests');
    }
  });
});

describe('CORS', () => {
  it('is off by default', async () => {
    const { http } = await startApp();
    const response = await http.post('/evaluate').set('origin', 'https://app.example').send(point).expect(200);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows the configured origins (CORS_ORIGIN)', async () => {
    const { http } = await startApp({ CORS_ORIGIN: 'https://app.example' });
    const preflight = await http
      .options('/gradient')
      .set('origin', 'https://app.example')
      .set('access-control-request-method', 'POST')
      .set('access-control-request-headers', 'content-type');
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example');
    const other = await http.post('/evaluate').set('origin', 'https://evil.example').send(point).expect(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});
