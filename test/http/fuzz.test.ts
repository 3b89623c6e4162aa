/**
 * Property-based tests: arbitrary JSON, and valid bodies mutated in the ways buggy clients break
 * them, sent over HTTP to every route that takes a body. Whatever arrives, the answer is never a
 * 5xx, every error is problem+json whose status matches, a refused create registers nothing, and
 * the service keeps answering. The same holds for arbitrary framing: method, path, query, headers
 * and the kind of body.
 */
import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { computeExample } from '../../src/http/schemas/compute.js';
import { problemType, startApp } from '../helpers/app.js';
import { startServer } from '../helpers/server.js';
import { BUILT_IN_MODEL_IDS } from '../../src/registry/demo.js';
import { flowExample, vectorFieldExample } from '../../src/http/schemas/flows.js';

const limits = { MAX_POINTS: '2000', MAX_MODEL_WEIGHTS: '20000', BODY_LIMIT: '2097152' };
const { http } = await startApp(limits);

const validBodies: Record<string, object> = {
  '/models': { name: 'fuzz', activation: 'relu', output: 'logistic', h: 0.1, W: [[[0.5, -0.25], [0.125, 0.75]]], b: [[0, 0.1]], w: [1, -0.5], mu: 0, inputDim: 2 },
  '/models#seeded': { layers: 3, dim: 4, seed: 7, inputDim: 2, h: 0.2 },
  '/models#minmax': { layers: 2, dim: 3, seed: 8, inputDim: 2, output: 'logistic', inputScaling: { min: [-3, -2], max: [3, 2], range: [0, 1] }, outputScaling: { min: -0.5, max: 2.5, range: [0.2, 0.8] } },
  '/models#affine': { layers: 2, dim: 3, seed: 9, inputDim: 2, inputScaling: { scale: [0.5, -2], offset: [0, 1] }, outputScaling: { scale: 3, offset: -1 } },
  '/evaluate': computeExample.request,
  '/gradient': computeExample.request,
  '/flows': flowExample.request,
  '/flows#general': { hamiltonian: { model: { modelId: 'demo-pendulum-H', modelVersion: 1 } }, method: 'implicit-midpoint', h: 0.1, steps: 5, initial: [[1, 0]] },
  '/flows/vector-field': vectorFieldExample.request,
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

/** Every path into a JSON value, the root included. */
function paths(value: Json, prefix: Path = []): Path[] {
  if (Array.isArray(value)) return [prefix, ...value.flatMap((item, i) => paths(item, [...prefix, i]))];
  if (value !== null && typeof value === 'object') return [prefix, ...Object.entries(value).flatMap(([k, v]) => paths(v, [...prefix, k]))];
  return [prefix];
}

function replaceAt(value: Json, path: Path, replace: (old: Json) => Json | undefined): Json {
  if (path.length === 0) return replace(value) ?? null;
  const [head, ...rest] = path;
  const copy: Json = Array.isArray(value) ? [...value] : { ...(value as Record<string, Json>) };
  const child = (copy as Record<string | number, Json>)[head];
  const next = replaceAt(child, rest, replace);
  if (rest.length === 0 && replace(child) === undefined) {
    if (Array.isArray(copy)) copy.splice(Number(head), 1);
    else delete (copy as Record<string, Json>)[head];
  } else (copy as Record<string | number, Json>)[head] = next;
  return copy;
}

const nested = (depth: number, inner: Json): Json => {
  let value = inner;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

/** Values that do not belong where they land. */
const wrongValue: fc.Arbitrary<Json> = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom<Json>(null, true, false, '', '1.5', '1e400', 'NaN', {}, [], [[]], -0, 0, -1, 1e308, -1e308, 5e-324, 2 ** 53 + 1, 4294967296),
  fc.double(),
  fc.integer(),
  fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 6 }),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  fc.nat({ max: 3000 }).map((depth) => nested(depth, 1)),
  fc.nat({ max: 60_000 }).map((length) => Array.from({ length }, (_, i) => i % 7)),
);

