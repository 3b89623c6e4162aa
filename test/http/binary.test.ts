/**
 * Raw float64 payloads and gzip: binary and JSON give the same numbers, bit for bit, in every
 * combination; binary bodies get the same limits and clear errors as JSON ones; gzip bodies are
 * read and long JSON answers gzipped for clients that accept it.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { computeExample } from '../../src/http/schemas/compute.js';
import { problemType, startApp } from '../helpers/app.js';
import { asBytes, binaryBody, float64s, jsonText, postAcceptingGzip, postBinary, points, rawBody } from '../helpers/payloads.js';

const mainThread = await startApp({ WORKERS: '0', MAX_POINTS: '5000' });
const pooled = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0', MAX_POINTS: '5000' });
const limited = await startApp({ BODY_LIMIT: '65536' });

describe('binary payloads', () => {
  it('binary and JSON give the same numbers, bit for bit, in every combination', async () => {
    const input = points(7, 2);
    const json = (await mainThread.http.post('/gradient').send({ modelId: 'demo', points: input }).expect(200)).body;
    const expected = [...json.values, ...json.gradients.flat()];
    const binary = await postBinary(mainThread, '/gradient', 'demo', binaryBody(input)).expect(200);
    expect(binary.headers['content-type']).toBe('application/octet-stream');
    expect(binary.headers['x-points']).toBe('7');
    expect(binary.headers['x-input-dim']).toBe('2');
    expect(float64s(rawBody(binary))).toEqual(expected);
    const binaryInJsonOut = await postBinary(mainThread, '/gradient', 'demo', binaryBody(input), 'application/json').expect(200);
    expect(JSON.parse(rawBody(binaryInJsonOut).toString())).toEqual(json);
    const jsonInBinaryOut = await mainThread.http
      .post('/gradient')
      .set('accept', 'application/octet-stream')
      .send({ modelId: 'demo', points: input })
      .buffer(true)
      .parse(asBytes as never)
      .expect(200);
    expect(float64s(rawBody(jsonInBinaryOut))).toEqual(expected);
    const values = await postBinary(mainThread, '/evaluate', 'demo', binaryBody(input)).expect(200);
    expect(float64s(rawBody(values))).toEqual(json.values);
  });

  it('answers the documented example', async () => {
    const answer = await postBinary(mainThread, '/gradient', 'demo', binaryBody(computeExample.request.points)).expect(200);
    expect(float64s(rawBody(answer))).toEqual([...computeExample.values, ...computeExample.gradients.flat()]);
  });

  it.each([
    ['a length that is not a whole number of points', Buffer.alloc(8 * 3), 400, 'the body has 24 bytes, not a positive multiple of 16 (inputDim 2 float64s a point)'],
    ['an empty body', Buffer.alloc(0), 400, 'the body has 0 bytes'],
    ['a NaN coordinate', binaryBody([[0, 1], [2, Number.NaN]]), 400, 'points[1][1] is NaN, not a finite number'],
    ['an infinite coordinate', binaryBody([[-Infinity, 1]]), 400, 'points[0][0] is -Infinity, not a finite number'],
    ['more points than MAX_POINTS', Buffer.alloc(16 * 5001), 413, 'the body is larger than the 80000 bytes this request can need'],
  ] as const)('%s → %i problem+json', async (_name, body, status, detail) => {
    for (const app of [mainThread, pooled]) {
      const response = await app.http
        .post('/gradient?modelId=demo')
        .set('content-type', 'application/octet-stream')
        .send(body)
        .expect(status)
        .expect('content-type', problemType);
      expect(response.body.detail).toContain(detail);
    }
  });

  it('a body over BODY_LIMIT → 413, whether its length is declared or not', async () => {
    const big = Buffer.alloc(16 * 5000);
    const declared = await limited.http.post('/gradient?modelId=demo').set('content-type', 'application/octet-stream').send(big).expect(413);
    expect(declared.body.detail).toBe('the body is larger than the limit of 65536 bytes (BODY_LIMIT)');
    const gzipped = await limited.http
      .post('/gradient?modelId=demo')
      .set('content-type', 'application/octet-stream')
      .set('content-encoding', 'gzip')
      .send(gzipSync(big))
      .expect(413);
    expect(gzipped.body.detail).toBe('the body is larger than the limit of 65536 bytes (BODY_LIMIT)');
  });

  it('without ?modelId= → 400; an unknown model → 404; an Accept it cannot meet → 406', async () => {
    const body = binaryBody([[0, 1]]);
    const missing = await mainThread.http.post('/gradient').set('content-type', 'application/octet-stream').send(body).expect(400);
    expect(missing.body.detail).toBe('querystring.modelId is required when the body is application/octet-stream');
    await postBinary(mainThread, '/gradient', 'nope', body).expect(404);
    const refused = await mainThread.http.post('/gradient').set('accept', 'text/html').send({ modelId: 'demo', points: [[0, 1]] }).expect(406);
    expect(refused.body).toMatchObject({ type: '/problems/not-acceptable', status: 406 });
  });
});

describe('gzip', () => {
  it('accepts a gzip-compressed JSON body', async () => {
    const body = gzipSync(JSON.stringify(computeExample.request));
    const response = await mainThread.http
      .post('/gradient')
      .set('content-type', 'application/json')
      .set('content-encoding', 'gzip')
      // As bytes: superagent would otherwise write a Buffer under a JSON content type as JSON.
      .serialize((bytes: Buffer) => bytes as never)
      .send(body)
      .expect(200);
    expect(response.body.values).toEqual(computeExample.values);
  });

  it('serves large JSON answers gzip-compressed to clients that accept it, and never raw float64s', async () => {
    const input = points(500, 2);
    const json = await postAcceptingGzip(mainThread, '/gradient', { modelId: 'demo', points: input }).expect(200);
    expect(json.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(jsonText(json)).values).toHaveLength(500);
    const binary = await postBinary(mainThread, '/gradient', 'demo', binaryBody(input)).set('accept-encoding', 'gzip').expect(200);
    expect(binary.headers['content-encoding']).toBeUndefined();
    expect(rawBody(binary)).toHaveLength(500 * 3 * 8);
  });

  it('sends short answers as they are, and gzips the model documents and the model list', async () => {
    const gzipped = async (path: string, body?: object) => {
      const request = body ? mainThread.http.post(path).send(body) : mainThread.http.get(path);
      const response = await request.set('accept-encoding', 'gzip').buffer(true).parse(asBytes as never).expect(200);
      return { encoding: response.headers['content-encoding'], json: JSON.parse(jsonText(response)) };
    };
    const one = await gzipped('/gradient', { modelId: 'demo', points: [[0.5, -0.25]] });
    expect(one.encoding).toBeUndefined();
    expect(one.json.values).toHaveLength(1);
    const { id } = (await mainThread.http.post('/models').send({ layers: 8, dim: 16, seed: 3 }).expect(201)).body;
    const document = await gzipped(`/models/${id}`);
    expect(document.encoding).toBe('gzip');
    expect(document.json.W).toHaveLength(8);
    for (let i = 0; i < 40; i++) await mainThread.http.post('/models').send({ layers: 1, dim: 1, seed: i }).expect(201);
    const list = await gzipped('/models');
    expect(list.encoding).toBe('gzip');
    expect(list.json.models.length).toBeGreaterThan(40);
  });
});
