import { describe, expect, it } from 'vitest';
import { computeExample } from '../../src/http/schemas/compute.js';
import { problemType, startApp } from '../helpers/app.js';
import { agrees, fixtureCases } from '../helpers/fixtures.js';

const { http } = await startApp({ MAX_POINTS: '50' });

const register = async (body: object): Promise<string> => (await http.post('/models').send(body).expect(201)).body.id;

describe('the shared fixture vectors, through HTTP, agree to 1e-12 relative', () => {
  it.each(fixtureCases.map((c) => [c.case, c] as const))('%s', async (_name, fixture) => {
    const modelId = await register(fixture.model);
    const gradient = await http.post('/gradient').send({ modelId, points: fixture.points }).expect(200);
    const evaluated = await http.post('/evaluate').send({ modelId, points: fixture.points }).expect(200);
    expect(gradient.body.modelId).toBe(modelId);
    expect(gradient.body.values).toHaveLength(fixture.values.length);
    fixture.values.forEach((want, p) => {
      expect(agrees(gradient.body.values[p], want), `values[${p}]`).toBe(true);
      expect(evaluated.body.values[p]).toBe(gradient.body.values[p]);
      expect(gradient.body.gradients[p]).toHaveLength(fixture.inputDim);
      fixture.gradients[p].forEach((g, i) => expect(agrees(gradient.body.gradients[p][i], g), `gradients[${p}][${i}]`).toBe(true));
    });
  });
});

describe('POST /evaluate and POST /gradient', () => {
  it('answer the documented example with the documented numbers', async () => {
    const { body } = await http.post('/gradient').send(computeExample.request).expect(200);
    expect(body).toEqual({ modelId: 'demo', modelVersion: 1, values: computeExample.values, gradients: computeExample.gradients });
    const evaluated = await http.post('/evaluate').send(computeExample.request).expect(200);
    expect(evaluated.body).toEqual({ modelId: 'demo', modelVersion: 1, values: computeExample.values });
  });

  it('keep the order of the points', async () => {
    const one = async (point: number[]) => (await http.post('/gradient').send({ modelId: 'demo', points: [point] })).body;
    const points = [[0, 0], [1, -1], [-2, 0.5]];
    const batch = (await http.post('/gradient').send({ modelId: 'demo', points }).expect(200)).body;
    for (const [p, point] of points.entries()) {
      const single = await one(point);
      expect([batch.values[p], batch.gradients[p]]).toEqual([single.values[0], single.gradients[0]]);
    }
  });

  it('accept up to MAX_POINTS points and refuse more with 413', async () => {
    const points = Array.from({ length: 50 }, (_, i) => [i / 10, -i / 20]);
    await http.post('/evaluate').send({ modelId: 'demo', points }).expect(200);
    const response = await http.post('/gradient').send({ modelId: 'demo', points: [...points, [0, 0]] }).expect(413).expect('content-type', problemType);
    expect(response.body).toMatchObject({ type: '/problems/content-too-large', detail: 'points has 51 points, more than the limit of 50 (MAX_POINTS)' });
  });

  it.each(['/evaluate', '/gradient'])('%s: a point with the wrong number of coordinates → 422 naming it', async (route) => {
    const points = [[0, 0], [1, 1], [1, 2, 3]];
    const response = await http.post(route).send({ modelId: 'demo', points }).expect(422).expect('content-type', problemType);
    expect(response.body).toEqual({
      type: '/problems/invalid-points',
      title: 'Points do not fit the model',
      status: 422,
      detail: "points[2] has 3 coordinates, expected 2 (the model's inputDim)",
      instance: route,
    });
  });

  it.each(['/evaluate', '/gradient'])('%s: an unknown model → 404', async (route) => {
    const response = await http.post(route).send({ modelId: 'nope', points: [[0, 0]] }).expect(404).expect('content-type', problemType);
    expect(response.body.detail).toBe("no model with id 'nope'");
  });

  it.each([
    [{ modelId: 'demo' }, 'points is required'],
    [{ modelId: 'demo', points: [] }, 'points must have at least 1 item'],
    [{ modelId: 'demo', points: [[0, 'x']] }, 'points[0][1] must be a finite number'],
    [{ modelId: 'demo', points: [0, 1] }, 'points[0] must be an array'],
    [{ modelId: 'demo', points: [[0, 1]], extra: 1 }, "body has an unknown property 'extra'"],
    [{ modelId: 3, points: [[0, 1]] }, 'modelId must be a string'],
  ])('a body that breaks the schema → 400: %j', async (body, detail) => {
    const response = await http.post('/gradient').send(body).expect(400).expect('content-type', problemType);
    expect(response.body.detail).toBe(detail);
  });

  it.each(['/evaluate', '/gradient'])('%s: no body and no Content-Type → 400 naming the body', async (route) => {
    // Fastify picks the body's validator by its Content-Type, so this request is validated by nobody.
    const response = await http.post(route).expect(400).expect('content-type', problemType);
    expect(response.body).toMatchObject({ type: '/problems/invalid-request', instance: route });
    expect(response.body.detail).toMatch(/^body is required: application\/json/);
    const empty = await http.post(route).set('content-type', 'application/json').expect(400).expect('content-type', problemType);
    expect(empty.body).toMatchObject({ type: '/problems/malformed-request', detail: 'the body is empty; send a JSON object' });
  });

  it('a coordinate that parses as non-finite (1e400) → 400 naming it', async () => {
    const response = await http
      .post('/evaluate')
      .set('content-type', 'application/json')
      .send('{"modelId":"demo","points":[[0,0],[-1e400,1]]}')
      .expect(400);
    expect(response.body.detail).toBe('points[1][0] must be a finite number');
  });

  it('a value or gradient that overflows → 422 naming the points; a 200 never carries a non-number', async () => {
    // relu lets a huge weight overflow for large inputs only.
    const modelId = await register({ activation: 'relu', h: 1, W: [[[1e300, 0], [0, 1]]], b: [[0, 0]], w: [1, 1], mu: 0 });
    const points = [[1, 1], [1e10, 0], [0.5, 0.5], [2e10, 1]];
    for (const route of ['/evaluate', '/gradient']) {
      const response = await http.post(route).send({ modelId, points }).expect(422).expect('content-type', problemType);
      expect(response.body).toMatchObject({
        type: '/problems/non-finite-result',
        status: 422,
        detail: 'points[1] and points[3] give values or gradients that are not finite (the network overflows there)',
        points: [1, 3],
      });
    }
    const fine = await http.post('/gradient').send({ modelId, points: [[1, 1], [0.5, 0.5]] }).expect(200);
    expect(fine.text).not.toMatch(/null|Infinity|NaN/);
  });

  it('answer JSON whose numbers read back to the kernel’s doubles', async () => {
    const response = await http.post('/gradient').send({ modelId: 'demo', points: [[0.1, 0.2]] }).expect(200);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.text).toBe(JSON.stringify(response.body));
  });
});
