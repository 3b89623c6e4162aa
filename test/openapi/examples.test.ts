/**
 * The examples of the served OpenAPI document, as Swagger UI shows them: each has a name and a
 * summary a person understands, validates against its schema, and no two error statuses of an
 * operation share one. Every error example is the answer the route really gives: its request is
 * replayed here and the answer compared, member for member; the few that cannot be replayed in a
 * test (a fault, a full disk, minutes of waiting) are listed with the reason.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';

type Media = { schema: object; example?: unknown; examples?: Record<string, { summary?: string; value: unknown }> };
type Operation = { requestBody?: { content: Record<string, Media> }; responses: Record<string, { content?: Record<string, Media> }> };
type Document = { paths: Record<string, Record<string, Operation>> };

/** What the client sends to provoke an example's answer. */
interface Replay {
  readonly method: string;
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  /** The app's environment, when not the defaults (an app of its own per environment). */
  readonly env?: Record<string, string>;
  /** Whose example it is: the document served with API keys, or the one without. */
  readonly keyed?: boolean;
  /** Requests sent first, on the same app (filling the registry, using up a limit). */
  readonly before?: (app: TestApp) => Promise<void>;
}

const json = { 'content-type': 'application/json' };
const KEY = 's3cret';
const keyed = { API_KEY: KEY, PROTECT_READS: 'true', RATE_LIMIT_MAX: '80', AUTH_FAILURE_LIMIT: '60' };
const computeReplays = (path: string): Record<string, Replay> => ({
  [`POST ${path} 400 missingPoints`]: { method: 'POST', url: path, headers: json, body: '{"modelId": "demo"}' },
  [`POST ${path} 400 notANumber`]: { method: 'POST', url: path, headers: json, body: '{"modelId": "demo", "points": [[0.5, "x"]]}' },
  [`POST ${path} 400 twoModels`]: { method: 'POST', url: `${path}?modelId=pendulum-T`, headers: json, body: '{"modelId": "demo", "points": [[0.5, -0.25]]}' },
  [`POST ${path} 400 binaryWithoutModel`]: { method: 'POST', url: path, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(16) },
  [`POST ${path} 400 emptyBody`]: { method: 'POST', url: path, headers: json, body: '' },
  [`POST ${path} 404 unknownModel`]: { method: 'POST', url: path, headers: json, body: '{"modelId": "pendulum-T", "points": [[0.5, -0.25]]}' },
  [`POST ${path} 406 html`]: { method: 'POST', url: path, headers: { ...json, accept: 'text/html' }, body: '{"modelId": "demo", "points": [[0.5, -0.25]]}' },
  [`POST ${path} 413 tooManyPoints`]: { method: 'POST', url: path, headers: json, body: `{"modelId": "demo", "points": [${'[0],'.repeat(1_000_000)}[0]]}` },
  [`POST ${path} 415 text`]: { method: 'POST', url: path, headers: { 'content-type': 'text/plain' }, body: 'points' },
  [`POST ${path} 422 wrongWidth`]: { method: 'POST', url: path, headers: json, body: '{"modelId": "demo", "points": [[0.5, -0.25], [1, 0, 3]]}' },
  [`POST ${path} 401 missingKey`]: { method: 'POST', url: path, headers: json, body: '{}', env: keyed, keyed: true },
  [`POST ${path} 401 wrongKey`]: { method: 'POST', url: path, headers: { ...json, authorization: 'Bearer wrong' }, body: '{}', env: keyed, keyed: true },
});

