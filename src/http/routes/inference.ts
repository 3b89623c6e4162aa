/**
 * The Open Inference Protocol's HTTP/REST API (kserve/open-inference-protocol,
 * specification/protocol/inference_rest.md), with Triton's binary tensor data extension. The
 * registry's names and versions are the protocol's model names and versions. Errors on these
 * routes are the protocol's `{"error": "…"}` with the native routes' statuses (the problems plugin
 * gives every path under /v2 that form).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { readFileSync } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { evaluate, gradientOperation, hessianOperation, type Operation } from '../../compute/operations.js';
import { bytesSource, gather } from '../../codecs/source.js';
import { readDocument } from '../../codecs/json/document.js';
import { EXTENSIONS, INFERENCE_READ_SCHEMA, INPUT_NAME, OUTPUT_NAMES, readInferenceRequest, writeInferenceResponse, type OutputName } from '../../codecs/inference.js';
import { JSON_MEDIA_TYPE } from '../../codecs/json/exact.js';
import { LimitExceededError, ModelNotFoundError, PointsShapeError } from '../../errors.js';
import type { ModelRecord } from '../../registry/registry.js';
import { ENVELOPE_BYTES, JSON_BYTES_PER_NUMBER } from '../limits.js';
import { HttpProblem } from '../problems.js';
import { MODEL_ID_MAX_LENGTH } from '../schemas/models.js';
import { bodyTimedOut, databaseAway, errorResponses, unknownModel, unknownVersion, type ErrorResponse } from '../schemas/problem.js';

const SERVER_NAME = 'resnet-gradient-service';
const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
const HEADER_LENGTH = 'inference-header-content-length';
const OCTET_STREAM = 'application/octet-stream';

const ModelName = Type.String({ minLength: 1, maxLength: MODEL_ID_MAX_LENGTH, description: "The model's name: its id in the registry.", examples: ['demo'] });
const Version = Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: 'A version of the model: 1, 2, 3, …', examples: ['1'] });
const NameParams = Type.Object({ name: ModelName }, { additionalProperties: false });
const NameVersionParams = Type.Object({ name: ModelName, version: Version }, { additionalProperties: false });

const Parameters = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), {
  description: 'Parameters as name/value pairs: binary_data_size on a tensor sent as bytes after the JSON header.',
  examples: [{ binary_data_size: 16 }],
});
const Shape = Type.Array(Type.Integer({ minimum: -1 }), { description: 'The tensor\'s shape; -1 marks a dimension of any size.', examples: [[-1, 2]] });
const MetadataTensor = Type.Object(
  {
    name: Type.String({ description: 'The tensor\'s name.', examples: ['points'] }),
    datatype: Type.String({ description: 'The data type of its elements: FP64 (an input may also be FP32).', examples: ['FP64'] }),
    shape: Shape,
  },
  { additionalProperties: false, description: 'A tensor a model takes or gives.' },
);
const ServerMetadata = Type.Object(
  {
    name: Type.String({ description: 'The server.', examples: [SERVER_NAME] }),
    version: Type.String({ description: 'Its release.', examples: ['0.1.0'] }),
    extensions: Type.Array(Type.String(), { description: 'The protocol extensions it supports.', examples: [[...EXTENSIONS]] }),
  },
  { additionalProperties: false, description: 'The server\'s metadata.' },
);
const ModelMetadata = Type.Object(
  {
    name: Type.String({ description: 'The model\'s name.', examples: ['demo'] }),
    versions: Type.Array(Type.String(), { description: 'The versions that may be asked for by /versions/{version}.', examples: [['1']] }),
    platform: Type.String({ description: 'What runs it.', examples: ['resnet-gradient'] }),
    inputs: Type.Array(MetadataTensor, { description: 'The one input: points, [N, d₀].', examples: [[{ name: 'points', datatype: 'FP64', shape: [-1, 2] }]] }),
    outputs: Type.Array(MetadataTensor, {
      description: 'value [N], gradient [N, d₀] and hessian [N, d₀, d₀].',
      examples: [
        [
          { name: 'value', datatype: 'FP64', shape: [-1] },
          { name: 'gradient', datatype: 'FP64', shape: [-1, 2] },
          { name: 'hessian', datatype: 'FP64', shape: [-1, 2, 2] },
        ],
      ],
    }),
  },
  { additionalProperties: false, description: 'A model\'s metadata.' },
);
const ModelReady = Type.Object(
  {
    name: Type.String({ description: 'The model\'s name.', examples: ['demo'] }),
    ready: Type.Boolean({ description: 'Whether it takes inference requests.', examples: [true] }),
  },
  { additionalProperties: false, description: 'Whether a model is ready.' },
);
const Live = Type.Object({ live: Type.Boolean({ description: 'The server is up.', examples: [true] }) }, { additionalProperties: false, description: 'Liveness.' });
const Ready = Type.Object({ ready: Type.Boolean({ description: 'The server takes requests.', examples: [true] }) }, { additionalProperties: false, description: 'Readiness.' });

const TensorData = Type.Array(Type.Unknown(), { description: 'The numbers, row-major: flat, or nested as the shape.', examples: [[0.5, -0.25]] });
const RequestInput = Type.Object(
  {
    name: Type.Literal(INPUT_NAME, { description: 'The one input.', examples: [INPUT_NAME] }),
    shape: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 2, maxItems: 2, description: '[N, d₀]: N points of d₀ = inputDim coordinates.', examples: [[1, 2]] }),
    datatype: Type.Enum(['FP64', 'FP32'], { description: 'FP64, or FP32 (widened exactly).', examples: ['FP64'] }),
    parameters: Type.Optional(Parameters),
    data: Type.Optional(TensorData),
  },
  { additionalProperties: false, description: 'The points.' },
);
const RequestOutput = Type.Object(
  {
    name: Type.Enum([...OUTPUT_NAMES], { description: 'value, gradient or hessian.', examples: ['gradient'] }),
    parameters: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), { description: 'binary_data: true sends this output as bytes after the JSON header.', examples: [{ binary_data: true }] })),
  },
  { additionalProperties: false, description: 'An output asked for.' },
);
const InferenceRequest = Type.Object(
  {
    id: Type.Optional(Type.String({ description: 'Echoed in the response.', examples: ['42'] })),
    parameters: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), { description: 'binary_data_output: true sends every output as bytes.', examples: [{ binary_data_output: false }] }),
    ),
    inputs: Type.Array(RequestInput, { minItems: 1, maxItems: 1, description: 'One tensor, points.', examples: [[{ name: 'points', shape: [1, 2], datatype: 'FP64', data: [0.5, -0.25] }]] }),
    outputs: Type.Optional(
      Type.Array(RequestOutput, {
        minItems: 1,
        description: 'The outputs wanted, in this order. Without it, all three, Hessian included: ask for value and gradient alone not to pay for a Hessian.',
        examples: [[{ name: 'value' }, { name: 'gradient' }]],
      }),
    ),
  },
  { additionalProperties: false, description: 'An inference request.' },
);
const ResponseOutput = Type.Object(
  {
    name: Type.Enum([...OUTPUT_NAMES], { description: 'value, gradient or hessian.', examples: ['value'] }),
    datatype: Type.Literal('FP64', { description: 'Always FP64.', examples: ['FP64'] }),
    shape: Type.Array(Type.Integer({ minimum: 1 }), { description: '[N], [N, d₀] or [N, d₀, d₀].', examples: [[1]] }),
    parameters: Type.Optional(Type.Object({ binary_data_size: Type.Integer({ minimum: 0, description: 'Bytes of this output after the JSON header.', examples: [8] }) }, { additionalProperties: false, description: 'For an output sent as bytes.', examples: [{ binary_data_size: 8 }] })),
    data: Type.Optional(Type.Array(Type.Number(), { description: 'The numbers, flat, row-major.', examples: [[0.3]] })),
  },
  { additionalProperties: false, description: 'An output.' },
);
const InferenceResponse = Type.Object(
  {
    model_name: Type.String({ description: 'The model.', examples: ['demo'] }),
    model_version: Type.String({ description: 'The version that computed the outputs.', examples: ['1'] }),
    id: Type.Optional(Type.String({ description: 'The request\'s id.', examples: ['42'] })),
    outputs: Type.Array(ResponseOutput, { description: 'The outputs asked for.', examples: [[{ name: 'value', datatype: 'FP64', shape: [1], data: [0.3] }]] }),
  },
  { additionalProperties: false, description: 'An inference response.' },
);

/** The cheapest operation that gives every output asked for. */
const operationFor = (outputs: readonly OutputName[]): Operation => (outputs.includes('hessian') ? hessianOperation : outputs.includes('gradient') ? gradientOperation : evaluate);

