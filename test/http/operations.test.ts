import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { problemsPlugin } from '../../src/http/plugins/problems.js';
import { operationsRoutes } from '../../src/http/routes/operations.js';
import { problemType, startApp } from '../helpers/app.js';
import { BUILT_IN_MODEL_IDS } from '../../src/registry/demo.js';

describe('health', () => {
  it('GET /health/live and /health/ready answer 200 once the app is up', async () => {
    const { http } = await startApp();
    expect((await http.get('/health/live').expect(200)).body).toEqual({ status: 'live' });
    expect((await http.get('/health/ready').expect(200)).body).toEqual({ status: 'ready', registry: { store: 'memory', reachable: true } });
  });

  it('readiness answers 503 problem+json while the service shuts down', async () => {
    // The app marks shutdown in a preClose hook, after which it takes no new connections; the
    // routes are exercised here with the flag raised.
    const app = Fastify();
    await app.register(problemsPlugin);
    await app.register(operationsRoutes, { isClosing: () => true });
    const response = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(503);
    expect(response.headers['content-type']).toMatch(problemType);
    expect(response.json()).toMatchObject({ type: '/problems/service-unavailable', detail: 'the service is shutting down' });
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    await app.close();
  });
});

describe('GET /metrics', () => {
  it('serves Prometheus text with request, kernel, registry and process metrics', async () => {
    const { http } = await startApp();
    await http.post('/gradient').send({ modelId: 'demo', points: [[0, 0], [1, 1], [2, 2]] }).expect(200);
    await http.post('/evaluate').send({ modelId: 'demo', points: [[0, 0], [1, 1]] }).expect(200);
    await http.post('/evaluate').send({ modelId: 'demo', points: [[0]] }).expect(422);
    await http.post('/models').send({ layers: 1, dim: 2, seed: 1 }).expect(201);
    const response = await http.get('/metrics').expect(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = response.text;
    expect(text).toMatch(/^http_request_duration_seconds_count\{method="POST",route="\/gradient",status="200"\} 1$/m);
    expect(text).toMatch(/^http_request_duration_seconds_count\{method="POST",route="\/evaluate",status="422"\} 1$/m);
    expect(text).toMatch(/^resnet_points_evaluated_total 5$/m);
    expect(text).toMatch(/^resnet_gradients_computed_total 3$/m);
    expect(text).toMatch(/^resnet_kernel_duration_seconds_count\{operation="gradient"\} 1$/m);
    expect(text).toMatch(/^resnet_kernel_duration_seconds_count\{operation="evaluate"\} 1$/m);
    expect(text).toMatch(new RegExp(`^resnet_registry_models ${BUILT_IN_MODEL_IDS.length + 1}$`, 'm'));
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it('labels unknown routes as unmatched rather than by their URL', async () => {
    const { http } = await startApp();
    await http.get('/no/such/route/123').expect(404);
    const text = (await http.get('/metrics')).text;
    expect(text).toMatch(/route="unmatched",status="404"/);
    expect(text).not.toContain('/no/such/route');
  });
});

describe('request ids', () => {
  it('an incoming x-request-id is used in the logs and echoed back', async () => {
    const { http, logs } = await startApp();
    const response = await http.get('/models/demo').set('x-request-id', 'trace-42.a').expect(200);
    expect(response.headers['x-request-id']).toBe('trace-42.a');
    expect(logs.find((line) => line.msg === 'request completed')?.reqId).toBe('trace-42.a');
  });

  it('without one, or with an unsafe one, the server makes a unique one', async () => {
    const { http } = await startApp();
    const plain = await http.get('/health/live').expect(200);
    const unsafe = await http.get('/health/live').set('x-request-id', 'x'.repeat(200)).expect(200);
    const ids = [plain, unsafe].map((response) => response.headers['x-request-id']);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
    expect(ids[0]).not.toBe(ids[1]);
  });
});
