/**
 * Property-based tests: arbitrary JSON, and valid bodies mutated in the ways buggy clients break
 * them, sent over HTTP to every route that takes a body. Whatever arrives, the answer is never a
 * 5xx, every error is problem+json whose status matches, a refused create registers nothing, and
 * the service keeps answering.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeExample } from '../../src/http/schemas/compute.js';
import { problemType, startApp } from '../helpers/app.js';
import { startServer } from '../helpers/server.js';

const limits = { MAX_POINTS: '2000', MAX_MODEL_WEIGHTS: '20000', BODY_LIMIT: '2097152' };
const { http } = await startApp(limits);

const validBodies: Record<string, object> = {
  '/models': { name: 'fuzz', activation: 'relu', output: 'logistic', h: 0.1, W: [[[0.5, -0.25], [0.125, 0.75]]], b: [[0, 0.1]], w: [1, -0.5], mu: 0, inputDim: 2 },
  '/models#seeded': { layers: 3, dim: 4, seed: 7, inputDim: 2, h: 0.2 },
  '/evaluate': computeExample.request,
  '/gradient': computeExample.request,
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
  } else if (route !== '/models' && route !== '/models#seeded') {
    expect(response.status).toBe(200);
    expect(response.text).not.toMatch(/null|Infinity|NaN/);
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

describe('the service after the fuzzing', () => {
  it('is still up and still right', async () => {
    await http.get('/health/live').expect(200);
    const { body } = await http.post('/gradient').send(validBodies['/gradient']).expect(200);
    expect(body.values).toEqual(computeExample.values);
    expect(await modelIds()).toEqual(['demo']);
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
