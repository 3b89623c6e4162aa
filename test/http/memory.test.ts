/**
 * Recycled memory: large batches, on the pool or on the main thread, borrow their arrays from
 * recycled memory and give them back after the answer; a later batch in the same memory gets its
 * own numbers, bit for bit.
 */
import { describe, expect, it } from 'vitest';
import { valueAndGradient } from '../../src/kernels/index.js';
import { startApp } from '../helpers/app.js';
import { sameBits } from '../helpers/bits.js';
import { binaryBody, postBinary, points, rawBody } from '../helpers/payloads.js';

const recycling = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0' });
const recyclingOnMain = await startApp({ WORKERS: '0' });
const reference = await startApp({ WORKERS: '0' });

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
