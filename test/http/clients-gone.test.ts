/**
 * Clients that go away before their answer: each is logged and counted once, with status 499;
 * its recycled memory comes back once the threads are done with it; and the next batch, in the
 * memory it left, gets its own numbers.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startApp } from '../helpers/app.js';
import { binaryBody, postBinary, points, rawBody } from '../helpers/payloads.js';

const abandoned = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0' });
const abandonedJson = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0' });
const abandonedLate = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0' });
const abandonedSmall = await startApp({ WORKERS: '0' });
const reference = await startApp({ WORKERS: '0' });

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
