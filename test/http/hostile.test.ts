/**
 * What hostile clients tried, over real sockets, against an app built in this process: bodies
 * that inflate, nest, or hold the wrong things; bodies to routes that read none; bodies that stop
 * arriving; many large bodies at once; work past the budget; clients that leave mid-work; rate
 * limits keyed on what a client can invent. Each is refused, early and with the right status, or
 * survived, and the event loop stays free.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { problemType, startApp } from '../helpers/app.js';
import { bodyOf, rawRequest, statusOf } from '../helpers/sockets.js';
import { BUILT_IN_MODEL_IDS } from '../../src/registry/demo.js';

const MiB = 1024 * 1024;

/** A gzip body that inflates to `prefix`, then `item` repeated to about `inflated` bytes, then `suffix`. */
function bomb(prefix: string, item: string, inflated: number, suffix: string): Buffer {
  const repeated = Buffer.from(item.repeat(Math.floor(inflated / item.length)));
  return gzipSync(Buffer.concat([Buffer.from(prefix), repeated, Buffer.from(suffix)]), { level: 9 });
}

/** The largest event-loop delay while `work` runs, in ms. */
async function worstDelay<T>(work: () => Promise<T>): Promise<{ result: T; worstMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  try {
    const result = await work();
    return { result, worstMs: histogram.max / 1e6 };
  } finally {
    histogram.disable();
  }
}

/** Retained memory (heap and array buffers) now. */
const retained = () => {
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
};