const modelReplays: Record<string, Replay> = {
  'POST /models 400 missingFields': { method: 'POST', url: '/models', headers: json, body: '{"W": [[[1]]], "b": [[0]], "w": [1]}' },
  'POST /models 400 notANumber': { method: 'POST', url: '/models', headers: json, body: '{"h": 0.1, "W": [[[1, 2], [null, 4]]], "b": [[0, 0]], "w": [1, 1], "mu": 0}' },
  'POST /models 409 full': {
    method: 'POST',
    url: '/models',
    headers: json,
    body: '{"layers": 1, "dim": 1, "seed": 1}',
    env: { MAX_MODELS: '1000' },
    before: async ({ app }) => {
      for (let i = (await app.registry.count()); i < 1000; i++) {
        const answer = await app.inject({ method: 'POST', url: '/models', payload: { layers: 1, dim: 1, seed: i } });
        expect(answer.statusCode).toBe(201);
      }
    },
  },
  'POST /models 413 tooLarge': { method: 'POST', url: '/models', headers: json, body: '{"layers": 1000, "dim": 100, "seed": 1}' },
  'POST /models 415 text': { method: 'POST', url: '/models', headers: { 'content-type': 'text/plain' }, body: 'a model' },
  'POST /models 422 shortBias': { method: 'POST', url: '/models', headers: json, body: '{"h": 0.1, "W": [[[1, 0], [0, 1]]], "b": [[0, 0, 0]], "w": [1, 1], "mu": 0}' },
  'POST /models 401 missingKey': { method: 'POST', url: '/models', headers: json, body: '{}', env: keyed, keyed: true },
  'POST /models 401 wrongKey': { method: 'POST', url: '/models', headers: { ...json, authorization: 'Bearer wrong' }, body: '{}', env: keyed, keyed: true },
};

const flowBody = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({ hamiltonian: { kinetic: 'demo-pendulum-T', potential: 'demo-pendulum-V' }, method: 'stormer-verlet', h: 0.01, steps: 100, initial: [[1, 0]], ...fields });
const flowReplays = (path: string, body: (fields?: Record<string, unknown>) => string): Record<string, Replay> => ({
  [`POST ${path} 400 ${path === '/flows' ? 'unknownMethod' : 'halfHamiltonian'}`]: { method: 'POST', url: path, headers: json, body: body({ method: 'leapfrog' }) },
  [`POST ${path} 404 unknownModel`]: { method: 'POST', url: path, headers: json, body: body({ hamiltonian: { kinetic: 'pendulum-T2', potential: 'demo-pendulum-V' } }) },
  [`POST ${path} 406 html`]: { method: 'POST', url: path, headers: { ...json, accept: 'text/html' }, body: body() },
  [`POST ${path} 415 text`]: { method: 'POST', url: path, headers: { 'content-type': 'text/plain' }, body: 'a flow' },
  [`POST ${path} 422 wrongWidth`]: { method: 'POST', url: path, headers: json, body: body(path === '/flows' ? { initial: [[1, 0, 3]] } : { states: [[1, 0, 3]] }) },
  [`POST ${path} 401 missingKey`]: { method: 'POST', url: path, headers: json, body: '{}', env: keyed, keyed: true },
  [`POST ${path} 401 wrongKey`]: { method: 'POST', url: path, headers: { ...json, authorization: 'Bearer wrong' }, body: '{}', env: keyed, keyed: true },
});
/** /flows/vector-field takes states, and no method or steps. */
const fieldBody = (fields: Record<string, unknown> = {}) => {
  const { hamiltonian, states, method } = { hamiltonian: { kinetic: 'demo-pendulum-T', potential: 'demo-pendulum-V' }, states: [[1, 0]], ...fields } as Record<string, unknown>;
  return JSON.stringify({ hamiltonian: method === 'leapfrog' ? { kinetic: 'demo-pendulum-T' } : hamiltonian, states });
};

