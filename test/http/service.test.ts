import { describe, expect, it } from 'vitest';
import { createMemoryRegistry, type ModelRegistry } from '../../src/registry/registry.js';
import { problemType, startApp } from '../helpers/app.js';
import { BUILT_IN_MODEL_IDS } from '../../src/registry/demo.js';

/** A registry whose lookups of one id fail the way a broken store would. */
function brokenFor(id: string): ModelRegistry {
  const inner = createMemoryRegistry({ capacity: 10 });
  return {
    ...inner,
    async get(wanted) {
      if (wanted === id) throw new Error('store failed reading /var/secret/models.db');
      return inner.get(wanted);
    },
  };
}

describe('internal errors', () => {
  it('are answered with a 500 that reveals nothing, and logged with the request id', async () => {
    const { http, logs } = await startApp({}, { registry: brokenFor('broken') });
    const response = await http.post('/gradient').set('x-test', '1').send({ modelId: 'broken', points: [[0, 0]] }).expect(500);
    expect(response.headers['content-type']).toMatch(problemType);
    expect(response.body).toMatchObject({ type: '/problems/internal-error', status: 500, title: 'Internal error' });
    expect(response.text).not.toMatch(/secret|store failed|stack|at /);
    const reqId = response.body.detail.match(/request id (\S+)$/)?.[1];
    expect(reqId).toBeTruthy();
    const logged = logs.find((line) => line.reqId === reqId && line.level === 50 && line.msg === 'request failed');
    expect((logged?.err as { message: string }).message).toBe('store failed reading /var/secret/models.db');
  });
});

describe('request logs', () => {
  it('are one JSON line per request with reqId, method, route, status and responseTime', async () => {
    const { http, logs } = await startApp();
    await http.post('/gradient').send({ modelId: 'demo', points: [[0, 0]] }).expect(200);
    await http.get('/models/missing').expect(404);
    const lines = logs.filter((line) => line.msg === 'request completed');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 30, method: 'POST', route: '/gradient', status: 200, reqId: expect.any(String) });
    expect(lines[1]).toMatchObject({ method: 'GET', route: '/models/:id', url: '/models/missing', status: 404 });
    expect(lines.every((line) => typeof line.responseTime === 'number')).toBe(true);
    expect(new Set(lines.map((line) => line.reqId)).size).toBe(2);
  });
});

describe('the registry limit', () => {
  it('refuses a model beyond MAX_MODELS with 409 and registers nothing', async () => {
    const limit = BUILT_IN_MODEL_IDS.length + 1; // the demo models and one more
    const { http } = await startApp({ MAX_MODELS: String(limit) });
    await http.post('/models').send({ layers: 1, dim: 1, seed: 1 }).expect(201);
    const response = await http.post('/models').send({ layers: 1, dim: 1, seed: 2 }).expect(409).expect('content-type', problemType);
    expect(response.body).toMatchObject({ type: '/problems/registry-full', detail: `the registry holds its limit of ${limit} models (MAX_MODELS); delete one first` });
    expect((await http.get('/models')).body.models).toHaveLength(limit);
  });
});

describe('unknown routes', () => {
  it('are 404 problem+json', async () => {
    const { http } = await startApp();
    const response = await http.put('/models').send({}).expect(404).expect('content-type', problemType);
    expect(response.body).toMatchObject({ type: '/problems/not-found', detail: 'there is no route PUT /models' });
  });
});

describe('problem types', () => {
  it('resolve to a description of the kind of problem', async () => {
    const { http } = await startApp();
    const problem = (await http.post('/evaluate').send({ modelId: 'demo', points: [[1]] }).expect(422)).body;
    const kind = await http.get(problem.type).expect(200);
    expect(kind.body).toMatchObject({ type: problem.type, title: problem.title, status: 422, description: expect.stringContaining('inputDim') });
  });
});

describe('concurrency', () => {
  it('parallel requests on different models each get their own model’s answer', async () => {
    const { http } = await startApp();
    const ids = await Promise.all(
      [1, 2, 3, 4].map(async (seed) => (await http.post('/models').send({ layers: 10, dim: 3, seed }).expect(201)).body.id as string),
    );
    const point = [[0.3, -0.2, 0.1]];
    const sequential: number[] = [];
    for (const modelId of ids) sequential.push((await http.post('/evaluate').send({ modelId, points: point })).body.values[0]);
    const parallel = await Promise.all(
      Array.from({ length: 40 }, (_, i) => http.post(i % 2 ? '/gradient' : '/evaluate').send({ modelId: ids[i % 4], points: point })),
    );
    parallel.forEach((response, i) => {
      expect(response.status).toBe(200);
      expect(response.body.values[0]).toBe(sequential[i % 4]);
    });
    expect(new Set(sequential).size).toBe(4);
  });

  it('a model deleted while requests on it are in flight: each gets 200 or 404, never 500', async () => {
    const { http } = await startApp();
    const { id } = (await http.post('/models').send({ layers: 40, dim: 16, seed: 5 }).expect(201)).body;
    const points = Array.from({ length: 2000 }, (_, i) => Array.from({ length: 16 }, (_, j) => Math.sin(i + j)));
    const requests = Array.from({ length: 12 }, (_, i) => http.post(i % 2 ? '/gradient' : '/evaluate').send({ modelId: id, points }));
    const deletion = new Promise((resolve) => setTimeout(resolve, 5)).then(() => http.delete(`/models/${id}`));
    const [deleted, ...answers] = await Promise.all([deletion, ...requests]);
    expect(deleted.status).toBe(204);
    const statuses = answers.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 404)).toBe(true);
    for (const r of answers.filter((a) => a.status === 200)) expect(r.body.values).toHaveLength(2000);
    await http.post('/evaluate').send({ modelId: id, points: [points[0]] }).expect(404);
  });
});
