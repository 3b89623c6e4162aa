/**
 * Models with input and output scaling, over HTTP: the vectors of an independent implementation
 * (scripts/fixtures/scaled_vectors.py: PyTorch autograd through the course's scaling), on this
 * thread and on the pool's; the course's scaling redone by hand against the unscaled network; the
 * transformations kept as sent; and every malformed one refused with a 422 naming the coordinate.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { agrees } from '../helpers/fixtures.js';
import { problemType, startApp } from '../helpers/app.js';

interface ScaledCase {
  readonly case: string;
  readonly model: Record<string, unknown> & { activation: string; output: string };
  readonly points: number[][];
  readonly values: number[];
  readonly gradients: number[][];
}

const cases: readonly ScaledCase[] = JSON.parse(readFileSync(new URL('../fixtures/scaled-vectors.json', import.meta.url), 'utf8')).cases;

const [here, pool] = await Promise.all([startApp({ WORKERS: '0' }), startApp({ WORKERS: '1', WORKER_MIN_FLOPS: '1' })]);

async function register(app: typeof here, model: object): Promise<string> {
  const created = await app.http.post('/models').send(model).expect(201);
  return created.body.id as string;
}

function expectAgreement(got: { values: number[]; gradients: number[][] }, want: { values: number[]; gradients: number[][] }) {
  want.values.forEach((value, p) => {
    expect(agrees(got.values[p], value), `values[${p}] = ${got.values[p]}, want ${value}`).toBe(true);
    want.gradients[p].forEach((g, i) => expect(agrees(got.gradients[p][i], g), `gradients[${p}][${i}] = ${got.gradients[p][i]}, want ${g}`).toBe(true));
  });
}

describe('scaled models against an independent implementation', () => {
  it('cover every σ × η, each unscaled, min–max scaled and affinely scaled', () => {
    const seen = new Set(cases.map((c) => `${c.model.activation}/${c.model.output}/${c.case.split('-').at(-1)}`));
    expect(seen.size).toBe(3 * 2 * 3);
  });

  describe.each([
    ['this thread', here],
    ['the pool', pool],
  ] as const)('on %s', (_where, app) => {
    it.each(cases.map((c) => [c.case, c] as const))('%s: values and gradients to 1e-12 relative', async (_name, fixture) => {
      const modelId = await register(app, fixture.model);
      const answer = await app.http.post('/gradient').send({ modelId, points: fixture.points }).expect(200);
      expectAgreement(answer.body, fixture);
      const values = await app.http.post('/evaluate').send({ modelId, points: fixture.points }).expect(200);
      expect(values.body.values).toEqual(answer.body.values);
    });
  });
});

describe("the course's min–max scaling, redone by hand", () => {
  const sigmas = ['tanh', 'sigmoid', 'relu'];
  const etas = ['identity', 'logistic'];
  const network = { h: 0.1, W: [[[0.5, -0.25], [0.125, 0.75]], [[-0.3, 0.2], [0.4, 0.1]]], b: [[0.1, -0.2], [0.05, 0.3]], w: [1.5, -0.5], mu: 0.25 };
  // q in [−π, π] and p in [−2, 3] scaled onto [0, 1]; the targets in [−0.5, 2.5] seen by the network on [lo, hi].
  const qp = { min: [-Math.PI, -2], max: [Math.PI, 3] };
  const points = [[0.3, -1.2], [-2.5, 2.9], [3, 0], [-0.1, -1.9]];

  it.each(sigmas.flatMap((activation) => etas.map((output) => [activation, output] as const)))('σ = %s, η = %s', async (activation, output) => {
    const [lo, hi] = output === 'logistic' ? [0.2, 0.8] : [0, 1];
    const target = { min: -0.5, max: 2.5, ...(output === 'logistic' ? { range: [lo, hi] } : {}) };
    const plain = await register(here, { ...network, activation, output });
    const scaled = await register(here, { ...network, activation, output, inputScaling: qp, outputScaling: target });
    // The student's own code: scale the points, ask the network, scale the value back, and the
    // gradient by the chain rule, one coordinate at a time.
    const x = points.map((y) => y.map((yi, i) => (yi - qp.min[i]) / (qp.max[i] - qp.min[i])));
    const inner = (await here.http.post('/gradient').send({ modelId: plain, points: x }).expect(200)).body;
    const factor = (target.max - target.min) / (hi - lo);
    const want = {
      values: inner.values.map((v: number) => target.min + (v - lo) * factor),
      gradients: inner.gradients.map((g: number[]) => g.map((gi, i) => (factor * gi) / (qp.max[i] - qp.min[i]))),
    };
    const got = (await here.http.post('/gradient').send({ modelId: scaled, points }).expect(200)).body;
    expectAgreement(got, want);
  });
});

describe('the transformations as sent', () => {
  it('come back exactly, in the summary and the model, range and −0 included', async () => {
    // As text: JSON.stringify would write −0 as 0.
    const scaling = '"inputScaling":{"min":[-0,-2.000000000000001],"max":[1e-300,2],"range":[-1,1]},"outputScaling":{"scale":-0.1,"offset":-0}';
    const body = `${JSON.stringify(fixtureModel()).slice(0, -1)},${scaling}}`;
    const created = await here.http.post('/models').set('content-type', 'application/json').send(body).expect(201);
    expect(created.text).toContain('"inputScaling":{"min":[-0,-2.000000000000001],"max":[1e-300,2],"range":[-1,1]}');
    const read = await here.http.get(`/models/${created.body.id}`).expect(200);
    expect(read.text).toContain('"inputScaling":{"min":[-0,-2.000000000000001],"max":[1e-300,2],"range":[-1,1]}');
    expect(read.text).toContain('"outputScaling":{"scale":-0.1,"offset":-0}');
  });

  it('are optional: a model without them is the network itself', async () => {
    const created = await here.http.post('/models').send(fixtureModel()).expect(201);
    expect(created.body).not.toHaveProperty('inputScaling');
    expect(created.body).not.toHaveProperty('outputScaling');
  });
});

function fixtureModel() {
  const { model } = cases[0];
  const { inputScaling: _i, outputScaling: _o, ...network } = model;
  return network;
}

describe('malformed transformations', () => {
  it.each([
    ['a zero input scale', { inputScaling: { scale: [1, 0], offset: [0, 0] } }, 'inputScaling.scale[1] is 0; a scale must be a finite number other than 0'],
    ['a zero output scale', { outputScaling: { scale: 0, offset: 1 } }, 'outputScaling.scale is 0; a scale must be a finite number other than 0'],
    ['min = max on a coordinate', { inputScaling: { min: [0, 2], max: [1, 2] } }, 'inputScaling.min[1] and inputScaling.max[1] are both 2; min–max scaling needs max ≠ min'],
    ['min = max on the output', { outputScaling: { min: 3, max: 3 } }, 'outputScaling.min and outputScaling.max are both 3; min–max scaling needs max ≠ min'],
    ['a range with lo = hi', { outputScaling: { min: 0, max: 1, range: [0.5, 0.5] } }, 'outputScaling.range is [0.5, 0.5]; lo and hi must differ'],
    ['too few coordinates', { inputScaling: { scale: [1], offset: [0] } }, "inputScaling.scale has 1 entry; expected d₀ = 2, the model's inputDim"],
    ['a scale that overflows the map', { inputScaling: { min: [0, 0], max: [1e-320, 1] } }, 'inputScaling gives coordinate 0 the map x = Infinity·y + NaN, which is not finite'],
  ])('%s: 422 naming the coordinate, nothing stored', async (_name, scaling, detail) => {
    const before = (await here.http.get('/models').expect(200)).body.models.length;
    const refused = await here.http.post('/models').send({ ...fixtureModel(), ...scaling }).expect(422).expect('content-type', problemType);
    expect(refused.body).toMatchObject({ type: '/problems/invalid-model', detail });
    expect((await here.http.get('/models').expect(200)).body.models).toHaveLength(before);
  });

  it.each([
    ['both forms at once', { inputScaling: { scale: [1, 1], offset: [0, 0], min: [0, 0] } }],
    ['a range of three numbers', { outputScaling: { min: 0, max: 1, range: [0, 0.5, 1] } }],
    ['a string for a scale', { outputScaling: { scale: '2', offset: 0 } }],
  ])('%s: 400 invalid-request', async (_name, scaling) => {
    const refused = await here.http.post('/models').send({ ...fixtureModel(), ...scaling }).expect(400).expect('content-type', problemType);
    expect(refused.body.type).toBe('/problems/invalid-request');
    expect(refused.body.detail).toMatch(/Scaling/);
  });
});

describe('a model body large enough to be read as it arrives', () => {
  it('keeps its transformations, and scales its values and gradients the same way', async () => {
    const K = 40;
    const d = 8;
    const layer = (k: number) => Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => Math.sin(k + i * d + j) / d));
    const network = { inputDim: 2, h: 0.05, W: Array.from({ length: K }, (_, k) => layer(k)), b: Array.from({ length: K }, (_, k) => Array.from({ length: d }, (_, i) => Math.cos(k * d + i) / 4)), w: Array.from({ length: d }, (_, i) => 1 / (i + 1)), mu: 0.5 };
    const inputScaling = { scale: [0.25, -3], offset: [1, 0.5] };
    const outputScaling = { scale: 4, offset: -1 };
    const body = JSON.stringify({ ...network, inputScaling, outputScaling });
    expect(body.length).toBeGreaterThan(16 * 1024);
    const scaled = await here.http.post('/models').set('content-type', 'application/json').send(body).expect(201);
    expect(scaled.body).toMatchObject({ inputScaling, outputScaling });
    const plain = await register(here, network);
    const y = [0.3, -0.7];
    const x = y.map((yi, i) => inputScaling.scale[i] * yi + inputScaling.offset[i]);
    const inner = (await here.http.post('/gradient').send({ modelId: plain, points: [x] }).expect(200)).body;
    const got = (await here.http.post('/gradient').send({ modelId: scaled.body.id, points: [y] }).expect(200)).body;
    expectAgreement(got, {
      values: [outputScaling.scale * inner.values[0] + outputScaling.offset],
      gradients: [inner.gradients[0].map((g: number, i: number) => outputScaling.scale * inputScaling.scale[i] * g)],
    });
  });
});