/** The Open Inference Protocol's routes: metadata and readiness of a model, unversioned and versioned, and inference. */
const inferBody = (input: Record<string, unknown> = {}) => JSON.stringify({ inputs: [{ name: 'points', shape: [1, 2], datatype: 'FP64', data: [0.5, -0.25], ...input }] });
const protocolReplays = (versioned: boolean): Record<string, Replay> => {
  const pattern = versioned ? '/v2/models/{name}/versions/{version}' : '/v2/models/{name}';
  const path = versioned ? '/v2/models/demo/versions/1' : '/v2/models/demo';
  const missing = versioned ? { name: 'unknownVersion', path: '/v2/models/demo/versions/7' } : { name: 'unknownModel', path: '/v2/models/pendulum-T' };
  const replays: Record<string, Replay> = {};
  for (const [suffix, method, body] of [
    ['', 'GET', undefined],
    ['/ready', 'GET', undefined],
    ['/infer', 'POST', inferBody()],
  ] as const) {
    const headers = body === undefined ? undefined : json;
    const key = `${method} ${pattern}${suffix}`;
    replays[`${key} 404 ${missing.name}`] = { method, url: `${missing.path}${suffix}`, headers, body };
    if (versioned) replays[`${key} 400 badVersion`] = { method, url: `/v2/models/demo/versions/v1${suffix}`, headers, body };
    replays[`${key} 401 missingKey`] = { method, url: `${path}${suffix}`, headers, body, env: keyed, keyed: true };
    replays[`${key} 401 wrongKey`] = { method, url: `${path}${suffix}`, headers: { ...headers, authorization: 'Bearer wrong' }, body, env: keyed, keyed: true };
  }
  const infer = `POST ${pattern}/infer`;
  replays[`${infer} 400 wrongInput`] = { method: 'POST', url: `${path}/infer`, headers: json, body: inferBody({ name: 'input0' }) };
  replays[`${infer} 400 shortData`] = { method: 'POST', url: `${path}/infer`, headers: json, body: inferBody({ shape: [2, 2], data: [1, 2, 3] }) };
  replays[`${infer} 413 tooManyPoints`] = { method: 'POST', url: `${path}/infer`, headers: json, body: inferBody({ shape: [2_000_000, 2], data: [] }) };
  replays[`${infer} 415 text`] = { method: 'POST', url: `${path}/infer`, headers: { 'content-type': 'text/plain' }, body: 'points' };
  replays[`${infer} 422 wrongWidth`] = { method: 'POST', url: `${path}/infer`, headers: json, body: inferBody({ shape: [1, 3], data: [1, 2, 3] }) };
  return replays;
};

const replays: Record<string, Replay> = {
  ...protocolReplays(false),
  ...protocolReplays(true),
  ...flowReplays('/flows', flowBody),
  'POST /flows 413 tooMuchWork': { method: 'POST', url: '/flows', headers: json, body: flowBody({ steps: 10000, every: 10000, initial: Array.from({ length: 1000 }, () => [1, 0]) }) },
  'POST /flows 422 notSeparable': { method: 'POST', url: '/flows', headers: json, body: flowBody({ hamiltonian: { model: 'demo-pendulum-H' } }) },
  ...flowReplays('/flows/vector-field', fieldBody),
  'POST /flows/vector-field 413 tooManyStates': { method: 'POST', url: '/flows/vector-field', headers: json, body: fieldBody({ states: Array.from({ length: 10001 }, () => [1, 0]) }) },
  'POST /flows/vector-field 422 mismatched': { method: 'POST', url: '/flows/vector-field', headers: json, body: fieldBody({ hamiltonian: { kinetic: 'demo-pendulum-T', potential: 'demo' } }) },
  ...computeReplays('/evaluate'),
  ...computeReplays('/gradient'),
  ...computeReplays('/hessian'),
  ...Object.fromEntries(
    Object.entries(computeReplays('/trace'))
      .filter(([key]) => !key.endsWith('binaryWithoutModel'))
      .map(([key, replay]) => [key, key.endsWith('tooManyPoints') ? { ...replay, body: `{"modelId": "demo", "points": [${'[0],'.repeat(16)}[0]]}` } : replay]),
  ),
  ...Object.fromEntries(
    Object.entries(computeReplays('/hvp')).map(([key, replay]) => [key, typeof replay.body === 'string' && replay.body.includes('"points": [[') ? { ...replay, body: replay.body.replace(/"points": (\[\[.*\]\])\}$/, (_, points: string) => `"points": ${points}, "vectors": ${points}}`) } : replay]),
  ),
  ...modelReplays,
  'GET /models 401 missingKey': { method: 'GET', url: '/models', env: keyed, keyed: true },
  'GET /models 401 wrongKey': { method: 'GET', url: '/models', headers: { authorization: 'Bearer wrong' }, env: keyed, keyed: true },
  'GET /models/{id} 401 missingKey': { method: 'GET', url: '/models/demo', env: keyed, keyed: true },
  'GET /models/{id} 401 wrongKey': { method: 'GET', url: '/models/demo', headers: { authorization: 'Bearer wrong' }, env: keyed, keyed: true },
  'DELETE /models/{id} 401 missingKey': { method: 'DELETE', url: '/models/demo', env: keyed, keyed: true },
  'DELETE /models/{id} 401 wrongKey': { method: 'DELETE', url: '/models/demo', headers: { authorization: 'Bearer wrong' }, env: keyed, keyed: true },
  ...Object.fromEntries(
    ['missingFields', 'notANumber', 'full', 'tooLarge', 'text', 'shortBias', 'missingKey', 'wrongKey'].map((name) => {
      const post = Object.entries(modelReplays).find(([key]) => key.endsWith(` ${name}`))![1];
      const status = Object.keys(modelReplays).find((key) => key.endsWith(` ${name}`))!.split(' ')[2];
      return [`PUT /models/{id} ${status} ${name}`, { ...post, method: 'PUT', url: post.keyed ? '/models/demo' : '/models/pendulum-T' }];
    }),
  ),
  'GET /models/{id}/versions 400 badEncoding': { method: 'GET', url: '/models/%E0%A4%A/versions' },
  'GET /models/{id}/versions 404 unknownModel': { method: 'GET', url: '/models/pendulum-T/versions' },
  'GET /models/{id}/versions/{version} 400 badEncoding': { method: 'GET', url: '/models/%E0%A4%A/versions/1' },
  'GET /models/{id}/versions/{version} 404 unknownVersion': { method: 'GET', url: '/models/demo/versions/7' },
  'DELETE /models/{id}/versions/{version} 400 badEncoding': { method: 'DELETE', url: '/models/%E0%A4%A/versions/1' },
  'DELETE /models/{id}/versions/{version} 404 unknownVersion': { method: 'DELETE', url: '/models/demo/versions/7' },
  ...Object.fromEntries(
    ['GET /models/{id}/versions', 'GET /models/{id}/versions/{version}', 'DELETE /models/{id}/versions/{version}'].flatMap((operation) => {
      const [method, path] = operation.split(' ');
      const url = path.replace('{id}', 'demo').replace('{version}', '1');
      return [
        [`${operation} 401 missingKey`, { method, url, env: keyed, keyed: true }],
        [`${operation} 401 wrongKey`, { method, url, headers: { authorization: 'Bearer wrong' }, env: keyed, keyed: true }],
      ];
    }),
  ),
  'GET /models/{id} 400 badEncoding': { method: 'GET', url: '/models/%E0%A4%A' },
  'GET /models/{id} 404 unknownModel': { method: 'GET', url: '/models/pendulum-T' },
  'DELETE /models/{id} 400 badEncoding': { method: 'DELETE', url: '/models/%E0%A4%A' },
  'DELETE /models/{id} 404 unknownModel': { method: 'DELETE', url: '/models/pendulum-T' },
  'GET /problems/{kind} 400 unknownKind': { method: 'GET', url: '/problems/no-such-kind' },
};

