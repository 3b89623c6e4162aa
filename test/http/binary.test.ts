/**
 * Raw float64 payloads, the worker pool and gzip: binary and JSON give the same numbers, the
 * pool and the main thread give the same bits, slices of any size are stitched back in order,
 * and binary bodies get the same limits and clear errors as JSON ones.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { gzipSync, gunzipSync } from 'node:zlib';
import type { Response } from 'supertest';
import { describe, expect, it } from 'vitest';
import { computeExample } from '../../src/http/schemas/compute.js';
import { valueAndGradient } from '../../src/kernels/index.js';
import { problemType, startApp } from '../helpers/app.js';
import { sameBits } from '../helpers/bits.js';

const mainThread = await startApp({ WORKERS: '0', MAX_POINTS: '5000' });
const pooled = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0', MAX_POINTS: '5000' });
const limited = await startApp({ BODY_LIMIT: '65536' });
const recycling = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0' });
const slicing = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0' });
const abandoned = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0' });
const abandonedJson = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0' });
const abandonedLate = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0' });
const abandonedSmall = await startApp({ WORKERS: '0' });
const reference = await startApp({ WORKERS: '0' });
const recyclingOnMain = await startApp({ WORKERS: '0' });

const binaryBody = (points: number[][]): Buffer => Buffer.from(Float64Array.from(points.flat()).buffer);
const rawBody = (response: Response): Buffer => response.body as Buffer;
/** supertest: keep a binary answer as the bytes it is. */
const asBytes = (res: NodeJS.ReadableStream & { setEncoding(e: string): void }, callback: (error: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('end', () => callback(null, Buffer.concat(chunks)));
};
/** A JSON answer's text, whether superagent has already inflated a gzipped body or not. */
const jsonText = (response: Response): string => {
  const bytes = rawBody(response);
  return (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString();
};
const float64s = (bytes: Buffer): number[] => [...new Float64Array(new Uint8Array(bytes).buffer)];

/** A JSON request from a client that accepts gzip; the answer is kept as the bytes that came. */
function postAcceptingGzip(app: typeof mainThread, route: string, body: object) {
  return app.http.post(route).set('accept-encoding', 'gzip').send(body).buffer(true).parse(asBytes as never);
}

function postBinary(app: typeof mainThread, route: string, modelId: string, body: Buffer, accept = 'application/octet-stream') {
  return app.http
    .post(`${route}?modelId=${modelId}`)
    .set('content-type', 'application/octet-stream')
    .set('accept', accept)
    .send(body)
    .buffer(true)
    .parse(asBytes as never);
}

const points = (n: number, d0: number) => Array.from({ length: n }, (_, p) => Array.from({ length: d0 }, (_, i) => Math.sin(3 * p + i) * 2));

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

describe('a client that goes away before its answer', () => {
  /** Opens a raw connection to the app and sends a /gradient request's head; the body is the caller's to send. */
  async function rawRequest(app: typeof abandoned, contentType: string, length: number, query = '') {
    const { port } = new URL(await app.app.listen({ host: '127.0.0.1', port: 0 }));
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      `POST /gradient${query} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: ${contentType}\r\n` +
        `accept: ${contentType}\r\ncontent-length: ${length}\r\n\r\n`,
    );
    return socket;
  }

  /** The /gradient requests counted in the metrics so far, by status. */
  async function counted(app: typeof abandoned): Promise<Record<string, number>> {
    const { text } = await app.http.get('/metrics').expect(200);
    const counts: Record<string, number> = {};
    for (const [, status, n] of text.matchAll(/^http_request_duration_seconds_count\{method="POST",route="\/gradient",status="(\d+)"\} (\d+)$/gm)) {
      counts[status] = Number(n);
    }
    return counts;
  }

  const goneLines = (app: typeof abandoned) => app.logs.filter((line) => line.msg === 'client went away before the answer');

  /** The memory is back (`classes` bytes of it, or some), and the request is logged and counted once, as 499. */
  async function settledAsGone(app: typeof abandoned, classes?: number) {
    if (classes === undefined) await expect.poll(() => app.app.sharedMemory!.retained()).toBeGreaterThan(0);
    else await expect.poll(() => app.app.sharedMemory!.retained()).toBe(classes);
    expect(await counted(app)).toEqual({ 499: 1 });
    expect(goneLines(app)).toEqual([expect.objectContaining({ method: 'POST', route: '/gradient', status: 499, reqId: expect.any(String) })]);
  }

  /** The next batch, in the memory the client left, gets its own numbers; nothing was logged as a failure. */
  async function nextBatchRight(app: typeof abandoned, batch: Buffer) {
    const answer = await postBinary(app, '/gradient', 'demo', batch).expect(200);
    const expected = await postBinary(reference, '/gradient', 'demo', batch).expect(200);
    expect(rawBody(answer).equals(rawBody(expected))).toBe(true);
    expect(app.logs.filter((line) => Number(line.status) >= 500 || line.level === 50)).toEqual([]);
  }

  it('halfway through its binary body: the memory back, logged and counted as 499, and the next batch gets its own numbers', async () => {
    const batch = binaryBody(points(70_000, 2));
    const socket = await rawRequest(abandoned, 'application/octet-stream', batch.length, '?modelId=demo');
    socket.write(batch.subarray(0, batch.length / 2));
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();
    // The body's 2 MiB class and the results' 2 MiB class.
    await settledAsGone(abandoned, 4 << 20);
    await nextBatchRight(abandoned, batch);
  });

  it('or once its whole body is sent, before the answer: the memory goes back once the threads are done', async () => {
    const batch = binaryBody(points(70_000, 2));
    const socket = await rawRequest(abandonedLate, 'application/octet-stream', batch.length, '?modelId=demo');
    await new Promise((resolve) => socket.write(batch, resolve));
    socket.destroy();
    await expect.poll(() => abandonedLate.app.sharedMemory!.retained()).toBe(4 << 20);
    // Counted once: as 499, or as 200 when the answer was out before the connection closed.
    const counts = await counted(abandonedLate);
    expect(Object.values(counts)).toEqual([1]);
    expect(goneLines(abandonedLate)).toHaveLength(counts[499] ?? 0);
    await nextBatchRight(abandonedLate, batch);
  });

  it('halfway through a one-point body: logged and counted as 499 too', async () => {
    const body = Buffer.from(JSON.stringify({ modelId: 'demo', points: [[0.5, -0.25]] }));
    const socket = await rawRequest(abandonedSmall, 'application/json', body.length);
    socket.write(body.subarray(0, 10));
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    await expect.poll(() => counted(abandonedSmall)).toEqual({ 499: 1 });
    expect(goneLines(abandonedSmall)).toHaveLength(1);
  });

  it('and halfway through a large JSON body: its memory goes back too', async () => {
    const app = abandonedJson;
    const body = Buffer.from(JSON.stringify({ modelId: 'demo', points: points(20_000, 2) }));
    const socket = await rawRequest(app, 'application/json', body.length);
    socket.write(body.subarray(0, body.length / 2));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(app.app.sharedMemory!.retained()).toBe(0);
    socket.destroy();
    // Its points were being read into leased memory, which grows as they come.
    await settledAsGone(app);
    const { body: answer } = await app.http.post('/gradient').send({ modelId: 'demo', points: points(3, 2) }).expect(200);
    expect(answer.values).toHaveLength(3);
  });
});

describe('recycled shared memory for large batches', () => {
  const n = 70_000; // 1.1 MB of points and 1.7 MB of results: both recycled

  it('gives the memory back after the answer, and a later batch in the same memory gets its own numbers', async () => {
    expect(recycling.app.sharedMemory!.retained()).toBe(0);
    const batches = [0, 1, 2].map((k) => points(n, 2).map(([a, b]) => [a + k, b - 0.5 * k]));
    for (const batch of batches) {
      const answer = await postBinary(recycling, '/gradient', 'demo', binaryBody(batch)).expect(200);
      const expected = await postBinary(reference, '/gradient', 'demo', binaryBody(batch)).expect(200);
      expect(sameBits(new Float64Array(new Uint8Array(rawBody(answer)).buffer), new Float64Array(new Uint8Array(rawBody(expected)).buffer))).toBe(true);
      // The body's 2 MiB class and the results' 2 MiB class, both back for the next batch.
      await expect.poll(() => recycling.app.sharedMemory!.retained()).toBe(4 << 20);
    }
    // JSON batches borrow the same way.
    const json = await recycling.http.post('/evaluate').send({ modelId: 'demo', points: batches[1] }).expect(200);
    const expected = await reference.http.post('/evaluate').send({ modelId: 'demo', points: batches[1] }).expect(200);
    expect(json.body.values).toEqual(expected.body.values);
  });
});

describe('recycled memory for mid-sized batches on the main thread', () => {
  it('lends their large arrays again, and each batch gets its own numbers, in JSON sent with its exact length', async () => {
    const app = recyclingOnMain;
    const { model } = (await app.app.registry.get('demo'))!;
    expect(app.app.sharedMemory!.retained()).toBe(0);
    // 5,000 points: 80 KB of points, 120 KB of results, a 200 KB body and a ~290 KB answer, all
    // recycled; 4,200 points fit the same buffers, which still hold the first batch's numbers.
    for (const [k, n] of [[0, 5_000], [1, 4_200], [2, 5_000]]) {
      const batch = points(n, 2).map(([a, b]) => [a + k, b - k]);
      const want = valueAndGradient(model, Float64Array.from(batch.flat()));
      const binary = await postBinary(app, '/gradient', 'demo', binaryBody(batch)).expect(200);
      const got = new Float64Array(new Uint8Array(rawBody(binary)).buffer);
      expect(sameBits(got, Float64Array.from([...want.values, ...want.gradients]))).toBe(true);
      const json = await app.http.post('/gradient').set('accept-encoding', 'identity').send({ modelId: 'demo', points: batch }).expect(200);
      expect(json.headers['content-length']).toBe(String(Buffer.byteLength(json.text)));
      expect(json.headers['transfer-encoding']).toBeUndefined();
      expect(sameBits(Float64Array.from(json.body.values), want.values)).toBe(true);
      expect(sameBits(Float64Array.from(json.body.gradients.flat()), want.gradients)).toBe(true);
      await expect.poll(() => app.app.sharedMemory!.retained()).toBeGreaterThan(0);
    }
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
