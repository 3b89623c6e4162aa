/**
 * The Open Inference Protocol over real HTTP: every /v2 answer validates against the
 * specification's objects (test/helpers/oip-schemas.ts); inference gives the native routes' numbers
 * bit for bit, from JSON (flat or nested, FP64 or FP32) and from the binary tensor data extension,
 * checked byte by byte; each output costs only what it needs; errors are the protocol's
 * {"error"} with the native statuses under /v2, and problem+json everywhere else.
 */
import type { AddressInfo } from 'node:net';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';
import { oipSchemas } from '../helpers/oip-schemas.js';

const ajv = new Ajv2020({ strict: false, allErrors: true });
const validators = Object.fromEntries(Object.entries(oipSchemas).map(([name, schema]) => [name, ajv.compile(schema)])) as Record<keyof typeof oipSchemas, ReturnType<typeof ajv.compile>>;

let test: TestApp;
let base: string;
beforeAll(async () => {
  test = await startApp();
  await test.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(test.app.server.address() as AddressInfo).port}`;
});
afterAll(() => test.app.close());

const json = { 'content-type': 'application/json' };

/** A /v2 answer, checked against the specification's object for it (or its error object). */
async function v2(path: string, schema: keyof typeof oipSchemas, init: RequestInit = {}) {
  const response = await fetch(`${base}${path}`, init);
  const text = Buffer.from(await response.arrayBuffer());
  const header = Number(response.headers.get('inference-header-content-length') ?? text.length);
  const body = JSON.parse(text.subarray(0, header).toString('utf8'));
  const validate = response.ok ? validators[schema] : validators.error;
  expect(validate(body), `${path}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(body).slice(0, 300)}`).toBe(true);
  if (!response.ok) expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
  return { status: response.status, headers: response.headers, body, binary: text.subarray(header) };
}

const infer = (body: unknown, path = '/v2/models/demo/infer') => v2(path, 'inferenceResponse', { method: 'POST', headers: json, body: JSON.stringify(body) });
const pointsInput = (points: number[][], datatype = 'FP64', flat = true) => ({ name: 'points', shape: [points.length, points[0].length], datatype, data: flat ? points.flat() : points });

/** The native answer for the same points: values, gradients and Hessians. */
async function native(points: number[][], modelId = 'demo', modelVersion?: number) {
  const response = await fetch(`${base}/hessian`, { method: 'POST', headers: json, body: JSON.stringify({ modelId, points, ...(modelVersion ? { modelVersion } : {}) }) });
  expect(response.status).toBe(200);
  return (await response.json()) as { values: number[]; gradients: number[][]; hessians: number[][][] };
}

/** Same numbers, bit for bit (−0 and 0 told apart). */
const sameNumbers = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));

const littleEndian = (numbers: number[]) => Buffer.from(new Float64Array(numbers).buffer);

const points = [
  [0.5, -0.25],
  [1, 0],
  [-0.75, 2.5],
];

describe('server and model metadata', () => {
  it('GET /v2 names the server, its release and the binary tensor data extension; the health routes answer', async () => {
    expect((await v2('/v2', 'metadataServer')).body).toEqual({ name: 'resnet-gradient-service', version: '0.1.0', extensions: ['binary_tensor_data'] });
    expect((await v2('/v2/health/live', 'live')).body).toEqual({ live: true });
    expect((await v2('/v2/health/ready', 'ready')).body).toEqual({ ready: true });
  });

  it('gives the registry\'s names and versions as the protocol\'s, with the input and output tensors of the model', async () => {
    for (const seed of [1, 2]) {
      const created = await fetch(`${base}/models/oip-model`, { method: 'PUT', headers: json, body: JSON.stringify({ layers: 3, dim: 5, inputDim: 3, seed }) });
      expect([200, 201]).toContain(created.status);
    }
    const { body } = await v2('/v2/models/oip-model', 'metadataModel');
    expect(body).toEqual({
      name: 'oip-model',
      versions: ['1', '2'],
      platform: 'resnet-gradient',
      inputs: [{ name: 'points', datatype: 'FP64', shape: [-1, 3] }],
      outputs: [
        { name: 'value', datatype: 'FP64', shape: [-1] },
        { name: 'gradient', datatype: 'FP64', shape: [-1, 3] },
        { name: 'hessian', datatype: 'FP64', shape: [-1, 3, 3] },
      ],
    });
    expect((await v2('/v2/models/oip-model/versions/1', 'metadataModel')).body.versions).toEqual(['1', '2']);
    expect((await v2('/v2/models/oip-model/ready', 'readyModel')).body).toEqual({ name: 'oip-model', ready: true });
    expect((await v2('/v2/models/oip-model/versions/2/ready', 'readyModel')).body).toEqual({ name: 'oip-model', ready: true });
    const missing = await v2('/v2/models/oip-model/versions/3/ready', 'readyModel');
    expect([missing.status, missing.body]).toEqual([404, { error: "the model 'oip-model' has no version 3" }]);
  });
});

describe('inference', () => {
  it('gives the native numbers bit for bit, from flat or nested data, and echoes the id', async () => {
    const expected = await native(points);
    for (const flat of [true, false]) {
      const { status, body } = await infer({ id: 'request-7', inputs: [pointsInput(points, 'FP64', flat)] });
      expect(status).toBe(200);
      expect(body.model_name).toBe('demo');
      expect(body.model_version).toBe('1');
      expect(body.id).toBe('request-7');
      // Without outputs, every output the model gives, in the metadata's order.
      expect(body.outputs.map((o: { name: string; shape: number[] }) => [o.name, o.shape])).toEqual([
        ['value', [3]],
        ['gradient', [3, 2]],
        ['hessian', [3, 2, 2]],
      ]);
      expect(sameNumbers(body.outputs[0].data, expected.values)).toBe(true);
      expect(sameNumbers(body.outputs[1].data, expected.gradients.flat())).toBe(true);
      expect(sameNumbers(body.outputs[2].data, expected.hessians.flat(2))).toBe(true);
    }
  });

  it('answers the outputs asked for, in the order asked, from the cheapest operation that gives them', async () => {
    const kernelRuns = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return Object.fromEntries([...text.matchAll(/^resnet_kernel_duration_seconds_count\{operation="(\w+)"\} (\d+)$/gm)].map(([, operation, count]) => [operation, Number(count)]));
    };
    const before = await kernelRuns();
    const { body } = await infer({ inputs: [pointsInput(points)], outputs: [{ name: 'gradient' }, { name: 'value' }] });
    expect(body.outputs.map((o: { name: string }) => o.name)).toEqual(['gradient', 'value']);
    await infer({ inputs: [pointsInput(points)], outputs: [{ name: 'value' }] });
    const after = await kernelRuns();
    expect((after.gradient ?? 0) - (before.gradient ?? 0)).toBe(1);
    expect((after.evaluate ?? 0) - (before.evaluate ?? 0)).toBe(1);
    expect(after.hessian ?? 0).toBe(before.hessian ?? 0);
  });

  it('runs the version named in the path, and the latest without one', async () => {
    const point = [[0.1, 0.2, 0.3]];
    const latest = await infer({ inputs: [pointsInput(point)], outputs: [{ name: 'value' }] }, '/v2/models/oip-model/infer');
    const first = await infer({ inputs: [pointsInput(point)], outputs: [{ name: 'value' }] }, '/v2/models/oip-model/versions/1/infer');
    expect([latest.body.model_version, first.body.model_version]).toEqual(['2', '1']);
    expect(sameNumbers(first.body.outputs[0].data, (await native(point, 'oip-model', 1)).values)).toBe(true);
    expect(sameNumbers(latest.body.outputs[0].data, (await native(point, 'oip-model', 2)).values)).toBe(true);
  });

  it('widens FP32 exactly: JSON numbers are taken as the float32 they name, binary float32s as they are', async () => {
    const narrow = [
      [0.1, -0.3],
      [1e-8, 3.4e38],
    ];
    const widened = narrow.map((point) => point.map(Math.fround));
    const expected = await native(widened);
    const fromJson = await infer({ inputs: [pointsInput(narrow, 'FP32')], outputs: [{ name: 'value' }, { name: 'gradient' }] });
    expect(sameNumbers(fromJson.body.outputs[0].data, expected.values)).toBe(true);
    const bytes = Buffer.from(new Float32Array(narrow.flat()).buffer);
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'points', shape: [2, 2], datatype: 'FP32', parameters: { binary_data_size: bytes.length } }], outputs: [{ name: 'gradient' }] }));
    const fromBytes = await v2('/v2/models/demo/infer', 'inferenceResponse', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
      body: Buffer.concat([header, bytes]),
    });
    expect(sameNumbers(fromBytes.body.outputs[0].data, expected.gradients.flat())).toBe(true);
  });
});

describe('large JSON requests', () => {
  it('are read as they arrive, the numbers straight into memory: the event loop keeps turning', async () => {
    const count = 1_000_000;
    const body = JSON.stringify({ inputs: [pointsInput(Array.from({ length: count }, (_, i) => [Math.sin(i), Math.cos(i)]), 'FP64', false)], outputs: [{ name: 'value' }] });
    let running = true;
    const gaps: number[] = [];
    const probe = (async () => {
      while (running) {
        const start = performance.now();
        await fetch(`${base}/v2/health/live`).then((r) => r.arrayBuffer());
        gaps.push(performance.now() - start);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const answer = await fetch(`${base}/v2/models/demo/infer`, { method: 'POST', headers: json, body });
    running = false;
    await probe;
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { outputs: { shape: number[] }[] }).outputs[0].shape).toEqual([count]);
    // JSON.parse of these 40 MB holds the event loop well past this bound (docs/inference.md).
    expect(Math.max(...gaps)).toBeLessThan(400);
    expect(gaps.length).toBeGreaterThan(5);
  }, 60_000);
});

describe('the binary tensor data extension', () => {
  it('reads inputs after the JSON header and writes the outputs asked for as bytes, byte for byte', async () => {
    const expected = await native(points);
    const bytes = littleEndian(points.flat());
    const request = { id: 'b', inputs: [{ name: 'points', shape: [3, 2], datatype: 'FP64', parameters: { binary_data_size: bytes.length } }], outputs: [{ name: 'value', parameters: { binary_data: true } }, { name: 'gradient' }, { name: 'hessian', parameters: { binary_data: true } }] };
    const header = Buffer.from(JSON.stringify(request));
    const answer = await v2('/v2/models/demo/infer', 'inferenceResponse', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
      body: Buffer.concat([header, bytes]),
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/octet-stream');
    expect(answer.body.outputs).toEqual([
      { name: 'value', datatype: 'FP64', shape: [3], parameters: { binary_data_size: 24 } },
      { name: 'gradient', datatype: 'FP64', shape: [3, 2], data: expected.gradients.flat() },
      { name: 'hessian', datatype: 'FP64', shape: [3, 2, 2], parameters: { binary_data_size: 96 } },
    ]);
    // The binary outputs in the order of the outputs, little-endian, row-major, nothing between.
    expect(answer.binary.equals(Buffer.concat([littleEndian(expected.values), littleEndian(expected.hessians.flat(2))]))).toBe(true);
  });

  it('sends every output as bytes with binary_data_output, and a JSON body without the header when none is', async () => {
    const expected = await native(points);
    const { body, binary, headers } = await infer({ parameters: { binary_data_output: true }, inputs: [pointsInput(points)], outputs: [{ name: 'gradient' }, { name: 'value', parameters: { binary_data: false } }] });
    expect(headers.get('inference-header-content-length')).not.toBeNull();
    expect(body.outputs[1].data).toEqual(expected.values);
    expect(binary.equals(littleEndian(expected.gradients.flat()))).toBe(true);
    const plain = await fetch(`${base}/v2/models/demo/infer`, { method: 'POST', headers: json, body: JSON.stringify({ inputs: [pointsInput(points)], outputs: [{ name: 'value' }] }) });
    expect(plain.headers.get('inference-header-content-length')).toBeNull();
    expect(plain.headers.get('content-type')).toBe('application/json; charset=utf-8');
  });
});

describe('errors', () => {
  const shortHeader = Buffer.from(JSON.stringify({ inputs: [{ name: 'points', shape: [1, 2], datatype: 'FP64', parameters: { binary_data_size: 16 } }] }));
  const cases: [string, RequestInit & { path?: string }, number, string | RegExp][] = [
    // The native routes' reader and its words (the JSON engine's own in the part after the colon).
    ['a body that is not JSON', { body: '{"inputs": [' }, 400, /^the body is not valid JSON: /],
    ['an unknown field', { body: JSON.stringify({ inputs: [pointsInput(points)], extra: 1 }) }, 400, 'extra is not a field of an inference request'],
    ['two inputs', { body: JSON.stringify({ inputs: [pointsInput(points), pointsInput(points)] }) }, 400, 'inputs must be an array of one tensor, points; it has 2'],
    ['an INT32 input', { body: JSON.stringify({ inputs: [pointsInput(points, 'INT32')] }) }, 400, 'inputs[0].datatype must be FP64 or FP32, not "INT32"'],
    ['a string among the numbers', { body: JSON.stringify({ inputs: [{ ...pointsInput(points), data: [1, 'x', 3, 4, 5, 6] }] }) }, 400, 'inputs[0].data[1] must be a finite number'],
    ['an unknown output', { body: JSON.stringify({ inputs: [pointsInput(points)], outputs: [{ name: 'jacobian' }] }) }, 400, 'outputs[0].name must be one of value, gradient, hessian, not "jacobian"'],
    ['an unknown model', { path: '/v2/models/nothing/infer', body: JSON.stringify({ inputs: [pointsInput(points)] }) }, 404, "no model with id 'nothing'"],
    ['more points than MAX_POINTS', { body: JSON.stringify({ inputs: [{ name: 'points', shape: [1_000_001, 2], datatype: 'FP64', data: [] }] }) }, 413, 'inputs[0].shape [1000001, 2] has 1000001 points, more than the limit of 1000000 (MAX_POINTS)'],
    ['a text body', { body: 'points', headers: { 'content-type': 'text/plain' } }, 415, 'POST /v2/models/:name/infer takes application/json or application/octet-stream, not text/plain'],
    ['points of the wrong width', { body: JSON.stringify({ inputs: [pointsInput([[1, 2, 3]])] }) }, 422, "inputs[0].shape [1, 3] has 3 coordinates a point; the model 'demo' takes 2 (its inputDim)"],
    [
      'fewer bytes than binary_data_size',
      { headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(shortHeader.length) }, body: Buffer.concat([shortHeader, Buffer.alloc(15)]) },
      400,
      'the binary tensor data after the JSON header has 15 bytes; inputs[0].parameters.binary_data_size says 16',
    ],
    ['a header length past the body', { headers: { ...json, 'inference-header-content-length': '9999' }, body: '{}' }, 400, 'Inference-Header-Content-Length is "9999"; it must be a whole number of bytes, at most the body\'s 2'],
  ];

  it.each(cases)('%s: the protocol\'s {error} with the native status', async (_, { path = '/v2/models/demo/infer', headers = json, body }, status, error) => {
    const answer = await v2(path, 'inferenceResponse', { method: 'POST', headers, body });
    expect(answer.status).toBe(status);
    expect(answer.body).toEqual({ error: typeof error === 'string' ? error : expect.stringMatching(error) });
  });

  it('stays on its own routes: /v2 paths answer {error}, every other path problem+json', async () => {
    const unknown = await v2('/v2/nothing', 'error');
    expect([unknown.status, unknown.body]).toEqual([404, { error: 'there is no route GET /v2/nothing' }]);
    const nativeMissing = await fetch(`${base}/nothing`);
    expect(nativeMissing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const nativeBad = await fetch(`${base}/gradient`, { method: 'POST', headers: json, body: JSON.stringify({ modelId: 'demo', points: [[1, 2, 3]] }) });
    expect(nativeBad.status).toBe(422);
    expect(await nativeBad.json()).toMatchObject({ type: '/problems/invalid-points', status: 422 });
    const badVersion = await v2('/v2/models/demo/versions/latest', 'metadataModel');
    expect([badVersion.status, badVersion.body]).toEqual([400, { error: 'version must match pattern "^[1-9][0-9]{0,8}$"' }]);
  });

  it('never answers arbitrary bodies with a 5xx, and always in the protocol\'s form', async () => {
    const tensor = fc.record(
      { name: fc.constantFrom('points', 'x'), shape: fc.array(fc.integer({ min: -2, max: 4 }), { maxLength: 3 }), datatype: fc.constantFrom('FP64', 'FP32', 'INT8', 7), data: fc.anything(), parameters: fc.anything() },
      { requiredKeys: [] },
    );
    const body = fc.oneof(fc.anything(), fc.record({ id: fc.anything(), inputs: fc.array(tensor, { maxLength: 2 }), outputs: fc.anything(), parameters: fc.anything() }, { requiredKeys: [] }));
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        const answer = await v2('/v2/models/demo/infer', 'inferenceResponse', { method: 'POST', headers: json, body: JSON.stringify(value) ?? 'null' });
        expect(answer.status).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});