/** Examples no test can provoke cheaply, and why; the code that words them is tested elsewhere. */
const notReplayed: Record<string, string> = {
  fault: 'a 500 needs a fault in the service (test/http/service.test.ts injects one)',
  stalled: 'the default BODY_STALL_TIMEOUT_MS is 30 s (test/http/hostile.test.ts stalls a body under a shorter one)',
  busy: 'BODY_BYTES_IN_FLIGHT is 128 MiB by default (test/http/hostile.test.ts fills a smaller one)',
  closing: 'only during shutdown (test/process/shutdown.test.ts)',
  diskFull: 'a full disk (test/registry/registry-dir.test.ts fills a small tmpfs)',
  databaseAway: "needs the shared registry's PostgreSQL stopped (test/process/replicas.test.ts stops it under three replicas and checks this wording)",
  databaseAwayWrite: "needs the shared registry's PostgreSQL stopped (test/process/replicas.test.ts stops it under three replicas and checks this wording)",
  staleTag: 'the entity tags in its detail are digests of a model; test/http/versions.test.ts checks that the detail names the latest one',
  rateLimited: 'replayed below, with its own app: the window’s wording is the rate limiter’s',
  failedKeys: 'replayed below, with its own app',
};

const apps = new Map<string, Promise<TestApp>>();
const appFor = (env: Record<string, string> = {}) => {
  const key = JSON.stringify(env);
  if (!apps.has(key)) apps.set(key, startApp(env));
  return apps.get(key)!;
};

