import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import Type from 'typebox';
import { exactJson, JSON_MEDIA_TYPE } from '../../codecs/json/exact.js';
import { modelDocumentPieces, readJsonModel } from '../../codecs/models.js';
import { ModelNotFoundError } from '../../errors.js';
import { buildModel, modelShape, nestedParameters } from '../../registry/documents.js';
import { MAX_MODEL_FILE_TENSORS } from '../../codecs/tensors/tensor.js';
import type { ModelListing, ModelRecord } from '../../registry/registry.js';
import { sendBytes, sendStream, sendText } from '../answers.js';
import { gather } from '../../codecs/source.js';
import { NPZ_MEDIA_TYPE, readWeights, SAFETENSORS_MEDIA_TYPE, WEIGHT_MEDIA_TYPES, writeWeights, type WeightMediaType, type WeightOptions } from '../../codecs/tensors/weights.js';
import { HttpProblem } from '../problems.js';
import type { ModelDocument } from '../../registry/documents.js';
import { modelBodyLimit } from '../limits.js';
import {
  ConditionalReadHeaders,
  ConditionalWriteHeaders,
  CreateModelBody,
  documentedCreateModelBody,
  IfMatchHeaders,
  ModelDetail,
  ModelIdParams,
  ModelList,
  ModelNameParams,
  ModelSummary,
  VersionList,
  VersionParams,
  WeightFileQuery,
} from '../schemas/models.js';
import { badPath, bodyTimedOut, databaseAwayWrite, problemResponses, registryUnavailable, unknownModel, unknownVersion, type ErrorResponse } from '../schemas/problem.js';

const summary = ({ id, name, version, createdAt, model }: ModelListing) => ({ id, name, version, ...modelShape(model), createdAt });

/** The errors of a create (POST, PUT), with an example of each. */
const createErrors = (route: string) => ({
        400: {
          description: 'The body is not JSON or does not match the schema (a missing or unknown field, a non-number, a number like 1e400).',
          examples: {
            missingFields: { summary: 'a model without h and mu', kind: 'invalid-request', detail: 'h and mu are required' },
            notANumber: { summary: 'a weight that is not a number', kind: 'invalid-request', detail: 'W[0][1][0] must be a finite number' },
          },
        },
        408: bodyTimedOut,
        409: {
          description: 'The registry is full (MAX_MODELS, MAX_MODEL_VERSIONS, or MAX_REGISTRY_BYTES).',
          examples: { full: { summary: 'a registry that holds MAX_MODELS models', kind: 'registry-full', detail: 'the registry holds its limit of 1000 models (MAX_MODELS); delete one first' } },
        },
        413: {
          description: 'The body is over BODY_LIMIT, or K·d² is over MAX_MODEL_WEIGHTS.',
          examples: {
            tooLarge: {
              summary: 'a seeded model over MAX_MODEL_WEIGHTS',
              kind: 'content-too-large',
              detail: 'the model has K·d² = 1000·100² = 10000000 weights, more than the limit of 4194304 (MAX_MODEL_WEIGHTS)',
            },
          },
        },
        415: {
          description: 'The body is not application/json, application/x-npz or application/x-safetensors.',
          examples: { text: { summary: 'a body of text/plain', kind: 'unsupported-media-type', detail: `${route} takes application/json or application/x-npz or application/x-safetensors, not text/plain` } },
        },
        422: {
          description: 'The arrays do not fit together (W not K×d×d, b not K×d or K×d×1, inputDim > d); the detail names the field and the shape expected.',
          examples: {
            shortBias: { summary: 'a bias of the wrong length', kind: 'invalid-model', detail: 'b[0] has 3 entries; expected d = 2 entries, the length of w (b is K × d)' },
          },
        },
        503: {
          description:
            "The service is shutting down, or is reading as many bytes of large bodies as BODY_BYTES_IN_FLIGHT allows, or the shared registry's database (REGISTRY_URL) cannot be reached; nothing was stored; retry after Retry-After seconds.",
          examples: {
            closing: { summary: 'a body that would not arrive before the service stops', kind: 'service-unavailable', detail: 'the service is shutting down and this body would not arrive in time; send it again' },
            databaseAwayWrite,
          },
        },
        507: {
          description: 'The registry\'s storage (REGISTRY_DIR) is full; nothing was stored.',
          examples: { diskFull: { summary: 'a full disk under REGISTRY_DIR', kind: 'insufficient-storage', detail: "the registry's storage is full (ENOSPC); nothing was stored" } },
        },
}) satisfies Record<number, ErrorResponse>;

