/**
 * Every path a batch can take through the service gives the kernels' own bits: JSON parsed whole
 * or streamed, raw float64s arriving or gathered (gzip), answered as JSON or raw float64s, on the
 * main thread or the pool, for every fixture model and for random batches on both sides of the
 * pool threshold (WORKER_MIN_FLOPS) and of the streaming threshold (16 KiB of JSON).
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SMALL_BODY_BYTES } from '../../src/codecs/json/document.js';
import { defaultConfig } from '../../src/config.js';
import { evaluate, valueAndGradient, type ResNetModel } from '../../src/kernels/index.js';
import { startApp } from '../helpers/app.js';
import { sameBits } from '../helpers/bits.js';
import { fixtureCases } from '../helpers/fixtures.js';
import { binaryBody, postBinary, rawBody } from '../helpers/payloads.js';

// The default pool and threshold, as deployed.
const app = await startApp({ WORKERS: '2' });

/** Random points for a model, point-major, seeded. */
function randomPoints(n: number, d0: number, seed: number): number[][] {
  let state = seed;
  const next = () => ((state = (state * 48271) % 2147483647) / 2147483647 - 0.5) * 4;
  return Array.from({ length: n }, () => Array.from({ length: d0 }, next));
}

/** What each path answers, as values and gradients, for /gradient and /evaluate. */
async function everyPath(modelId: string, points: number[][]): Promise<Record<string, { values: Float64Array; gradients?: Float64Array }>> {
  const d0 = points[0].length;
  const fromJson = (body: { values: number[]; gradients?: number[][] }) => ({
    values: Float64Array.from(body.values),
    ...(body.gradients ? { gradients: Float64Array.from(body.gradients.flat()) } : {}),
  });
  const fromBinary = (bytes: Buffer, n: number, withGradients: boolean) => {
    const all = new Float64Array(new Uint8Array(bytes).buffer);
    return { values: all.subarray(0, n), ...(withGradients ? { gradients: all.subarray(n, n * (1 + d0)) } : {}) };
  };
  const json = JSON.stringify({ modelId, points });
  // The same JSON, padded with whitespace past the size from which bodies are streamed.
  const padded = `${json}${' '.repeat(SMALL_BODY_BYTES)}`;
  const binary = binaryBody(points);
  const n = points.length;
  const answers: Record<string, { values: Float64Array; gradients?: Float64Array }> = {};
  for (const route of ['/gradient', '/evaluate']) {
    const withGradients = route === '/gradient';
    const post = (text: string) => app.http.post(route).set('content-type', 'application/json').send(text).expect(200);
    answers[`${route} JSON`] = fromJson((await post(json)).body);
    answers[`${route} JSON streamed`] = fromJson((await post(padded)).body);
    answers[`${route} JSON gzip`] = fromJson(
      (await app.http.post(route).set('content-type', 'application/json').set('content-encoding', 'gzip').serialize((b: Buffer) => b as never).send(gzipSync(padded)).expect(200)).body,
    );
    answers[`${route} binary`] = fromBinary(rawBody(await postBinary(app, route, modelId, binary).expect(200)), n, withGradients);
    answers[`${route} binary in, JSON out`] = fromJson(JSON.parse(rawBody(await postBinary(app, route, modelId, binary, 'application/json').expect(200)).toString()));
    answers[`${route} JSON in, binary out`] = fromBinary(
      rawBody(await app.http.post(route).set('content-type', 'application/json').set('accept', 'application/octet-stream').send(json).buffer(true).parse((res, cb) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => cb(null, Buffer.concat(chunks)));
      }).expect(200)),
      n,
      withGradients,
    );
  }
  return answers;
}

function expectKernelBits(model: ResNetModel, points: number[][], answers: Awaited<ReturnType<typeof everyPath>>) {
  const flat = Float64Array.from(points.flat());
  const want = valueAndGradient(model, flat);
  const wantValues = evaluate(model, flat);
  for (const [path, answer] of Object.entries(answers)) {
    expect(sameBits(answer.values, path.startsWith('/gradient') ? want.values : wantValues), `${path}: values`).toBe(true);
    if (path.startsWith('/gradient')) expect(sameBits(answer.gradients!, want.gradients), `${path}: gradients`).toBe(true);
  }
}

describe('every path gives the kernels’ bits', () => {
  it.each(fixtureCases.map((c) => [c.case, c] as const))('for the fixture %s', async (_name, fixture) => {
    const { id } = (await app.http.post('/models').send(fixture.model).expect(201)).body;
    const { model } = (await app.app.registry.get(id))!;
    expectKernelBits(model, fixture.points, await everyPath(id, fixture.points));
  });

  it.each([0.5, 0.98, 1.02, 3])('for random batches at %s times the pool threshold', async (times) => {
    const spec = { layers: 20, dim: 4, inputDim: 2, seed: 31, activation: 'tanh' };
    const { id } = (await app.http.post('/models').send(spec).expect(201)).body;
    const { model } = (await app.app.registry.get(id))!;
    const n = Math.round((times * defaultConfig.WORKER_MIN_FLOPS) / (4 * 20 * 4 * 4));
    const points = randomPoints(n, 2, n);
    expectKernelBits(model, points, await everyPath(id, points));
  }, 60_000);
});