/** Sends a request over a real socket, as written (supertest would fix up a bad path or an empty body). */
async function send({ app }: TestApp, replay: Replay): Promise<{ status: number; body: unknown }> {
  if (!app.server.listening) await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const body = replay.body === undefined ? undefined : Buffer.from(replay.body);
    const headers = { ...replay.headers, ...(body ? { 'content-length': String(body.length) } : {}) };
    const request = httpRequest({ host: '127.0.0.1', port, method: replay.method, path: replay.url, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** Every media example of a document: where it is, its name, summary, value and schema. */
function examplesOf(document: Document) {
  const found: { key: string; operation: string; status: string; mediaType: string; name: string; summary?: string; value: unknown; schema: object }[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const name = `${method.toUpperCase()} ${path}`;
      const media: [string, string, Media][] = [
        ...Object.entries(operation.requestBody?.content ?? {}).map(([type, m]) => ['request', type, m] as [string, string, Media]),
        ...Object.entries(operation.responses).flatMap(([status, r]) => Object.entries(r.content ?? {}).map(([type, m]) => [status, type, m] as [string, string, Media])),
      ];
      for (const [status, mediaType, m] of media) {
        for (const [example, { summary, value }] of Object.entries(m.examples ?? {})) {
          found.push({ key: `${name} ${status} ${example}`, operation: name, status, mediaType, name: example, summary, value, schema: m.schema });
        }
      }
    }
  }
  return found;
}

const documents = await Promise.all(
  [{}, keyed].map(async (env) => {
    const app = await appFor(env);
    return { env, document: (await app.http.get('/docs/json').set('authorization', `Bearer ${KEY}`).expect(200)).body as Document };
  }),
);

describe.each(documents)('the examples of the document served with $env', ({ env, document }) => {
  const examples = examplesOf(document);
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addFormat('binary', true).addFormat('date-time', true);

  it('are there, named and summarized for people (not example1, example2)', () => {
    expect(examples.length).toBeGreaterThan(20);
    for (const example of examples) {
      expect(example.name, example.key).not.toMatch(/^example\d+$/);
      expect(example.summary?.length, example.key).toBeGreaterThan(5);
    }
  });

  it('validate against their schemas', () => {
    const invalid = examples.filter(({ schema, value }) => !ajv.validate(schema, value)).map(({ key }) => `${key}: ${ajv.errorsText()}`);
    expect(invalid).toEqual([]);
  });

  it('differ from one error status of an operation to the next', () => {
    const seen = new Map<string, string>();
    for (const example of examples.filter((e) => Number(e.status) >= 400)) {
      const key = `${example.operation} ${JSON.stringify(example.value)}`;
      const other = seen.get(key);
      expect(other === undefined || other === example.status, `${example.key} is also under ${other}`).toBe(true);
      seen.set(key, example.status);
    }
  });

  it('are the answers the routes give: every error example is replayed, or listed with the reason it is not', async () => {
    const errors = examples.filter((e) => Number(e.status) >= 400);
    const unexplained = errors.filter(({ key, name }) => !(key in replays) && !(name in notReplayed)).map(({ key }) => key);
    expect(unexplained).toEqual([]);
    for (const example of errors) {
      const replay = replays[example.key];
      if (replay === undefined || (replay.keyed ?? false) !== (env === keyed)) continue;
      const app = await appFor(replay.env);
      await replay.before?.(app);
      const answer = await send(app, replay);
      expect({ key: example.key, status: answer.status, body: answer.body }).toEqual({ key: example.key, status: Number(example.status), body: example.value });
    }
  }, 120_000);
});

describe('the 429 examples', () => {
  it('are the answers to too many wrong keys from one address, and to too many requests from one client', async () => {
    const { document } = documents[1];
    const examples = Object.fromEntries(examplesOf(document).map((e) => [e.key, e.value]));
    const failures = await startApp(keyed);
    for (let i = 0; i < Number(keyed.AUTH_FAILURE_LIMIT); i++) await send(failures, { method: 'POST', url: '/models', headers: { ...json, authorization: 'Bearer wrong' }, body: '{}' });
    const blocked = await send(failures, { method: 'POST', url: '/models', headers: json, body: '{}' });
    expect(blocked.body).toEqual(examples['POST /models 429 failedKeys']);
    const limited = await startApp(keyed);
    const valid = { method: 'GET', url: '/models', headers: { authorization: `Bearer ${KEY}` } };
    for (let i = 0; i < Number(keyed.RATE_LIMIT_MAX); i++) expect((await send(limited, valid)).status).toBe(200);
    const over = await send(limited, valid);
    expect(over.body).toEqual(examples['GET /models 429 rateLimited']);
  });
});
