import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Readable } from 'node:stream';
import Type from 'typebox';
import { exactJson, JSON_MEDIA_TYPE } from '../../codecs/json/exact.js';
import { modelDocumentPieces, readJsonModel } from '../../codecs/models.js';
import { ModelNotFoundError } from '../../errors.js';
import { buildModel, modelShape, nestedParameters } from '../../registry/documents.js';
import type { ModelRecord } from '../../registry/registry.js';
import { sendStream, sendText } from '../answers.js';
import { modelBodyLimit } from '../limits.js';
import { CreateModelBody, documentedCreateModelBody, ModelDetail, ModelIdParams, ModelList, ModelSummary } from '../schemas/models.js';
import { badPath, problemResponses, unknownModel } from '../schemas/problem.js';

const summary = ({ id, name, createdAt, model }: ModelRecord) => ({ id, name, ...modelShape(model), createdAt });

/** From this many weights a model's document is streamed rather than written whole. */
const STREAMED_WEIGHTS = 64 * 1024;

export const modelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const limits = { maxModelWeights: app.config.MAX_MODEL_WEIGHTS };

  app.post(
    '/models',
    {
      config: {
        access: 'write',
        body: { types: ['application/json'], limit: modelBodyLimit(app) },
        documentedBody: documentedCreateModelBody,
      },
      schema: {
        operationId: 'createModel',
        tags: ['models'],
        summary: 'Register a model',
        description:
          'Registers a residual network, given by its parameters or drawn from a seed, and answers with its summary. The server makes the id; `Location` points to the model.',
        response: {
          201: {
            ...ModelSummary,
            description: 'The model is registered.',
            headers: {
              Location: Type.String({ description: 'The path of the new model.', examples: ['/models/3f2b6c1e-8d4a-4f7e-9a61-2c5d0e7b9f10'] }),
            },
          },
          ...problemResponses('/models', {
            400: {
              description: 'The body is not JSON or does not match the schema (a missing or unknown field, a non-number, a number like 1e400).',
              examples: {
                missingFields: { summary: 'a model without h and mu', kind: 'invalid-request', detail: 'h and mu are required' },
                notANumber: { summary: 'a weight that is not a number', kind: 'invalid-request', detail: 'W[0][1][0] must be a finite number' },
              },
            },
            408: {
              description: 'The request took longer than REQUEST_TIMEOUT_MS to arrive, or its body stopped arriving for BODY_STALL_TIMEOUT_MS.',
              examples: { stalled: { summary: 'a body that stopped arriving', kind: 'request-timeout', detail: 'no byte of the body arrived for 30000 ms (BODY_STALL_TIMEOUT_MS)' } },
            },
            409: {
              description: 'The registry is full (MAX_MODELS, or MAX_REGISTRY_BYTES).',
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
              description: 'The body is not application/json.',
              examples: { text: { summary: 'a body of text/plain', kind: 'unsupported-media-type', detail: '/models takes application/json, not text/plain' } },
            },
            422: {
              description: 'The arrays do not fit together (W not K×d×d, b not K×d or K×d×1, inputDim > d); the detail names the field and the shape expected.',
              examples: {
                shortBias: { summary: 'a bias of the wrong length', kind: 'invalid-model', detail: 'b[0] has 3 entries; expected d = 2 entries, the length of w (b is K × d)' },
              },
            },
            503: {
              description: 'The service is shutting down, or is reading as many bytes of large bodies as BODY_BYTES_IN_FLIGHT allows; retry after Retry-After seconds.',
              examples: {
                closing: { summary: 'a body that would not arrive before the service stops', kind: 'service-unavailable', detail: 'the service is shutting down and this body would not arrive in time; send it again' },
              },
            },
            507: {
              description: 'The registry\'s storage (REGISTRY_DIR) is full; nothing was stored.',
              examples: { diskFull: { summary: 'a full disk under REGISTRY_DIR', kind: 'insufficient-storage', detail: "the registry's storage is full (ENOSPC); nothing was stored" } },
            },
          }),
        },
      },
    },
    async (request, reply) => {
      const document = await readJsonModel(app.bodyOf(request, reply), CreateModelBody, limits.maxModelWeights, (length) => new Float64Array(length));
      const model = await buildModel(document, limits, (bytes) => app.registry.checkRoom(bytes));
      const record = await app.registry.add({ model, name: document.name });
      // Written by exactJson, so that every float64 (h = −0 too) reads back bit for bit.
      return sendText(reply.code(201).header('location', `/models/${encodeURIComponent(record.id)}`).type(JSON_MEDIA_TYPE), exactJson(summary(record)));
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
        response: { 200: { ...ModelList, description: 'The registered models.' } },
      },
    },
    async (_request, reply) => sendText(reply.type(JSON_MEDIA_TYPE), exactJson({ models: (await app.registry.list()).map(summary) })),
  );

  app.get(
    '/models/:id',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'getModel',
        tags: ['models'],
        summary: 'Read a model',
        description: 'The model\'s summary and its parameters, every float64 exactly as it was registered.',
        params: ModelIdParams,
        response: {
          200: { ...ModelDetail, description: 'The model with its parameters.' },
          ...problemResponses('/models/pendulum-T', { 400: badPath('/models/%E0%A4%A'), 404: unknownModel }),
        },
      },
    },
    async (request, reply) => {
      const record = await app.registry.get(request.params.id);
      if (record === undefined) throw new ModelNotFoundError(request.params.id);
      // Every float64 (−0 included) is written so that it reads back bit for bit; a large model
      // piece by piece, as the client reads it.
      if (record.model.W.length >= STREAMED_WEIGHTS) return sendStream(reply.type(JSON_MEDIA_TYPE), Readable.from(modelDocumentPieces(summary(record), record.model)));
      return sendText(reply.type(JSON_MEDIA_TYPE), exactJson({ ...summary(record), ...nestedParameters(record.model) }));
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
        description: 'Removes the model; afterwards it is 404 everywhere. Requests already running on it finish.',
        params: ModelIdParams,
        response: {
          204: { type: 'null', description: 'The model is deleted.' },
          ...problemResponses('/models/pendulum-T', { 400: badPath('/models/%E0%A4%A'), 404: unknownModel }),
        },
      },
    },
    async (request, reply) => {
      if (!(await app.registry.delete(request.params.id))) throw new ModelNotFoundError(request.params.id);
      return reply.code(204).send(null);
    },
  );
};