/** A valid body changed in one way, as JSON text (so that the text-level mutations survive). */
const mutatedBody = (route: string): fc.Arbitrary<string> => {
  const body = validBodies[route] as Json;
  const all = paths(body);
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('replace' as const), at: fc.nat(all.length - 1), value: wrongValue }),
    fc.record({ kind: fc.constant('remove' as const), at: fc.nat(all.length - 1) }),
    fc.record({ kind: fc.constant('replace' as const), at: fc.nat(all.length - 1), value: fc.constantFrom<Json>([], {}, '', [[]]) }),
    fc.record({ kind: fc.constant('ragged' as const), at: fc.nat(all.length - 1), value: fc.double({ noNaN: true }) }),
    fc.record({ kind: fc.constant('key' as const), key: fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra', 'W ', 'Points'), value: wrongValue }),
    fc.record({ kind: fc.constant('text' as const), token: fc.constantFrom('1e400', '-1e400', 'NaN', 'Infinity', '"0.5"', 'null', '{}', '1e-400', '-0', '0x10') }),
  );
  return mutation.map((m) => {
    switch (m.kind) {
      case 'replace':
        return JSON.stringify(replaceAt(body, all[m.at], () => m.value));
      case 'remove':
        return JSON.stringify(all[m.at].length === 0 ? {} : replaceAt(body, all[m.at], () => undefined));
      case 'ragged':
        return JSON.stringify(replaceAt(body, all[m.at], (old) => (Array.isArray(old) ? [...old, m.value] : [old, m.value])));
      case 'key':
        // Written into the text: an object literal would turn __proto__ into a prototype, not a key.
        return JSON.stringify(body).replace(/^\{/, `{${JSON.stringify(m.key)}:${JSON.stringify(m.value)},`);
      case 'text': {
        const text = JSON.stringify(body);
        return text.replace(/-?\d+(\.\d+)?(e-?\d+)?(?=[,\]}])/, m.token);
      }
    }
  });
};

async function modelIds(): Promise<string[]> {
  return ((await http.get('/models').expect(200)).body.models as { id: string }[]).map((m) => m.id);
}

/** Sends a body and checks the answer's contract; returns the status. */
async function send(route: string, text: string): Promise<number> {
  const response = await http.post(route.split('#')[0]).set('content-type', 'application/json').send(text);
  expect(response.status, text.slice(0, 300)).toBeLessThan(500);
  if (response.status >= 400) {
    expect(response.headers['content-type']).toMatch(problemType);
    expect(response.body.status).toBe(response.status);
    expect(response.body.type).toMatch(/^\/problems\/[a-z-]+$/);
    expect(response.body.detail.length).toBeGreaterThan(0);
  } else if (!route.startsWith('/models')) {
    expect(response.status).toBe(200);
    // A flow says `null` for a trajectory that ran to the end.
    expect(response.text).not.toMatch(route.startsWith('/flows') ? /Infinity|NaN/ : /null|Infinity|NaN/);
  } else {
    expect(response.status).toBe(201);
    await http.delete(`/models/${response.body.id}`).expect(204);
  }
  return response.status;
}