/** Entity tags of a conditional header: a list, or `*`; weak tags (W/"…") never match, as strong comparison requires. */
function entityTags(header: string | undefined): readonly string[] | '*' | undefined {
  if (header === undefined) return undefined;
  if (header.trim() === '*') return '*';
  return header.split(',').map((tag) => tag.trim()).filter((tag) => tag.length > 0);
}

/** Whether If-None-Match on a read names this version (weak comparison: W/ is ignored). */
function notModified(header: string | undefined, etag: string): boolean {
  const tags = entityTags(header);
  return tags === '*' || (tags !== undefined && tags.some((tag) => tag.replace(/^W\//, '') === etag));
}

const preconditionFailed: ErrorResponse = {
  description: 'If-Match or If-None-Match does not hold for the model as it is now; nothing was changed.',
  examples: {
    staleTag: {
      summary: 'a write whose If-Match names a version another write has replaced',
      kind: 'precondition-failed',
      detail: "If-Match: the latest version of 'pendulum-T' (2) has the entity tag \"Zk3R0mCq1fQ2a9xWbT7nL4sV8uY6eD5h\", not \"Vq0nS3c1mA1qg0xwTQ2c7kTgS8wFZk2R\"",
    },
  },
};
const etagHeader = Type.String({ description: "The version's entity tag: send it back in If-None-Match (reads) or If-Match (writes).", examples: ['"Vq0nS3c1mA1qg0xwTQ2c7kTgS8wFZk2R"'] });


const NPZ_HOW_TO =
  "numpy's .npz, as np.savez or np.savez_compressed writes it, of W (K×d×d), b (K×d or K×d×1), w (d or d×1) and mu, float64 or float32. The other options go in the query: ?h=0.1&activation=tanh. From a shell: python3 -c \"import numpy as np; np.savez('T.npz', W=W, b=b, w=w, mu=mu)\", then curl --data-binary @T.npz -H 'content-type: application/x-npz' 'http://localhost:3000/models/pendulum-T?h=0.1' -X PUT.";
const SAFETENSORS_HOW_TO =
  "A safetensors file, F64 or F32, of W, b, w and mu, or of a state_dict of K nn.Linear(d, d) and one nn.Linear(d, 1) (layers.{k}.weight, layers.{k}.bias, out.weight, out.bias). The other options go in the query, or in the file's __metadata__. From a shell: curl --data-binary @T.safetensors -H 'content-type: application/x-safetensors' 'http://localhost:3000/models/pendulum-T?h=0.1' -X PUT.";
const weightFile = (description: string) => Type.Unsafe<Uint8Array>({ type: 'string', format: 'binary', description });

/** From this many weights a model's document is streamed rather than written whole. */
const STREAMED_WEIGHTS = 64 * 1024;

export const modelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const limits = { maxModelWeights: app.config.MAX_MODEL_WEIGHTS };

  const tensorLimits = { maxElements: app.config.MAX_MODEL_WEIGHTS, maxTensors: MAX_MODEL_FILE_TENSORS };

  /** The model document of a create: a JSON body, or a weight file with its options in the query. */
  const readCreate = async (request: FastifyRequest, reply: FastifyReply): Promise<ModelDocument> => {
    const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const options = request.query as WeightOptions;
    if ((WEIGHT_MEDIA_TYPES as readonly string[]).includes(type)) {
      return readWeights(type as WeightMediaType, await gather(app.bodyOf(request, reply)), options, tensorLimits);
    }
    const given = Object.keys(options);
    if (given.length > 0) throw new HttpProblem('invalid-request', `?${given[0]}= is for a weight file (${WEIGHT_MEDIA_TYPES.join(', ')}); a JSON body gives ${given[0]} as a field`);
    return readJsonModel(app.bodyOf(request, reply), CreateModelBody, limits.maxModelWeights, (length) => new Float64Array(length));
  };
  const createBody = { types: ['application/json', ...WEIGHT_MEDIA_TYPES], limit: modelBodyLimit(app) };
  const createDocumentation = {
    content: {
      'application/json': { schema: documentedCreateModelBody },
      [NPZ_MEDIA_TYPE]: { schema: weightFile(NPZ_HOW_TO) },
      [SAFETENSORS_MEDIA_TYPE]: { schema: weightFile(SAFETENSORS_HOW_TO) },
    },
  };

  app.post(
    '/models',
    {
      config: {
        access: 'write',
        body: createBody,
        documentedBody: createDocumentation,
      },
      schema: {
        operationId: 'createModel',
        tags: ['models'],
        querystring: WeightFileQuery,
        summary: 'Register a model',
        description:
          'Registers a residual network, given by its parameters or drawn from a seed, and answers with its summary. The server makes the id; `Location` points to the model.',
        response: {
          201: {
            ...ModelSummary,
            description: 'The model is registered.',
            headers: {
              Location: Type.String({ description: 'The path of the new model.', examples: ['/models/3f2b6c1e-8d4a-4f7e-9a61-2c5d0e7b9f10'] }),
              ETag: etagHeader,
            },
          },
          ...problemResponses('/models', createErrors('POST /models')),
        },
      },
    },
    async (request, reply) => {
      const document = await readCreate(request, reply);
      const model = await buildModel(document, limits, (bytes) => app.registry.checkRoom(bytes));
      const record = await app.registry.add({ model, name: document.name });
      // Written by exactJson, so that every float64 (h = −0 too) reads back bit for bit.
      return sendText(reply.code(201).header('location', `/models/${encodeURIComponent(record.id)}`).header('etag', record.etag).type(JSON_MEDIA_TYPE), exactJson(summary(record)));
    },
  );

  app.get(
    '/models',
    {
      // A thousand models make a long list: gzip it for clients that accept it.
      compress: {},
      config: { access: 'read' },
      schema: {
        operationId: 'listModels',
        tags: ['models'],
        summary: 'List the models',
        description: 'Every registered model, oldest first, without its parameters.',
        response: { 200: { ...ModelList, description: 'The registered models.' }, ...problemResponses('/models', { 503: registryUnavailable(false) }) },
      },
    },
    async (_request, reply) => sendText(reply.type(JSON_MEDIA_TYPE), exactJson({ models: (await app.registry.list()).map(summary) })),
  );

  /** A version's document, with its entity tag; 304 when the client holds that tag already. */
  const sendModel = (record: ModelRecord, request: FastifyRequest, reply: FastifyReply) => {
    reply.header('etag', record.etag).header('vary', 'accept');
    if (notModified(request.headers['if-none-match'], record.etag)) return reply.code(304).send();
    const wanted = request.accepts().type([JSON_MEDIA_TYPE, ...WEIGHT_MEDIA_TYPES]);
    if (wanted === NPZ_MEDIA_TYPE || wanted === SAFETENSORS_MEDIA_TYPE) {
      const file = writeWeights(wanted, record.name, record.model);
      return sendBytes(reply.type(wanted).header('content-disposition', `attachment; filename="${record.id}-v${record.version}.${wanted === NPZ_MEDIA_TYPE ? 'npz' : 'safetensors'}"`), Buffer.from(file.buffer, file.byteOffset, file.length));
    }
    // Every float64 (−0 included) is written so that it reads back bit for bit; a large model
    // piece by piece, as the client reads it.
    if (record.model.W.length >= STREAMED_WEIGHTS) return sendStream(reply.type(JSON_MEDIA_TYPE), Readable.from(modelDocumentPieces(summary(record), record.model)));
    return sendText(reply.type(JSON_MEDIA_TYPE), exactJson({ ...summary(record), ...nestedParameters(record.model) }));
  };
  const modelResponses = (instance: string, badEncoding: string, notFound: ErrorResponse) => ({
    200: {
      description: `The model with its parameters: JSON, or with Accept: ${NPZ_MEDIA_TYPE} or ${SAFETENSORS_MEDIA_TYPE}, its weights as that file (the course's layout W, b, w, mu; a safetensors file carries the other options in __metadata__), every float64 bit for bit.`,
      headers: { ETag: etagHeader },
      content: {
        'application/json': { schema: ModelDetail },
        [NPZ_MEDIA_TYPE]: { schema: Type.Unsafe<Uint8Array>({ type: 'string', format: 'binary', description: 'An .npz archive, as np.savez writes it.' }) },
        [SAFETENSORS_MEDIA_TYPE]: { schema: Type.Unsafe<Uint8Array>({ type: 'string', format: 'binary', description: 'A safetensors file of F64 tensors.' }) },
      },
    },
    304: { type: 'null', description: 'The client holds this version already (If-None-Match).' } as const,
    ...problemResponses(instance, { 400: badPath(badEncoding), 404: notFound, 503: registryUnavailable(false) }),
  });

  app.get(
    '/models/:id',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'getModel',
        tags: ['models'],
        summary: 'Read a model',
        description: "The latest version of the model: its summary and its parameters, every float64 exactly as it was registered, with the version's ETag.",
        params: ModelIdParams,
        headers: ConditionalReadHeaders,
        response: modelResponses('/models/pendulum-T', '/models/%E0%A4%A', unknownModel),
      },
    },
    async (request, reply) => {
      const record = await app.registry.get(request.params.id);
      if (record === undefined) throw new ModelNotFoundError(request.params.id);
      return sendModel(record, request, reply);
    },
  );

  app.put(
    '/models/:id',
    {
      config: {
        access: 'write',
        body: createBody,
        documentedBody: createDocumentation,
      },
      schema: {
        operationId: 'putModel',
        tags: ['models'],
        summary: 'Create or replace a model under its name',
        description:
          "Makes a new version of the model named in the path (version 1 if there is none): versions are immutable, and compute requests use the latest unless they pin modelVersion. With If-Match (the ETag of the version the client read), the write happens only if no other came first; with If-None-Match: *, only if the name is free.",
        params: ModelNameParams,
        querystring: WeightFileQuery,
        headers: ConditionalWriteHeaders,
        response: {
          200: { ...ModelSummary, description: 'A new version of the model is stored.', headers: { Location: Type.String({ description: 'The path of the new version.', examples: ['/models/pendulum-T/versions/2'] }), ETag: etagHeader } },
          201: { ...ModelSummary, description: 'The model is created, at version 1.', headers: { Location: Type.String({ description: 'The path of the new version.', examples: ['/models/pendulum-T/versions/1'] }), ETag: etagHeader } },
          ...problemResponses('/models/pendulum-T', { ...createErrors('PUT /models/:id'), 412: preconditionFailed }),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const preconditions = { ifMatch: entityTags(request.headers['if-match']), ifNoneMatch: entityTags(request.headers['if-none-match']) };
      const document = await readCreate(request, reply);
      const model = await buildModel(document, limits, (bytes) => app.registry.checkRoom(bytes, id));
      const { record, created } = await app.registry.put(id, { model, name: document.name }, preconditions);
      const location = `/models/${encodeURIComponent(id)}/versions/${record.version}`;
      return sendText(reply.code(created ? 201 : 200).header('location', location).header('etag', record.etag).type(JSON_MEDIA_TYPE), exactJson(summary(record)));
    },
  );

  app.get(
    '/models/:id/versions',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'listModelVersions',
        tags: ['models'],
        summary: "List a model's versions",
        description: 'Every version of the model, oldest first, without parameters.',
        params: ModelIdParams,
        response: {
          200: { ...VersionList, description: 'The versions of the model.' },
          ...problemResponses('/models/pendulum-T/versions', { 400: badPath('/models/%E0%A4%A/versions'), 404: unknownModel, 503: registryUnavailable(false) }),
        },
      },
    },
    async (request, reply) => {
      const versions = await app.registry.versions(request.params.id);
      if (versions === undefined) throw new ModelNotFoundError(request.params.id);
      return sendText(reply.type(JSON_MEDIA_TYPE), exactJson({ versions: versions.map(summary) }));
    },
  );

  app.get(
    '/models/:id/versions/:version',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'getModelVersion',
        tags: ['models'],
        summary: 'Read one version of a model',
        description: 'One version of the model, with its parameters and its ETag.',
        params: VersionParams,
        headers: ConditionalReadHeaders,
        response: modelResponses('/models/demo/versions/7', '/models/%E0%A4%A/versions/1', unknownVersion),
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const version = Number(request.params.version);
      const record = await app.registry.get(id, version);
      if (record === undefined) throw new ModelNotFoundError(id, version);
      return sendModel(record, request, reply);
    },
  );

  app.delete(
    '/models/:id/versions/:version',
    {
      config: { access: 'write' },
      schema: {
        operationId: 'deleteModelVersion',
        tags: ['models'],
        summary: 'Delete one version of a model',
        description: "Removes one version; the model's other versions stay, and its version numbers are not given again. Deleting the only version deletes the model.",
        params: VersionParams,
        headers: IfMatchHeaders,
        response: {
          204: { type: 'null', description: 'The version is deleted.' },
          ...problemResponses('/models/demo/versions/7', { 400: badPath('/models/%E0%A4%A/versions/1'), 404: unknownVersion, 412: preconditionFailed, 503: registryUnavailable(true) }),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const version = Number(request.params.version);
      if (!(await app.registry.deleteVersion(id, version, { ifMatch: entityTags(request.headers['if-match']) }))) throw new ModelNotFoundError(id, version);
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/models/:id',
    {
      config: { access: 'write' },
      schema: {
        operationId: 'deleteModel',
        tags: ['models'],
        summary: 'Delete a model',
        description: 'Removes the model, every version; afterwards it is 404 everywhere. Requests already running on it finish.',
        params: ModelIdParams,
        headers: IfMatchHeaders,
        response: {
          204: { type: 'null', description: 'The model is deleted.' },
          ...problemResponses('/models/pendulum-T', { 400: badPath('/models/%E0%A4%A'), 404: unknownModel, 412: preconditionFailed, 503: registryUnavailable(true) }),
        },
      },
    },
    async (request, reply) => {
      if (!(await app.registry.delete(request.params.id, { ifMatch: entityTags(request.headers['if-match']) }))) throw new ModelNotFoundError(request.params.id);
      return reply.code(204).send(null);
    },
  );
};
