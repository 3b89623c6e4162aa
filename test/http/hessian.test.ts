/**
 * Second derivatives over HTTP: /hessian and /hvp against functorch's double autograd
 * (scripts/fixtures/hessian_vectors.py) to 1e-10 relative, for every σ × η, with d₀ < d, with and
 * without scaling, at saturated points, on this thread and the pool's; Hessians symmetric to
 * rounding; /hvp equal to /hessian·v; finite differences of /gradient agreeing for every
 * activation; the binary answer's layout.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { hessianExample, hvpExample, MAX_TRACE_POINTS, traceExample } from '../../src/http/schemas/compute.js';
import { agrees } from '../helpers/fixtures.js';
import { problemType, startApp } from '../helpers/app.js';
import { asBytes } from '../helpers/payloads.js';

interface HessianCase {
  readonly case: string;
  readonly model: Record<string, unknown>;
  readonly points: number[][];
  readonly vectors: number[][];
  readonly values: number[];
  readonly gradients: number[][];
  readonly hessians: number[][][];
  readonly hessianVectorProducts: number[][];
}

const cases: readonly HessianCase[] = JSON.parse(readFileSync(new URL('../fixtures/hessian-vectors.json', import.meta.url), 'utf8')).cases;
const [here, pool] = await Promise.all([startApp({ WORKERS: '0' }), startApp({ WORKERS: '1', WORKER_MIN_FLOPS: '1' })]);

const RTOL = 1e-10;
const close = (got: number, want: number, what: string) => expect(agrees(got, want, RTOL), `${what}: ${got}, want ${want}`).toBe(true);

describe('Hessians against functorch double autograd', () => {
  it('cover every σ × η, scaled and not, with d₀ < d and saturated points', () => {
    expect(new Set(cases.map((c) => `${c.model.activation}/${c.model.output}`)).size).toBe(6);
    expect(cases.filter((c) => c.model.inputScaling !== undefined)).toHaveLength(6);
    expect(cases.every((c) => (c.model.inputDim as number) < (c.model.W as number[][][])[0].length)).toBe(true);
  });

  describe.each([
    ['this thread', here],
    ['the pool', pool],
  ] as const)('on %s', (_where, app) => {
    it.each(cases.map((c) => [c.case, c] as const))('%s: /hessian and /hvp to 1e-10 relative', async (_name, fixture) => {
      const modelId = (await app.http.post('/models').send(fixture.model).expect(201)).body.id;
      const { body } = await app.http.post('/hessian').send({ modelId, points: fixture.points }).expect(200);
      fixture.points.forEach((_, p) => {
        close(body.values[p], fixture.values[p], `values[${p}]`);
        fixture.gradients[p].forEach((g, i) => close(body.gradients[p][i], g, `gradients[${p}][${i}]`));
        fixture.hessians[p].forEach((row, i) => row.forEach((x, j) => close(body.hessians[p][i][j], x, `hessians[${p}][${i}][${j}]`)));
      });
      const hvp = (await app.http.post('/hvp').send({ modelId, points: fixture.points, vectors: fixture.vectors }).expect(200)).body;
      fixture.hessianVectorProducts.forEach((row, p) => row.forEach((x, i) => close(hvp.hessianVectorProducts[p][i], x, `hvp[${p}][${i}]`)));
      expect(hvp.values).toEqual(body.values);
    });
  });

  it('are symmetric to rounding, and /hvp is /hessian times v', async () => {
    for (const fixture of cases) {
      const modelId = (await here.http.post('/models').send(fixture.model).expect(201)).body.id;
      const { hessians } = (await here.http.post('/hessian').send({ modelId, points: fixture.points }).expect(200)).body as { hessians: number[][][] };
      const { hessianVectorProducts } = (await here.http.post('/hvp').send({ modelId, points: fixture.points, vectors: fixture.vectors }).expect(200)).body as { hessianVectorProducts: number[][] };
      hessians.forEach((H, p) => {
        const scale = Math.max(1e-300, ...H.flat().map(Math.abs));
        H.forEach((row, i) => row.forEach((x, j) => expect(Math.abs(x - H[j][i]) / scale, `${fixture.case} point ${p} (${i}, ${j})`).toBeLessThan(1e-13)));
        const product = H.map((row) => row.reduce((sum, x, j) => sum + x * fixture.vectors[p][j], 0));
        product.forEach((x, i) => expect(Math.abs(x - hessianVectorProducts[p][i]) / scale, `${fixture.case} hvp ${p}[${i}]`).toBeLessThan(1e-12));
      });
    }
  });
});

describe('finite differences of /gradient, for every activation', () => {
  it.each(['tanh', 'sigmoid', 'relu'].flatMap((activation) => ['identity', 'logistic'].map((output) => [activation, output] as const)))(
    'σ = %s, η = %s: central differences of the gradient agree with the Hessian',
    async (activation, output) => {
      const modelId = (await here.http.post('/models').send({ layers: 3, dim: 4, inputDim: 3, seed: 5, activation, output }).expect(201)).body.id;
      const y = [0.31, -0.47, 0.23];
      const H = (await here.http.post('/hessian').send({ modelId, points: [y] }).expect(200)).body.hessians[0] as number[][];
      // A step near the cube root of the rounding unit balances truncation (O(ε²)) and rounding (O(u/ε)).
      const step = 1e-5;
      const shifted = y.flatMap((_, j) => [-1, 1].map((sign) => y.map((x, i) => (i === j ? x + sign * step : x))));
      const { gradients } = (await here.http.post('/gradient').send({ modelId, points: shifted }).expect(200)).body as { gradients: number[][] };
      // ReLU with the identity is piecewise linear: its Hessian is 0, and so must the differences be.
      const scale = Math.max(1e-3, ...H.flat().map(Math.abs));
      y.forEach((_, j) => {
        const column = gradients[2 * j + 1].map((g, i) => (g - gradients[2 * j][i]) / (2 * step));
        column.forEach((x, i) => expect(Math.abs(x - H[i][j]) / scale, `(${i}, ${j})`).toBeLessThan(1e-7));
      });
    },
  );
});

describe('/hessian and /hvp answers', () => {
  it('answer the documented examples', async () => {
    expect((await here.http.post('/hessian').send({ modelId: 'demo', points: [[0.5, -0.25]] }).expect(200)).body).toEqual(hessianExample);
    expect((await here.http.post('/hvp').send({ modelId: 'demo', points: [[0.5, -0.25]], vectors: [[1, 0]] }).expect(200)).body).toEqual(hvpExample);
  });

  it('binary: the values, the gradients, then the Hessians row-major, as float64s', async () => {
    const points = Float64Array.of(0.5, -0.25, 1, 0);
    const response = await here.http
      .post('/hessian?modelId=demo')
      .set('content-type', 'application/octet-stream')
      .set('accept', 'application/octet-stream')
      .send(Buffer.from(points.buffer))
      .buffer(true)
      .parse(asBytes as never)
      .expect(200);
    const numbers = new Float64Array(new Uint8Array(response.body as Buffer).buffer);
    expect(numbers).toHaveLength(2 + 4 + 8);
    const json = (await here.http.post('/hessian').send({ modelId: 'demo', points: [[0.5, -0.25], [1, 0]] }).expect(200)).body;
    expect([...numbers]).toEqual([...json.values, ...json.gradients.flat(), ...json.hessians.flat(2)]);
  });

  it('/hvp refuses a missing or misshapen direction, naming it', async () => {
    const missing = await here.http.post('/hvp').send({ modelId: 'demo', points: [[0.5, -0.25]] }).expect(400).expect('content-type', problemType);
    expect(missing.body.detail).toBe('vectors is required');
    const ragged = await here.http.post('/hvp').send({ modelId: 'demo', points: [[0.5, -0.25]], vectors: [[1, 0, 0]] }).expect(422);
    expect(ragged.body.detail).toBe("vectors[0] has 3 components, expected 2 (the model's inputDim)");
    const fewer = await here.http.post('/hvp').send({ modelId: 'demo', points: [[0.5, -0.25], [1, 0]], vectors: [[1, 0]] }).expect(422);
    expect(fewer.body.detail).toMatch(/vectors/);
  });
});

describe('?check=fd', () => {
  it.each(['tanh', 'sigmoid', 'relu'].flatMap((activation) => ['identity', 'logistic'].map((output) => [activation, output] as const)))(
    'σ = %s, η = %s: /gradient and /hessian answer central differences that agree with the exact derivatives',
    async (activation, output) => {
      const modelId = (await here.http.post('/models').send({ layers: 3, dim: 4, inputDim: 3, seed: 11, activation, output, inputScaling: { scale: [2, -0.5, 1], offset: [0, 0.1, 0] } }).expect(201)).body.id;
      const points = [[0.31, -0.47, 0.23], [-0.2, 0.6, 0.05]];
      const gradient = (await here.http.post('/gradient?check=fd').send({ modelId, points }).expect(200)).body;
      expect(gradient.check).toMatchObject({ method: 'central differences', stepFactor: Math.cbrt(2 ** -52) });
      expect(gradient.check.maxRelativeDifference).toBeLessThan(1e-8);
      const largest = Math.max(...gradient.gradients.map((g: number[], p: number) => Math.max(...g.map((x, i) => Math.abs(x - gradient.finiteDifferences[p][i]))) / Math.max(...g.map(Math.abs))));
      expect(gradient.check.maxRelativeDifference).toBe(largest);
      const hessian = (await here.http.post('/hessian?check=fd').send({ modelId, points }).expect(200)).body;
      expect(hessian.check.maxRelativeDifference).toBeLessThan(1e-6);
      expect(hessian.finiteDifferences).toHaveLength(2);
      const plain = (await here.http.post('/hessian').send({ modelId, points }).expect(200)).body;
      expect(plain).not.toHaveProperty('check');
      expect(hessian.hessians).toEqual(plain.hessians);
    },
  );

  it('is refused where there is nothing to check', async () => {
    const refused = await here.http.post('/evaluate?check=fd').send({ modelId: 'demo', points: [[0, 0]] }).expect(400);
    expect(refused.body.detail).toMatch(/check/);
  });
});

describe('/trace', () => {
  it('answers the states and adjoints of the sweeps: Z^(0) the padded point, A^(0) the gradient, the documented example', async () => {
    const { body } = await here.http.post('/trace').send({ modelId: 'demo', points: [[0.5, -0.25]] }).expect(200);
    expect(body).toEqual(traceExample);
    expect(body.states[0]).toHaveLength(9);
    expect(body.states[0][0]).toEqual([0.5, -0.25, 0, 0]);
    const gradient = (await here.http.post('/gradient').send({ modelId: 'demo', points: [[0.5, -0.25]] }).expect(200)).body;
    expect(body.adjoints[0][0].slice(0, 2)).toEqual(gradient.gradients[0]);
  });

  it('follows the scaling: states at the scaled point, adjoints of F', async () => {
    const fixture = cases.find((c) => c.model.inputScaling !== undefined && c.model.activation === 'tanh')!;
    const modelId = (await here.http.post('/models').send(fixture.model).expect(201)).body.id;
    const { body } = await here.http.post('/trace').send({ modelId, points: fixture.points.slice(0, 2) }).expect(200);
    const { scale, offset } = fixture.model.inputScaling as { scale: number[]; offset: number[] };
    // A negative s, so that adjoints left unscaled would show.
    expect((fixture.model.outputScaling as { scale: number }).scale).toBeLessThan(0);
    fixture.points.slice(0, 2).forEach((y, p) => {
      y.forEach((yi, i) => expect(body.states[p][0][i]).toBe(scale[i] * yi + offset[i]));
      fixture.gradients[p].forEach((g, i) => close(body.gradients[p][i], g, `gradients[${p}][${i}]`));
      // ∇F = s · a ⊙ A^(0) of the network; the answer's adjoints are already s times the network's.
      body.adjoints[p][0].slice(0, 3).forEach((x: number, i: number) => close(scale[i] * x, body.gradients[p][i], `adjoint ${i}`));
    });
  });

  it(`takes at most ${MAX_TRACE_POINTS} points`, async () => {
    const points = Array.from({ length: MAX_TRACE_POINTS + 1 }, () => [0, 0]);
    const refused = await here.http.post('/trace').send({ modelId: 'demo', points }).expect(413);
    expect(refused.body.detail).toBe(`points has more than ${MAX_TRACE_POINTS} points, the most /trace takes`);
  });
});

describe('/trace with a large body', () => {
  it('refuses more than MAX_TRACE_POINTS points however long the body is, as a small body is refused', async () => {
    const points = Array.from({ length: 5000 }, () => [0.123456789, -0.987654321]);
    const body = JSON.stringify({ modelId: 'demo', points });
    expect(body.length).toBeGreaterThan(64 * 1024);
    // fetch, as a client does: the service answers before the body has ended, and closes the connection.
    await here.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = here.app.server.address() as AddressInfo;
    const refused = await fetch(`http://127.0.0.1:${port}/trace`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(refused.status).toBe(413);
    expect(refused.headers.get('connection')).toBe('close');
    expect(((await refused.json()) as { detail: string }).detail).toBe(`points has more than ${MAX_TRACE_POINTS} points, the most /trace takes`);
  });
});

describe('/hvp with raw float64s', () => {
  it('takes the points, then the directions, and answers the same numbers as JSON', async () => {
    const points = [[0.5, -0.25], [1, 0], [-0.3, 0.7]];
    const vectors = [[1, 0], [0.5, -2], [0, 1]];
    const body = Buffer.from(Float64Array.from([...points.flat(), ...vectors.flat()]).buffer);
    const response = await here.http
      .post('/hvp?modelId=demo')
      .set('content-type', 'application/octet-stream')
      .set('accept', 'application/octet-stream')
      .send(body)
      .buffer(true)
      .parse(asBytes as never)
      .expect(200);
    const numbers = [...new Float64Array(new Uint8Array(response.body as Buffer).buffer)];
    const json = (await here.http.post('/hvp').send({ modelId: 'demo', points, vectors }).expect(200)).body;
    expect(numbers).toEqual([...json.values, ...json.gradients.flat(), ...json.hessianVectorProducts.flat()]);
  });

  it('refuses a body that does not cut into two equal parts of whole float64s, and parts of the wrong width', async () => {
    const odd = await here.http.post('/hvp?modelId=demo').set('content-type', 'application/octet-stream').send(Buffer.alloc(24)).expect(400).expect('content-type', problemType);
    expect(odd.body.detail).toBe('the body holds 24 bytes; points and vectors need 2 equal parts of whole float64s, one after another');
    const narrow = await here.http.post('/hvp?modelId=demo').set('content-type', 'application/octet-stream').send(Buffer.alloc(48)).expect(400);
    expect(narrow.body.detail).toBe("the body's points (part 1 of 2) has 24 bytes, not a positive multiple of 16 (inputDim 2 float64s a point)");
  });
});
