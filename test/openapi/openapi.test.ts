import { OPTION_KEYS as WEIGHT_FILE_OPTIONS } from '../../src/codecs/tensors/weights.js';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { startApp } from '../helpers/app.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url);
const bin = (name: string) => new URL(`node_modules/.bin/${name}`, root).pathname;

const { http } = await startApp();
const served = (await http.get('/docs/json').expect(200)).body;

type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; items?: Schema; anyOf?: Schema[] };
type Operation = {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: { name: string; description?: string; example?: unknown; schema: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema; example?: unknown; examples?: unknown }> };
  responses: Record<string, { description?: string; content?: Record<string, { schema: Schema }> }>;
};
const operations: [string, Operation][] = Object.entries(served.paths as Record<string, Record<string, Operation>>).flatMap(
  ([path, methods]) => Object.entries(methods).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op] as [string, Operation]),
);

/** Every named property below a schema, with its path, for the description/example checks. */
function properties(schema: Schema, path: string): [string, Schema][] {
  const own = Object.entries(schema.properties ?? {}).flatMap(([name, child]) => [[`${path}.${name}`, child] as [string, Schema], ...properties(child, `${path}.${name}`)]);
  const nested = [...(schema.items ? [schema.items] : []), ...(schema.anyOf ?? [])].flatMap((child) => properties(child, path));
  return [...own, ...nested];
}

describe('the OpenAPI document', () => {
  it('is committed as openapi/openapi.json, identical to what the app serves (npm run openapi regenerates it)', () => {
    const committed = JSON.parse(readFileSync(new URL('openapi/openapi.json', root), 'utf8'));
    expect(served).toEqual(committed);
  });

  it('covers every route of the API', () => {
    expect(operations.map(([name]) => name).sort()).toEqual(
      [
        'DELETE /models/{id}',
        'GET /health/live',
        'GET /health/ready',
        'GET /metrics',
        'GET /models',
        'GET /models/{id}',
        'PUT /models/{id}',
        'GET /models/{id}/versions',
        'GET /models/{id}/versions/{version}',
        'DELETE /models/{id}/versions/{version}',
        'GET /problems/{kind}',
        'POST /evaluate',
        'POST /gradient',
        'POST /hessian',
        'POST /hvp',
        'POST /trace',
        'POST /flows',
        'POST /flows/vector-field',
        'POST /models',
        'GET /v2',
        'GET /v2/health/live',
        'GET /v2/health/ready',
        'GET /v2/models/{name}',
        'GET /v2/models/{name}/ready',
        'POST /v2/models/{name}/infer',
        'GET /v2/models/{name}/versions/{version}',
        'GET /v2/models/{name}/versions/{version}/ready',
        'POST /v2/models/{name}/versions/{version}/infer',
      ].sort(),
    );
    expect(served.servers).toEqual([expect.objectContaining({ url: expect.any(String), description: expect.any(String) })]);
  });

  it.each(operations)('%s has an operationId, a summary, a description, tags and a security list', (_name, op) => {
    expect(op.operationId).toMatch(/^[a-zA-Z]+$/);
    expect(op.summary).toBeTruthy();
    expect(op.description).toBeTruthy();
    expect(op.tags?.length).toBeGreaterThan(0);
    expect(Array.isArray(op.security)).toBe(true);
  });

  it.each(operations)("%s documents every error, 500 included, as problem+json, or under /v2 as the protocol's {error}", (name, op) => {
    const errors = Object.entries(op.responses).filter(([status]) => Number(status) >= 400);
    expect(errors.map(([status]) => status)).toContain('500');
    const protocol = / \/v2(\/|$)/.test(name);
    for (const [, response] of errors) {
      expect(response.description).toBeTruthy();
      expect(Object.keys(response.content ?? {})).toEqual([protocol ? 'application/json' : 'application/problem+json']);
    }
  });

  it.each(operations)('%s gives every field a description and an example', (_name, op) => {
    const schemas: [string, Schema][] = [
      ...Object.entries(op.requestBody?.content ?? {}).map(([type, media]) => [`body(${type})`, media.schema] as [string, Schema]),
      ...Object.entries(op.responses).flatMap(([status, response]) =>
        Object.entries(response.content ?? {}).map(([type, media]) => [`${status}(${type})`, media.schema] as [string, Schema]),
      ),
    ];
    const undocumented = schemas
      .flatMap(([where, schema]) => properties(schema, where))
      .filter(([, schema]) => !schema.description || !Array.isArray(schema.examples))
      .map(([path]) => path);
    expect(undocumented).toEqual([]);
    for (const parameter of op.parameters ?? []) {
      expect(parameter.description, parameter.name).toBeTruthy();
      // ?modelId=, ?modelVersion= and a weight file's options go without an example, so that
      // Swagger UI does not send them with JSON bodies.
      if (!['modelId', 'modelVersion', 'check', ...WEIGHT_FILE_OPTIONS].includes(parameter.name)) expect(parameter.example, parameter.name).toBeDefined();
    }
    // Raw float64s have no text to show; their description says how to send them.
    const textual = Object.entries(op.requestBody?.content ?? {}).filter(([, media]) => media.schema.format !== 'binary');
    for (const [type, media] of textual) expect(media.example ?? media.examples, type).toBeDefined();
  });

  it('states each limit with its default', () => {
    const text = JSON.stringify(served);
    expect(text).toContain('MAX_POINTS (default 1000000)');
    expect(text).toContain('MAX_MODEL_WEIGHTS (default 4194304)');
  });
});