describe('bodies that inflate (gzip bombs)', async () => {
  const { app } = await startApp({ MAX_POINTS: '1000', BODY_LIMIT: String(8 * MiB) });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  /** Posts gzip bytes as they are; the problem that comes back. */
  const post = async (route: string, gzip: Buffer) => {
    const response = await fetch(`${url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzip });
    expect(response.headers.get('content-type')).toMatch(problemType);
    return { status: response.status, detail: ((await response.json()) as { detail: string }).detail };
  };
  // 60 MiB of `{}` items in under 100 KB, as the attack sent it.
  const objects = bomb('{"points":[', '{},', 60 * MiB, '{}]}');

  it.each([
    ['/models', 400, "body has an unknown property 'points'"],
    ['/gradient', 400, 'points[0] must be an array'],
  ])('%s: objects where numbers belong → %i at once, without inflating the rest', async (route, status, detail) => {
    expect(objects.length).toBeLessThan(100_000);
    const before = retained();
    const started = performance.now();
    expect(await post(route, objects)).toEqual({ status, detail });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(retained() - before).toBeLessThan(32 * MiB);
  });

  it('a bomb of points stops at the first point past MAX_POINTS → 413', async () => {
    const points = bomb('{"modelId":"demo","points":[', '[0,0],', 60 * MiB, '[0,0]]}');
    expect(await post('/gradient', points)).toEqual({ status: 413, detail: 'points has more than 1000 points, the limit (MAX_POINTS)' });
  });

  it('a body that inflates past BODY_LIMIT → 413, counted as it inflates', async () => {
    const spaces = bomb('{"modelId":"demo","points":[[0,0]]', ' ', 60 * MiB, '}');
    const { status, detail } = await post('/gradient', spaces);
    expect(status).toBe(413);
    expect(detail).toMatch(/^the body is larger than the \d+ bytes this request can need/);
  });

  it('nesting deeper than the schema allows → 400 at the third bracket', async () => {
    const deep = bomb('{"modelId":"demo","points":', '[', 30 * MiB, '');
    expect(await post('/gradient', deep)).toEqual({ status: 400, detail: 'points[0][0] must be a finite number' });
  });
});

describe('bodies nobody reads', async () => {
  const { app } = await startApp({ API_KEY: 'secret', PROTECT_READS: 'true' });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });

  it.each([
    ['an unknown route', '/nope', 404],
    ['a guarded route without a key', '/gradient', 401],
    ['a guarded route with a wrong key', '/gradient', 401],
  ])('%s: answered before the body is read, and the connection closed', async (name, path, status) => {
    const key = name.includes('wrong') ? '\r\nauthorization: Bearer guess' : '';
    const exchange = await rawRequest(url, `POST ${path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: ${60 * MiB}${key}`);
    exchange.socket.write(Buffer.alloc(64 * 1024, 0x20));
    const head = await exchange.head;
    expect(statusOf(head)).toBe(status);
    expect(head.toLowerCase()).toContain('connection: close');
    // The server does not wait for the other 60 MiB.
    await Promise.race([exchange.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('still open')), 2000))]);
  });

  it('a gzip body to an unknown route is not echoed back', async () => {
    const response = await fetch(`${url}/nope`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync('{"a":1}') });
    const problem = (await response.json()) as { detail: string };
    expect(response.status).toBe(404);
    expect(problem.detail).toBe('there is no route POST /nope');
  });
});

describe('bodies that stop arriving', async () => {
  const { app, logs } = await startApp({ BODY_STALL_TIMEOUT_MS: '300', REQUEST_TIMEOUT_MS: '1500' });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });

  it('no byte for BODY_STALL_TIMEOUT_MS → 408 problem+json, logged and counted, connection closed', async () => {
    const exchange = await rawRequest(url, 'POST /gradient HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: 1000');
    exchange.socket.write('{"modelId":"demo","points":[[0.5,');
    await exchange.closed;
    const text = exchange.received();
    expect(statusOf(text)).toBe(408);
    expect(text.toLowerCase()).toContain('content-type: application/problem+json');
    expect(bodyOf(text)).toMatchObject({ type: '/problems/request-timeout', detail: 'no byte of the body arrived for 300 ms (BODY_STALL_TIMEOUT_MS)' });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/http_request_duration_seconds_count\{method="POST",route="\/gradient",status="408"\} 1/);
    expect(logs.some((line) => line.status === 408 && line.route === '/gradient')).toBe(true);
  });

  it('still arriving, a byte at a time, after REQUEST_TIMEOUT_MS → 408', async () => {
    const exchange = await rawRequest(url, 'POST /gradient HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: 1000');
    const drip = setInterval(() => exchange.socket.write(' '), 100);
    await exchange.closed;
    clearInterval(drip);
    expect(statusOf(exchange.received())).toBe(408);
    expect(bodyOf(exchange.received())).toMatchObject({ detail: 'the request took longer than 1500 ms to arrive (REQUEST_TIMEOUT_MS)' });
  });
});

describe('answers nobody reads', async () => {
  const { app } = await startApp({ ANSWER_STALL_TIMEOUT_MS: '500', WORKERS: '2' });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });

  it('after ANSWER_STALL_TIMEOUT_MS without a byte read, the connection is closed and the answer’s memory comes back', async () => {
    // A 24 MB answer: more than the socket buffers hold, so it waits on the client.
    const points = Buffer.from(new Float64Array(2 * 1_000_000).fill(0.25).buffer);
    const reader = await rawRequest(
      url,
      `POST /gradient?modelId=demo HTTP/1.1\r\nhost: test\r\ncontent-type: application/octet-stream\r\naccept: application/octet-stream\r\ncontent-length: ${points.length}`,
    );
    reader.socket.write(points);
    await reader.head;
    reader.socket.pause();
    const started = performance.now();
    const connections = () => new Promise<number>((resolve) => app.server.getConnections((_error, count) => resolve(count)));
    await expect.poll(connections, { timeout: 5000 }).toBe(0);
    expect(performance.now() - started).toBeGreaterThan(400);
    await expect.poll(() => app.sharedMemory.retained()).toBeGreaterThan(0);
    // The client, reading again, finds the answer cut short.
    reader.socket.resume();
    await reader.closed;
    expect(reader.received().length).toBeLessThan(points.length);
  }, 20_000);
});

describe('many large bodies at once (BODY_BYTES_IN_FLIGHT)', async () => {
  const { app } = await startApp({ BODY_BYTES_IN_FLIGHT: String(5 * MiB), BODY_STALL_TIMEOUT_MS: '5000' });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });

  it('past the bound a request gets 503 with Retry-After at once; the bytes come back when the others end', async () => {
    const open = async () => {
      const exchange = await rawRequest(url, `POST /gradient?modelId=demo HTTP/1.1\r\nhost: test\r\ncontent-type: application/octet-stream\r\ncontent-length: ${2 * MiB}`);
      exchange.socket.write(Buffer.alloc(16));
      return exchange;
    };
    const first = await open();
    const second = await open();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const third = await open();
    const head = await third.head;
    expect(statusOf(head)).toBe(503);
    expect(head.toLowerCase()).toMatch(/retry-after: 1/);
    expect(app.bodies.bytesHeld).toBe(4 * MiB);
    first.socket.destroy();
    second.socket.destroy();
    await expect.poll(() => app.bodies.bytesHeld).toBe(0);
    // And the next one is taken.
    const points = Buffer.from(new Float64Array(2 * 70_000).fill(0.25).buffer);
    const response = await fetch(`${url}/gradient?modelId=demo`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }, body: points });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
  });
});

describe('work past the budget (MAX_REQUEST_FLOPS)', async () => {
  const { http } = await startApp({ MAX_REQUEST_FLOPS: '1000000' });

  it('is refused with 413 before any work starts', async () => {
    const points = Array.from({ length: 2000 }, () => [0.1, 0.2]);
    const response = await http.post('/gradient').send({ modelId: 'demo', points }).expect(413).expect('content-type', problemType);
    expect(response.body.detail).toBe(
      'the request asks for 2000 points × 512 flops = 1024000 flops of work (gradient on a model with K = 8, d = 4), more than the limit of 1000000 (MAX_REQUEST_FLOPS)',
    );
    await http.post('/gradient').send({ modelId: 'demo', points: points.slice(0, 1900) }).expect(200);
  });
});

describe('a client that leaves in the middle of a long computation', async () => {
  const { app, http } = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0' });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });

  it('stops the pool within a slice, and frees its threads for others', async () => {
    // K = 40, d = 64: 655,360 flops a point; 60,000 points are ~39 Gflop, tens of seconds of both threads.
    const { id } = (await http.post('/models').send({ layers: 40, dim: 64, inputDim: 2, seed: 3 }).expect(201)).body;
    const body = Buffer.from(new Float64Array(2 * 60_000).fill(0.5).buffer);
    const exchange = await rawRequest(url, `POST /gradient?modelId=${id} HTTP/1.1\r\nhost: test\r\ncontent-type: application/octet-stream\r\naccept: application/octet-stream\r\ncontent-length: ${body.length}`);
    exchange.socket.write(body);
    await new Promise((resolve) => setTimeout(resolve, 500));
    exchange.socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The threads are idle again: the process uses little CPU from here on.
    const before = process.cpuUsage();
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 600));
    const used = process.cpuUsage(before);
    const busy = (used.user + used.system) / 1e3 / (performance.now() - started);
    expect(busy).toBeLessThan(0.3);
    // Another client's pooled request is answered at once.
    const small = await http.post('/gradient').send({ modelId: id, points: [[0.1, 0.2], [0.3, 0.4]] }).expect(200);
    expect(small.body.values).toHaveLength(2);
  }, 30_000);
});

describe('seeded creates and reads of large models', async () => {
  const { http } = await startApp();

  it('neither holds the event loop for long: a model of 1.5 million weights drawn, then read whole', async () => {
    const created = await worstDelay(() => http.post('/models').send({ layers: 24, dim: 256, seed: 1 }).expect(201));
    expect(created.worstMs).toBeLessThan(100);
    const { id } = created.result.body;
    const read = await worstDelay(() => http.get(`/models/${id}`).buffer(true).parse((res, callback) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => callback(null, Buffer.concat(chunks).toString()));
    }).expect(200));
    expect(read.worstMs).toBeLessThan(100);
    const document = JSON.parse(read.result.body as string);
    expect(document.W).toHaveLength(24);
    expect(document.W[23][255]).toHaveLength(256);
    expect(document).toMatchObject({ id, layers: 24, dim: 256, mu: 0 });
  }, 60_000);
});

describe('the registry’s bytes (MAX_REGISTRY_BYTES)', async () => {
  const { http } = await startApp({ MAX_REGISTRY_BYTES: '100000' });

  it('a create past the bound → 409 naming it, and nothing registered', async () => {
    await http.post('/models').send({ layers: 10, dim: 30, seed: 1 }).expect(201);
    const response = await http.post('/models').send({ layers: 10, dim: 30, seed: 2 }).expect(409).expect('content-type', problemType);
    expect(response.body.detail).toMatch(/^the registry holds \d+ bytes of weights and this model has 74656, more than the limit of 100000 bytes in all \(MAX_REGISTRY_BYTES\)/);
    expect((await http.get('/models').expect(200)).body.models).toHaveLength(BUILT_IN_MODEL_IDS.length + 1);
  });
});

describe('rate limits that hold', () => {
  it('an Authorization header nobody verified is no client of its own: twenty bogus ones share one budget', async () => {
    const { http } = await startApp({ RATE_LIMIT_MAX: '5' });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await http.post('/gradient').set('authorization', `x${i}`).send({ modelId: 'demo', points: [[0, 0]] })).status);
    expect(statuses).toEqual([...Array(5).fill(200), ...Array(15).fill(429)]);
  });

  it('a verified key is a client of its own; failed keys are counted, and past AUTH_FAILURE_LIMIT get 429', async () => {
    const { http } = await startApp({ API_KEYS: 'alpha,beta', PROTECT_READS: 'true', RATE_LIMIT_MAX: '3', AUTH_FAILURE_LIMIT: '5' });
    const send = (key: string) => http.post('/gradient').set('authorization', `Bearer ${key}`).send({ modelId: 'demo', points: [[0, 0]] });
    for (let i = 0; i < 3; i++) expect((await send('alpha')).status).toBe(200);
    expect((await send('alpha')).status).toBe(429);
    // Another key, another budget (the same address).
    expect((await send('beta')).status).toBe(200);
    const guesses: number[] = [];
    for (let i = 0; i < 8; i++) guesses.push((await send(`guess-${i}`)).status);
    expect(guesses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const blocked = await send('beta');
    expect(blocked.status).toBe(429);
    expect(blocked.body.detail).toMatch(/AUTH_FAILURE_LIMIT/);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('with TRUST_PROXY, clients behind the proxy are told apart by X-Forwarded-For; without it, not', async () => {
    for (const [trust, expected] of [
      ['loopback', [200, 200, 200, 200]],
      [undefined, [200, 200, 429, 429]],
    ] as const) {
      const { http } = await startApp({ RATE_LIMIT_MAX: '2', ...(trust ? { TRUST_PROXY: trust } : {}) });
      const statuses: number[] = [];
      for (const client of ['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.2']) {
        statuses.push((await http.post('/gradient').set('x-forwarded-for', client).send({ modelId: 'demo', points: [[0, 0]] })).status);
      }
      expect(statuses).toEqual(expected);
    }
  });

  it('matches the Bearer scheme without regard to case (RFC 9110)', async () => {
    const { http } = await startApp({ API_KEY: 'secret' });
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const { body } = await http.post('/models').set('authorization', `${scheme} secret`).send({ layers: 1, dim: 2, seed: 1 }).expect(201);
      await http.delete(`/models/${body.id}`).set('authorization', `${scheme} secret`).expect(204);
    }
  });
});

describe('answers keep −0', async () => {
  const { http } = await startApp();

  it('in the 201 of a create and in the list, as in the model itself', async () => {
    const text = '{"h":-0,"W":[[[1]]],"b":[[0]],"w":[1],"mu":0}';
    const created = await http.post('/models').set('content-type', 'application/json').send(text).expect(201);
    expect(created.text).toContain('"h":-0');
    const list = await http.get('/models').expect(200);
    expect(list.text).toContain(`"id":"${created.body.id}","name":"${created.body.id}","version":1,"layers":1,"dim":1,"inputDim":1,"activation":"tanh","output":"identity","h":-0`);
    expect((await http.get(`/models/${created.body.id}`).expect(200)).text).toContain('"h":-0');
  });
});