describe.each(Object.keys(validBodies))('POST %s', (route) => {
  it('the unmutated body is accepted', async () => {
    expect(await send(route, JSON.stringify(validBodies[route]))).toBeLessThan(300);
  });

  it('arbitrary JSON never gets a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), async (value) => {
        await send(route, JSON.stringify(value));
      }),
      { numRuns: 150 },
    );
  });

  it('mutated valid bodies never get a 5xx, and a refused create registers nothing', async () => {
    await fc.assert(
      fc.asyncProperty(mutatedBody(route), async (text) => {
        const before = await modelIds();
        const status = await send(route, text);
        if (status >= 400) expect(await modelIds()).toEqual(before);
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});

/**
 * The rest of a request, arbitrary: method, path, query, Content-Type, Content-Encoding, Accept,
 * Accept-Encoding, and bodies of every kind (none, empty, JSON, raw float64s of good and bad
 * lengths, gzip of each, broken gzip, text), with a length or chunked.
 */
describe('arbitrary request framing', () => {
  const valid = Buffer.from(JSON.stringify(validBodies['/gradient']));
  const floats = (...xs: number[]) => Buffer.from(new Float64Array(xs).buffer);
  const bodies: Record<string, Buffer | undefined> = {
    none: undefined,
    empty: Buffer.alloc(0),
    json: valid,
    model: Buffer.from(JSON.stringify(validBodies['/models#seeded'])),
    float64s: floats(0.5, -0.25, 1, 2),
    ragged: floats(0.5, -0.25, 1).subarray(0, 20),
    nonFinite: floats(Number.NaN, 1),
    gzipJson: gzipSync(valid),
    gzipFloat64s: gzipSync(floats(0.5, -0.25)),
    gzipEmpty: gzipSync(Buffer.alloc(0)),
    brokenGzip: gzipSync(valid).subarray(0, 10),
    text: Buffer.from('hello'),
    byteOrderMark: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), valid]),
    utf16: Buffer.from(valid.toString(), 'utf16le'),
  };
  const optional = <T>(...values: T[]) => fc.constantFrom<T | undefined>(undefined, ...values);
  const request = fc.record({
    method: fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS'),
    path: fc.constantFrom('/gradient', '/evaluate', '/models', '/models/demo', '/models/none', '/health/live', '/metrics', '/problems/invalid-request', '/docs/json', '/', '/gradient/', '//gradient', '/models/%E0%A4%A', `/models/${'b'.repeat(150)}`),
    query: fc.constantFrom('', '?modelId=demo', '?modelId=', '?modelId=demo&modelId=demo', '?modelId[a]=1', '?x=1', '?modelId=%ZZ', `?modelId=${'a'.repeat(200)}`),
    contentType: optional('application/json', 'application/octet-stream', 'application/json; charset=utf-16', 'APPLICATION/JSON', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '*/*', '', 'application/octet-stream; foo=bar'),
    contentEncoding: optional('gzip', 'deflate', 'br', 'identity', 'gzip, gzip', 'x-gzip', ''),
    accept: optional('application/json', 'application/octet-stream', '*/*', 'text/html', 'application/*;q=0', 'application/octet-stream;q=0.5, application/json', '', 'garbage;;;='),
    acceptEncoding: optional('gzip', 'br', 'deflate', 'identity;q=0', '*;q=0', 'gzip;q=abc'),
    body: fc.constantFrom(...Object.keys(bodies)),
    chunked: fc.boolean(),
  });

  it('never gets a 5xx; every error is problem+json; a refused request changes nothing', async () => {
    const { app } = await startApp(limits);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const modelsNow = async () => ((await (await fetch(`${url}/models`)).json()) as { models: { id: string }[] }).models.map((m) => m.id);
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        // The compute routes need the demo model to reach their kernels.
        fc.pre(!(r.method === 'DELETE' && r.path === '/models/demo'));
        const headers: Record<string, string> = {};
        if (r.contentType !== undefined) headers['content-type'] = r.contentType;
        if (r.contentEncoding !== undefined) headers['content-encoding'] = r.contentEncoding;
        if (r.accept !== undefined) headers.accept = r.accept;
        if (r.acceptEncoding !== undefined) headers['accept-encoding'] = r.acceptEncoding;
        const bytes = r.method === 'GET' || r.method === 'HEAD' ? undefined : bodies[r.body];
        const body = bytes && r.chunked ? new Blob([bytes]).stream() : bytes;
        const before = await modelsNow();
        const response = await fetch(`${url}${r.path}${r.query}`, { method: r.method, headers, body, duplex: 'half' } as RequestInit);
        const text = await response.text();
        expect(response.status, text).toBeLessThan(500);
        if (response.status >= 400) {
          if (r.method !== 'HEAD') {
            expect(response.headers.get('content-type')).toMatch(problemType);
            expect(JSON.parse(text).status).toBe(response.status);
          }
          expect(await modelsNow()).toEqual(before);
        } else if (response.status === 201) {
          await fetch(`${url}/models/${JSON.parse(text).id}`, { method: 'DELETE' });
        }
      }),
      { numRuns: 400 },
    );
  }, 120_000);
});

describe('the service after the fuzzing', () => {
  it('is still up and still right', async () => {
    await http.get('/health/live').expect(200);
    const { body } = await http.post('/gradient').send(validBodies['/gradient']).expect(200);
    expect(body.values).toEqual(computeExample.values);
    expect(await modelIds()).toEqual(BUILT_IN_MODEL_IDS);
  });
});

describe('the real process under malformed bodies', () => {
  it('stays up and keeps answering', async () => {
    const server = await startServer(limits);
    try {
      const bodies = fc.sample(fc.oneof(mutatedBody('/models'), mutatedBody('/gradient')), { numRuns: 150, seed: 42 });
      const statuses = await Promise.all(
        bodies.map(async (text, i) => {
          const response = await fetch(`${server.url}${i % 2 ? '/gradient' : '/models'}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: text,
          });
          await response.arrayBuffer();
          return response.status;
        }),
      );
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
      expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
      expect(server.child.exitCode).toBeNull();
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 60_000);
});
