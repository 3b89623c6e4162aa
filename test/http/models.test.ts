import { describe, expect, it } from 'vitest';
import { problemType, startApp } from '../helpers/app.js';

const { http } = await startApp({ MAX_MODEL_WEIGHTS: '1000', MAX_MODELS: '20', BODY_LIMIT: '65536' });

const explicit = {
  name: 'two-layer',
  activation: 'sigmoid',
  output: 'logistic',
  h: 0.25,
  W: [
    [
      [0.5, -0.25],
      [0.125, 0.75],
    ],
    [
      [1, 2],
      [3, 4],
    ],
  ],
  b: [
    [0, 0.1],
    [-0.2, 0.3],
  ],
  w: [1, -0.5],
  mu: 0.3,
};

const ids = async () => ((await http.get('/models').expect(200)).body.models as { id: string }[]).map((m) => m.id);

describe('POST /models', () => {
  it('registers a model from its parameters: 201, Location and the summary', async () => {
    const response = await http.post('/models').send(explicit).expect(201);
    expect(response.headers.location).toBe(`/models/${response.body.id}`);
    expect(response.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'two-layer',
      version: 1,
      layers: 2,
      dim: 2,
      inputDim: 2,
      activation: 'sigmoid',
      output: 'logistic',
      h: 0.25,
      parameterCount: 2 * 4 + 2 * 2 + 2 + 1,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    await http.get(response.headers.location).expect(200);
  });

  it('fills in the defaults: tanh, identity, inputDim = d, name = id', async () => {
    const { body } = await http.post('/models').send({ h: 0.1, W: [[[1]]], b: [[0]], w: [1], mu: 0 }).expect(201);
    expect(body).toMatchObject({ activation: 'tanh', output: 'identity', inputDim: 1, name: body.id });
  });

  it('takes the course’s column layouts (b as K × d × 1, w as d × 1), small or streamed, as the same model', async () => {
    const columns = { ...explicit, b: explicit.b.map((row) => row.map((x) => [x])), w: explicit.w.map((x) => [x]) };
    // Past 16 KiB a body is read as it arrives: trailing spaces take this one there.
    const streamed = JSON.stringify(columns) + ' '.repeat(20_000);
    const points = [[0.5, -0.25], [1, 2]];
    const answers = [];
    for (const body of [explicit, columns, streamed]) {
      const { body: created } = await http.post('/models').set('content-type', 'application/json').send(body).expect(201);
      const { body: detail } = await http.get(`/models/${created.id}`).expect(200);
      expect([detail.b, detail.w]).toEqual([explicit.b, explicit.w]);
      answers.push((await http.post('/gradient').send({ modelId: created.id, points }).expect(200)).text.replace(created.id, ''));
    }
    expect(new Set(answers).size).toBe(1);
  });

  it('draws a model from a seed: the same seed gives the same parameters', async () => {
    const form = { layers: 3, dim: 4, inputDim: 2, seed: 7, activation: 'relu' };
    const a = await http.post('/models').send(form).expect(201);
    const b = await http.post('/models').send(form).expect(201);
    const c = await http.post('/models').send({ ...form, seed: 8 }).expect(201);
    expect(a.body).toMatchObject({ layers: 3, dim: 4, inputDim: 2, activation: 'relu', h: 0.1 });
    const [pa, pb, pc] = await Promise.all([a, b, c].map((r) => http.get(r.headers.location).expect(200)));
    expect(pa.body.W).toEqual(pb.body.W);
    expect(pa.body.mu).toBe(0);
    expect(pa.body.W).not.toEqual(pc.body.W);
    expect(pa.body.W).toHaveLength(3);
    expect(pa.body.W[2][3]).toHaveLength(4);
  });
});

describe('GET /models/{id}', () => {
  it('returns every float64 bit for bit, −0, subnormals and extremes included', async () => {
    const awkward = [-0, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, -2.2250738585072014e-308, 1 / 3];
    // Written by hand: JSON.stringify would turn −0 into 0.
    const text =
      '{"h":1e-300,"W":[[[-0,5e-324],[1.7976931348623157e308,0.30000000000000004]]],' +
      '"b":[[-2.2250738585072014e-308,0.3333333333333333]],"w":[-0.0,123456789.12345678],"mu":-0}';
    const created = await http.post('/models').set('content-type', 'application/json').send(text).expect(201);
    const response = await http.get(created.headers.location).expect(200);
    // Parse the raw text, so that nothing in between can smooth the numbers over.
    const read = JSON.parse(response.text);
    expect(response.text).toContain('"mu":-0');
    expect(Object.is(read.mu, -0)).toBe(true);
    expect(Object.is(read.W[0][0][0], -0)).toBe(true);
    expect(read.W.flat(2)).toEqual(awkward.slice(0, 4));
    expect(read.b).toEqual([awkward.slice(4, 6)]);
    expect(read.w).toEqual([-0, 123456789.12345678]);
    expect(read.h).toBe(1e-300);
    expect(read).toMatchObject({ id: created.body.id, layers: 1, dim: 2, createdAt: created.body.createdAt });
  });

  it('is 404 problem+json for an unknown id', async () => {
    const response = await http.get('/models/no-such-model').expect(404).expect('content-type', problemType);
    expect(response.body).toEqual({
      type: '/problems/model-not-found',
      title: 'Model not found',
      status: 404,
      detail: "no model with id 'no-such-model'",
      instance: '/models/no-such-model',
    });
  });
});

describe('paths the router refuses before any route runs', () => {
  it('an id that is not valid percent-encoding → 400 problem+json, for GET and DELETE', async () => {
    for (const method of ['get', 'delete'] as const) {
      const response = await http[method]('/models/%E0%A4%A').expect(400).expect('content-type', problemType);
      expect(response.headers['x-request-id']).toBeTruthy();
      expect(response.body).toEqual({
        type: '/problems/malformed-request',
        title: 'Malformed request',
        status: 400,
        detail: 'the path /models/%E0%A4%A is not valid percent-encoding',
        instance: '/models/%E0%A4%A',
      });
    }
  });

  it('an id longer than any id (100 characters) → 404 problem+json, and nothing deleted', async () => {
    const before = await ids();
    for (const method of ['get', 'delete'] as const) {
      const response = await http[method](`/models/${'a'.repeat(101)}`).expect(404).expect('content-type', problemType);
      expect(response.body).toMatchObject({ type: '/problems/model-not-found', detail: 'no model has an id that long (ids have at most 100 characters)' });
    }
    // One character shorter is an ordinary unknown id.
    const response = await http.get(`/models/${'a'.repeat(100)}`).expect(404);
    expect(response.body.detail).toBe(`no model with id '${'a'.repeat(100)}'`);
    expect(await ids()).toEqual(before);
  });
});

describe('GET /models', () => {
  it('lists the demo model and every registered model, oldest first, without parameters', async () => {
    const { body } = await http.post('/models').send({ layers: 1, dim: 1, seed: 1, name: 'listed' }).expect(201);
    const list = (await http.get('/models').expect(200)).body.models;
    expect(list[0]).toMatchObject({ id: 'demo', name: 'demo', layers: 8, dim: 4, inputDim: 2 });
    expect(list.at(-1)).toEqual(body);
    expect(list.every((m: object) => !('W' in m))).toBe(true);
  });
});

describe('DELETE /models/{id}', () => {
  it('answers 204, after which the model is 404 everywhere', async () => {
    const { body } = await http.post('/models').send({ layers: 1, dim: 2, seed: 3 }).expect(201);
    await http.post('/gradient').send({ modelId: body.id, points: [[1, 2]] }).expect(200);
    const deleted = await http.delete(`/models/${body.id}`).expect(204);
    expect(deleted.text).toBe('');
    await http.get(`/models/${body.id}`).expect(404);
    await http.delete(`/models/${body.id}`).expect(404).expect('content-type', problemType);
    await http.post('/evaluate').send({ modelId: body.id, points: [[1, 2]] }).expect(404);
    await http.post('/gradient').send({ modelId: body.id, points: [[1, 2]] }).expect(404);
    expect(await ids()).not.toContain(body.id);
  });
});

describe('refused models: a clear problem, and nothing registered', () => {
  const withW = (W: unknown) => ({ ...explicit, W });
  it.each(
    (
      [
    ['a missing field', { ...explicit, mu: undefined }, 400, 'mu is required'],
    ['several missing fields, named at once', { ...explicit, h: undefined, mu: undefined }, 400, 'h and mu are required'],
    ['a seeded model missing both its sizes', { seed: 1 }, 400, 'layers and dim are required'],
    ['an unknown field', { layers: 2, dim: 3, seed: 1, activaton: 'relu' }, 400, "body has an unknown property 'activaton'"],
    ['a string for a number', { ...explicit, h: '0.1' }, 400, 'h must be a finite number'],
    ['a string inside W', withW([explicit.W[0], [[1, 2], [3, 'x']]]), 400, 'W[1][1][1] must be a finite number'],
    ['null inside b', { ...explicit, b: [[0, null], [1, 2]] }, 400, 'b[0][1] must be a finite number'],
    ['an unknown activation', { ...explicit, activation: 'softplus' }, 400, 'activation must be one of tanh, sigmoid, relu'],
    ['an unknown output', { ...explicit, output: 'softmax' }, 400, 'output must be one of identity, logistic'],
    ['an empty W', withW([]), 400, 'W must have at least 1 item'],
    ['inputDim 0', { ...explicit, inputDim: 0 }, 400, 'inputDim must be >= 1'],
    ['a fractional seed', { layers: 2, dim: 2, seed: 1.5 }, 400, 'seed must be an integer'],
    ['a negative seed', { layers: 2, dim: 2, seed: -1 }, 400, 'seed must be >= 0'],
    ['zero layers', { layers: 0, dim: 2, seed: 1 }, 400, 'layers must be >= 1'],
    ['a missing dim', { layers: 2, seed: 1 }, 400, 'dim is required'],
    ['W with a wrong number of rows', withW([explicit.W[0], [[1, 2], [3, 4], [5, 6]]]), 422, 'W[1] has 3 rows; expected a d × d matrix with d = 2, the length of w'],
    ['a ragged W', withW([explicit.W[0], [[1, 2], [3]]]), 422, 'W[1][1] has 1 column; expected d = 2, the length of w (W[1] is d × d)'],
    ['b with too few biases', { ...explicit, b: [[0, 1]] }, 422, 'b has 1 bias; expected K = 2, one for each matrix of W (b is K × d)'],
    ['a short b row', { ...explicit, b: [[0, 1], [2]] }, 422, 'b[1] has 1 entry; expected d = 2 entries, the length of w (b is K × d)'],
    ['a short b column', { ...explicit, b: [[[0], [1]], [[2]]] }, 422, 'b[1] has shape 1 × 1; expected d = 2 entries, the length of w (b is K × d × 1)'],
    ['b columns of two numbers', { ...explicit, b: [[[0, 1], [1, 2]], [[2, 3], [3, 4]]] }, 422, 'b[0][0] has 2 entries; b given as columns (K × d × 1) has one number in each'],
    ['w as a row, not a column', { ...explicit, w: [[1, 2]] }, 422, 'w[0] has 2 entries; w given as columns (d × 1) has one number in each'],
    ['b as K × 1 × d (rows, not columns)', { ...explicit, b: [[[0, 1]], [[2, 3]]] }, 422, 'b[0][0] has 2 entries; b given as columns (K × d × 1) has one number in each'],
    ['w longer than W is wide', { ...explicit, w: [1, 2, 3] }, 422, 'W[0] has 2 rows; expected a d × d matrix with d = 3, the length of w'],
    ['inputDim above d', { ...explicit, inputDim: 3 }, 422, 'inputDim 3 exceeds dim 2'],
    ['inputDim above dim (seeded)', { layers: 1, dim: 2, seed: 1, inputDim: 5 }, 422, 'inputDim 5 exceeds dim 2'],
    ['K·d² over MAX_MODEL_WEIGHTS (seeded)', { layers: 11, dim: 10, seed: 1 }, 413, 'K·d² = 11·10² = 1100 weights, more than the limit of 1000 (MAX_MODEL_WEIGHTS)'],
    ['an enormous seeded model, refused before allocation', { layers: 1e6, dim: 1e6, seed: 1 }, 413, 'more than the limit of 1000'],
      ] as [string, object, number, string][]
    ).map(([name, body, status, detail]) => ({ name, body, status, detail })),
  )('$name → $status', async ({ body, status, detail }) => {
    const before = await ids();
    const response = await http.post('/models').send(body).expect(status).expect('content-type', problemType);
    expect(response.body).toMatchObject({ status, instance: '/models' });
    expect(response.body.detail).toContain(detail);
    expect(response.body.type).toMatch(/^\/problems\/[a-z-]+$/);
    expect(await ids()).toEqual(before);
  });

  it('a number that parses as non-finite (1e400) → 400 naming it', async () => {
    const text = JSON.stringify(explicit).replace('"mu":0.3', '"mu":1e400');
    const response = await http.post('/models').set('content-type', 'application/json').send(text).expect(400);
    expect(response.body.detail).toBe('mu must be a finite number');
  });

  it('malformed JSON → 400', async () => {
    const response = await http.post('/models').set('content-type', 'application/json').send('{"h": 0.1,').expect(400);
    expect(response.body).toMatchObject({ type: '/problems/malformed-request', status: 400 });
    expect(response.body.detail).toMatch(/^the body is not valid JSON/);
  });

  it('a __proto__ key → 400', async () => {
    const text = '{"__proto__": {"polluted": true}, "layers": 1, "dim": 1, "seed": 1}';
    await http.post('/models').set('content-type', 'application/json').send(text).expect(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a body over BODY_LIMIT → 413', async () => {
    const big = { ...explicit, name: 'x'.repeat(70_000) };
    const response = await http.post('/models').send(big).expect(413).expect('content-type', problemType);
    expect(response.body.detail).toBe('the body is larger than the limit of 65536 bytes (BODY_LIMIT)');
  });

  it('a model over MAX_MODEL_WEIGHTS given by its parameters → 413', async () => {
    const d = 11;
    const row = Array.from({ length: d }, () => 0.5);
    const body = { h: 0.1, W: Array.from({ length: 9 }, () => Array.from({ length: d }, () => row)), b: Array.from({ length: 9 }, () => row), w: row, mu: 0 };
    const response = await http.post('/models').send(body).expect(413);
    expect(response.body.detail).toContain('K·d² = 9·11² = 1089 weights');
  });

  it('a large body over MAX_MODEL_WEIGHTS → 413 at the first weight past the limit, before the rest is read', async () => {
    const d = 30;
    const row = Array.from({ length: d }, (_, i) => i / 7);
    const body = { h: 0.1, W: Array.from({ length: 2 }, () => Array.from({ length: d }, () => row)), b: [row, row], w: row, mu: 0 };
    const response = await http.post('/models').send(body).expect(413);
    expect(response.body.detail).toBe('W holds more than 1000 numbers, more than a model within the limit of 1000 weights (MAX_MODEL_WEIGHTS) has');
  });

  it('a body that is not JSON → 415', async () => {
    const response = await http.post('/models').set('content-type', 'text/plain').send('layers=2').expect(415);
    expect(response.body).toMatchObject({ type: '/problems/unsupported-media-type', status: 415 });
  });

  it('raw float64s, which only /evaluate and /gradient take → 415 naming the route, and nothing registered', async () => {
    const before = (await http.get('/models').expect(200)).body.models.length;
    const response = await http
      .post('/models')
      .set('content-type', 'application/octet-stream')
      .send(Buffer.from(new Float64Array([1, 2, 3]).buffer))
      .expect(415)
      .expect('content-type', /^application\/problem\+json/);
    expect(response.body).toMatchObject({
      type: '/problems/unsupported-media-type',
      detail: 'POST /models takes application/json or application/x-npz or application/x-safetensors, not application/octet-stream',
    });
    expect((await http.get('/models').expect(200)).body.models).toHaveLength(before);
  });
});