/** Where each output is in an operation's results. */
const OUTPUT_INDEX: Record<OutputName, number> = { value: 0, gradient: 1, hessian: 2 };

const versionOf = (params: { version?: string }) => (params.version === undefined ? undefined : Number(params.version));

export const inferenceRoutes: FastifyPluginAsyncTypebox<{ readonly isClosing: () => boolean }> = async (app, { isClosing }) => {

  async function find(name: string, version?: number): Promise<ModelRecord> {
    const record = app.registry.peek(name, version) ?? (await app.registry.get(name, version));
    if (record === undefined) throw new ModelNotFoundError(name, version);
    return record;
  }

  const metadata = (record: ModelRecord, versions: readonly number[]) => {
    const d = record.model.inputDim;
    return {
      name: record.id,
      versions: versions.map(String),
      platform: 'resnet-gradient',
      inputs: [{ name: INPUT_NAME, datatype: 'FP64', shape: [-1, d] }],
      outputs: [
        { name: 'value', datatype: 'FP64', shape: [-1] },
        { name: 'gradient', datatype: 'FP64', shape: [-1, d] },
        { name: 'hessian', datatype: 'FP64', shape: [-1, d, d] },
      ],
    };
  };

  const badVersion: ErrorResponse = {
    description: 'The version is not a positive integer.',
    examples: { badVersion: { summary: 'a version that is not a number', kind: 'invalid-request', detail: 'version must match pattern "^[1-9][0-9]{0,8}$"' } },
  };
  const unavailable: ErrorResponse = { description: "The shared registry's database cannot be reached, and this replica does not hold the model.", examples: { databaseAway } };
  const modelErrors = (path: string, versioned: boolean) =>
    errorResponses<400 | 404 | 503>(path, versioned ? { 400: badVersion, 404: unknownVersion, 503: unavailable } : ({ 404: unknownModel, 503: unavailable } as Record<400 | 404 | 503, ErrorResponse>));

  app.get('/v2', { schema: { operationId: 'oipServerMetadata', tags: ['open-inference-protocol'], summary: 'Server metadata', description: 'The server\'s name, release and the protocol extensions it supports.', response: { 200: ServerMetadata } } }, async () => ({
    name: SERVER_NAME,
    version,
    extensions: [...EXTENSIONS],
  }));

  app.get('/v2/health/live', { schema: { operationId: 'oipServerLive', tags: ['open-inference-protocol'], summary: 'Server live', description: 'Answers {"live": true} while the process is up.', response: { 200: Live } } }, async () => ({ live: true }));

  app.get(
    '/v2/health/ready',
    {
      schema: {
        operationId: 'oipServerReady',
        tags: ['open-inference-protocol'],
        summary: 'Server ready',
        description: 'Answers {"ready": true} once the registry and the demo models are loaded; 503 from the start of shutdown on.',
        response: { 200: Ready, ...errorResponses('/v2/health/ready', { 503: { description: 'The service is shutting down.', examples: { closing: { summary: 'after SIGTERM', kind: 'service-unavailable', detail: 'the service is shutting down' } } } }) },
      },
    },
    async () => {
      if (isClosing()) throw new HttpProblem('service-unavailable', 'the service is shutting down');
      return { ready: true };
    },
  );

  for (const versioned of [false, true]) {
    const base = versioned ? '/v2/models/:name/versions/:version' : '/v2/models/:name';
    const params = versioned ? NameVersionParams : NameParams;
    const path = versioned ? '/v2/models/demo/versions/1' : '/v2/models/demo';
    const suffix = versioned ? 'Version' : '';

    app.get(
      base,
      {
        config: { access: 'read' },
        schema: {
          operationId: `oipModel${suffix}Metadata`,
          tags: ['open-inference-protocol'],
          summary: `Model metadata${versioned ? ', one version' : ''}`,
          description: `The model's input (points, [N, d₀], FP64) and outputs (value, gradient, hessian), and its versions${versioned ? '' : '; the latest version answers'}.`,
          params,
          response: { 200: ModelMetadata, ...modelErrors(path, versioned) },
        },
      },
      async (request) => {
        const { name } = request.params as { name: string };
        const record = await find(name, versionOf(request.params as { version?: string }));
        const versions = (await app.registry.versions(name))?.map((v) => v.version) ?? [record.version];
        return metadata(record, versions);
      },
    );

    app.get(
      `${base}/ready`,
      {
        config: { access: 'read' },
        schema: {
          operationId: `oipModel${suffix}Ready`,
          tags: ['open-inference-protocol'],
          summary: `Model ready${versioned ? ', one version' : ''}`,
          description: 'Whether the model takes inference requests: a registered model always does.',
          params,
          response: { 200: ModelReady, ...modelErrors(`${path}/ready`, versioned) },
        },
      },
      async (request) => {
        const { name } = request.params as { name: string };
        await find(name, versionOf(request.params as { version?: string }));
        return { name, ready: true };
      },
    );

    app.post(
      `${base}/infer`,
      {
        config: {
          access: 'read',
          body: {
            types: ['application/json', OCTET_STREAM],
            limit: (request: FastifyRequest) => {
              const numbers = app.config.MAX_POINTS * app.registry.widestInput();
              return ENVELOPE_BYTES + (request.headers[HEADER_LENGTH] === undefined ? JSON_BYTES_PER_NUMBER : 8) * numbers;
            },
          },
          documentedBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  ...InferenceRequest,
                  'x-examples': {
                    gradient: { summary: 'value and gradient at one point of the demo model', value: { id: '42', inputs: [{ name: 'points', shape: [1, 2], datatype: 'FP64', data: [0.5, -0.25] }], outputs: [{ name: 'value' }, { name: 'gradient' }] } },
                    nested: { summary: 'two points, nested, all three outputs', value: { inputs: [{ name: 'points', shape: [2, 2], datatype: 'FP64', data: [[0.5, -0.25], [1, 0]] }] } },
                  },
                },
              },
              [OCTET_STREAM]: {
                schema: Type.Unsafe<Uint8Array>({
                  type: 'string',
                  format: 'binary',
                  description: 'The binary tensor data extension: the JSON request (Inference-Header-Content-Length bytes), then the bytes of each input with parameters.binary_data_size, little-endian, row-major.',
                }),
              },
            },
          },
        },
        schema: {
          operationId: `oipModel${suffix}Infer`,
          tags: ['open-inference-protocol'],
          summary: `Inference${versioned ? ' on one version' : ''}`,
          description:
            'F(y), ∇F(y) and ∇²F(y) for a batch of points: input points [N, d₀] (FP64, or FP32 widened exactly), outputs value [N], gradient [N, d₀], hessian [N, d₀, d₀], all FP64. Without outputs, all three are computed, the Hessian included, which costs (1 + d₀/2) gradients and more: list the outputs you need. With the binary tensor data extension (Inference-Header-Content-Length), inputs and outputs travel as little-endian bytes after the JSON.',
          params,
          response: {
            200: {
              description: 'The outputs: JSON, or the JSON header and the bytes of binary outputs (Inference-Header-Content-Length gives the header\'s length).',
              content: {
                'application/json': {
                  schema: InferenceResponse,
                  examples: {
                    gradient: {
                      summary: 'value and gradient at one point of the demo model',
                      value: { model_name: 'demo', model_version: '1', id: '42', outputs: [{ name: 'value', datatype: 'FP64', shape: [1], data: [0.27701583406928443] }, { name: 'gradient', datatype: 'FP64', shape: [1, 2], data: [0.08008308634359138, -0.34667681253370525] }] },
                    },
                  },
                },
                [OCTET_STREAM]: { schema: Type.Unsafe<Uint8Array>({ type: 'string', format: 'binary', description: 'The JSON response, then the outputs\' bytes.' }) },
              },
            },
            ...errorResponses(`${path}/infer`, {
              400: {
                description: 'The request is not an inference request this model takes, or the version is not a positive integer; the error names the field.',
                examples: {
                  wrongInput: { summary: 'an input that is not points', kind: 'invalid-request', detail: 'inputs[0].name must be "points", the model\'s one input, not "input0"' },
                  shortData: { summary: 'fewer numbers than the shape says', kind: 'invalid-request', detail: 'inputs[0].data has 3 numbers; shape [2, 2] needs 4' },
                  ...(versioned ? badVersion.examples : {}),
                },
              },
              404: versioned ? unknownVersion : unknownModel,
              408: bodyTimedOut,
              413: { description: 'More points than MAX_POINTS, or a body over its limit.', examples: { tooManyPoints: { summary: 'more points than MAX_POINTS', kind: 'content-too-large', detail: 'inputs[0].shape [2000000, 2] has 2000000 points, more than the limit of 1000000 (MAX_POINTS)' } } },
              415: { description: 'The body is neither application/json nor application/octet-stream.', examples: { text: { summary: 'a body of text/plain', kind: 'unsupported-media-type', detail: `POST ${base}/infer takes application/json or application/octet-stream, not text/plain` } } },
              422: { description: 'The points do not fit the model (d₀ is not its inputDim), or a result is not finite.', examples: { wrongWidth: { summary: 'three coordinates for a model of inputDim 2', kind: 'invalid-points', detail: "inputs[0].shape [1, 3] has 3 coordinates a point; the model 'demo' takes 2 (its inputDim)" } } },
              503: { description: "The service is shutting down, or the shared registry's database cannot be reached and this replica does not hold the model.", examples: { databaseAway } },
            }),
          },
        },
      },
      async (request, reply) => infer(request, reply),
    );
  }

  async function infer(request: FastifyRequest, reply: FastifyReply) {
    const { name } = request.params as { name: string };
    const record = await find(name, versionOf(request.params as { version?: string }));
    const widest = app.config.MAX_POINTS * app.registry.widestInput();
    const tooMany = (field: string) => () => new LimitExceededError(field, `${field} holds more than ${widest} numbers, more than MAX_POINTS (${app.config.MAX_POINTS}) points of the widest model's inputDim`);
    // The points go into the request's recycled memory, which the worker threads share.
    const allocate = (length: number) => app.work(request, reply).float64(length);
    const options = { allocate, limits: (field: string) => ({ maxOuter: widest, maxNumbers: widest, tooManyOuter: tooMany(field), tooManyNumbers: tooMany(field) }) };
    const declared = request.headers[HEADER_LENGTH];
    let header: unknown;
    let tail: Uint8Array = new Uint8Array(0);
    if (declared === undefined) {
      // JSON alone: read as it arrives, its numbers straight into memory (never a JSON tree of them).
      header = await readDocument(app.bodyOf(request, reply), INFERENCE_READ_SCHEMA, options);
    } else {
      const bytes = await gather(app.bodyOf(request, reply));
      const headerLength = Number(declared);
      if (!/^[0-9]+$/.test(String(declared)) || headerLength > bytes.length) {
        throw new HttpProblem('invalid-request', `Inference-Header-Content-Length is ${JSON.stringify(declared)}; it must be a whole number of bytes, at most the body's ${bytes.length}`);
      }
      header = await readDocument(bytesSource(bytes.subarray(0, headerLength)), INFERENCE_READ_SCHEMA, options);
      tail = bytes.subarray(headerLength);
    }
    const decoded = readInferenceRequest(header, tail, app.config.MAX_POINTS, allocate);
    const { points } = decoded;
    if (points.width !== record.model.inputDim) {
      throw new PointsShapeError('inputs[0].shape', `inputs[0].shape [${points.count}, ${points.width}] has ${points.width} coordinates a point; the model '${name}' takes ${record.model.inputDim} (its inputDim)`);
    }
    const operation = operationFor(decoded.outputs);
    const result = await app.compute(request, reply, operation, { model: { id: name, version: record.version }, inputs: { points } });
    const tensors = Object.fromEntries(decoded.outputs.map((output) => [output, result.outputs[OUTPUT_INDEX[output]]]));
    const { body, headerLength: jsonLength } = writeInferenceResponse({
      modelName: name,
      modelVersion: Number(reply.getHeader('model-version') ?? record.version),
      ...(decoded.id === undefined ? {} : { id: decoded.id }),
      count: points.count,
      width: points.width,
      request: decoded,
      tensors,
    });
    if (jsonLength !== null) reply.header(HEADER_LENGTH, String(jsonLength)).type(OCTET_STREAM);
    else reply.type(JSON_MEDIA_TYPE);
    return reply.send(body);
  }
};
