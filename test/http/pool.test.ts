/**
 * The worker pool: pooled batches give the main thread's bits, their slices stitched in order;
 * the threads' JSON text is the main thread's; a large binary batch is computed slice by slice as
 * it arrives, and a bad coordinate is named whichever slice it is in.
 */
import { describe, expect, it } from 'vitest';
import { problemType, startApp } from '../helpers/app.js';
import { binaryBody, jsonText, postAcceptingGzip, postBinary, points, rawBody } from '../helpers/payloads.js';

const mainThread = await startApp({ WORKERS: '0', MAX_POINTS: '5000' });
const pooled = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0', MAX_POINTS: '5000' });
const slicing = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0' });
const reference = await startApp({ WORKERS: '0' });

describe('the worker pool', () => {
  it.each([1, 2, 3, 1001, 4999])('gives the main thread’s bits for %i points, its slices stitched in order', async (n) => {
    const model = { layers: 9, dim: 5, inputDim: 3, seed: n, activation: 'sigmoid', output: 'logistic' };
    const ids = await Promise.all([mainThread, pooled].map(async (app) => (await app.http.post('/models').send(model).expect(201)).body.id));
    const body = binaryBody(points(n, 3));
    const [onMain, onPool] = await Promise.all([mainThread, pooled].map((app, i) => postBinary(app, '/gradient', ids[i], body).expect(200)));
    expect(rawBody(onPool).equals(rawBody(onMain))).toBe(true);
    const [valuesOnMain, valuesOnPool] = await Promise.all([mainThread, pooled].map((app, i) => postBinary(app, '/evaluate', ids[i], body).expect(200)));
    expect(rawBody(valuesOnPool).equals(rawBody(valuesOnMain))).toBe(true);
    // JSON answers of pooled batches are written by the threads, slice by slice: the same text.
    for (const route of ['/gradient', '/evaluate']) {
      const texts = await Promise.all(
        [mainThread, pooled].map(async (app, i) => {
          const fromJson = await app.http.post(route).send({ modelId: ids[i], points: points(n, 3) }).expect(200);
          const fromBinary = await postBinary(app, route, ids[i], body, 'application/json').expect(200);
          expect(rawBody(fromBinary).toString()).toBe(fromJson.text);
          return fromJson.text.replace(ids[i], 'id');
        }),
      );
      expect(texts[1]).toBe(texts[0]);
    }
  });

  it('sends the threads’ JSON text with its exact length, or gzipped, the same text as the main thread’s', async () => {
    const input = points(4_999, 2);
    const onMain = await mainThread.http.post('/gradient').send({ modelId: 'demo', points: input }).expect(200);
    const plain = await pooled.http.post('/gradient').set('accept-encoding', 'identity').send({ modelId: 'demo', points: input }).expect(200);
    expect(plain.headers['content-length']).toBe(String(Buffer.byteLength(onMain.text)));
    expect(plain.headers['transfer-encoding']).toBeUndefined();
    expect(plain.text).toBe(onMain.text);
    const gzipped = await postAcceptingGzip(pooled, '/evaluate', { modelId: 'demo', points: input }).expect(200);
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    const values = await mainThread.http.post('/evaluate').send({ modelId: 'demo', points: input }).expect(200);
    expect(jsonText(gzipped)).toBe(values.text);
  });

  it('reports non-finite results by their index in the whole batch', async () => {
    const model = { activation: 'relu', h: 1, W: [[[1e300, 0], [0, 1]]], b: [[0, 0]], w: [1, 1], mu: 0 };
    const { id } = (await pooled.http.post('/models').send(model).expect(201)).body;
    const input = points(1001, 2).map((p, i) => (i === 700 || i === 1000 ? [1e10, 0] : [Math.abs(p[0]) * 1e-3, p[1]]));
    const response = await pooled.http.post('/gradient').send({ modelId: id, points: input }).expect(422);
    expect(response.body.points).toEqual([700, 1000]);
  });
});

describe('a large binary batch, computed slice by slice as it arrives', () => {
  it('gives the numbers of the main thread, bit for bit, with the last slice a short one', async () => {
    const batch = points(70_003, 2);
    const answer = await postBinary(slicing, '/gradient', 'demo', binaryBody(batch)).expect(200);
    const expected = await postBinary(reference, '/gradient', 'demo', binaryBody(batch)).expect(200);
    expect(rawBody(answer)).toHaveLength(70_003 * 3 * 8);
    expect(rawBody(answer).equals(rawBody(expected))).toBe(true);
  });

  it('answers in JSON with the main thread’s text, streamed in pieces with its exact length, or gzipped', async () => {
    const batch = points(70_003, 2);
    const expected = await reference.http.post('/gradient').send({ modelId: 'demo', points: batch }).expect(200);
    const answer = await postBinary(slicing, '/gradient', 'demo', binaryBody(batch), 'application/json').set('accept-encoding', 'identity').expect(200);
    expect(Buffer.byteLength(expected.text)).toBeGreaterThan(1024 * 1024);
    expect(answer.headers['content-length']).toBe(String(Buffer.byteLength(expected.text)));
    expect(rawBody(answer).toString() === expected.text).toBe(true);
    const gzipped = await postBinary(slicing, '/gradient', 'demo', binaryBody(batch), 'application/json').set('accept-encoding', 'gzip').expect(200);
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(jsonText(gzipped) === expected.text).toBe(true);
  });

  it.each([0, 8_751, 70_002])('names the first bad coordinate, at point %i, whichever slice it is in', async (at) => {
    const batch = points(70_003, 2);
    batch[at][1] = Number.NaN;
    if (at + 5 < batch.length) batch[at + 5][0] = Number.POSITIVE_INFINITY;
    const response = await postBinary(slicing, '/gradient', 'demo', binaryBody(batch)).expect(400).expect('content-type', problemType);
    expect(JSON.parse(rawBody(response).toString()).detail).toBe(`points[${at}][1] is NaN, not a finite number`);
  });
});