describe('Swagger UI', () => {
  it('is served at /docs', async () => {
    const page = await http.get('/docs/').expect(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.text).toContain('swagger');
  });
});

describe('tools that consume the document', () => {
  it('Redocly’s recommended ruleset finds 0 errors', async () => {
    const { stdout } = await run(bin('redocly'), ['lint', 'openapi/openapi.json', '--format=json'], {
      cwd: root.pathname,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    }).catch((error: { stdout: string }) => error);
    const report = JSON.parse(stdout.slice(stdout.indexOf('{')));
    const errors = report.problems.filter((p: { severity: string }) => p.severity === 'error');
    expect(errors).toEqual([]);
  }, 60_000);

  it('a client generated by openapi-typescript compiles against it', async () => {
    const dir = new URL('node_modules/.cache/openapi-client/', root);
    mkdirSync(dir, { recursive: true });
    await run(bin('openapi-typescript'), ['openapi/openapi.json', '-o', new URL('schema.d.ts', dir).pathname], { cwd: root.pathname });
    writeFileSync(
      new URL('client.ts', dir),
      `import createClient from 'openapi-fetch';
import type { paths } from './schema';

// The JSON side of the API: /evaluate and /gradient also answer in raw float64s.
const client = createClient<paths, 'application/json' | 'application/problem+json'>({ baseUrl: 'http://localhost:3000' });

export async function integratorStep(q: number, p: number): Promise<[number, number[]]> {
  const { data, error } = await client.POST('/gradient', { body: { modelId: 'demo', points: [[q, p]] } });
  if (error) throw new Error(error.detail);
  const value: number = data.values[0];
  const gradient: number[] = data.gradients[0];
  return [value, gradient];
}

export async function roundTrip(): Promise<void> {
  const created = await client.POST('/models', { body: { layers: 4, dim: 3, seed: 1, activation: 'relu' } });
  if (created.error) throw new Error(created.error.title);
  const id: string = created.data.id;
  const read = await client.GET('/models/{id}', { params: { path: { id } } });
  const weights: number[][][] | undefined = read.data?.W;
  const evaluated = await client.POST('/evaluate', { body: { modelId: id, points: [[0, 1, 2]] } });
  const values: number[] | undefined = evaluated.data?.values;
  await client.DELETE('/models/{id}', { params: { path: { id } } });
  void weights;
  void values;
}
`,
    );
    writeFileSync(
      new URL('tsconfig.json', dir),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM'], skipLibCheck: false, types: [] },
        files: ['client.ts', 'schema.d.ts'],
      }),
    );
    const result = await run(bin('tsc'), ['-p', new URL('tsconfig.json', dir).pathname], { cwd: root.pathname }).catch(
      (error: { stdout: string; code: number }) => error,
    );
    expect(result.stdout).toBe('');
  }, 60_000);
});
