import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { leaseOf } from '../decorators.js';
import { arrayJson, JSON_MEDIA_TYPE, rowsJson } from '../../domain/exact-json.js';
import type { JsonText } from '../../domain/json-text.js';
import { BINARY_MEDIA_TYPE, compressAnswer, IncomingBody, PointsBody } from '../plugins/body-parsers.js';
import { HttpProblem } from '../problems.js';
import { binaryAnswer, BinaryPoints, ComputeBody, ComputeQuery, EvaluateResponse, GradientResponse } from '../schemas/compute.js';
import { problemResponses } from '../schemas/problem.js';

const errors = problemResponses({
  400: 'The body is not JSON or does not match the schema (a missing or unknown field, a non-number, a number like 1e400); or a binary body is not a whole number of points of finite float64s, or comes without ?modelId=.',
  404: 'No model has this modelId.',
  406: 'Accept allows neither application/json nor application/octet-stream.',
  413: 'The body is over BODY_LIMIT, or there are more points than MAX_POINTS.',
  415: 'The body is neither application/json nor application/octet-stream.',
  422: 'A point does not have inputDim coordinates, or the value or gradient at a point is not finite; the detail names the point.',
});

const ANSWER_TYPES = ['application/json', BINARY_MEDIA_TYPE];

/**
 * The sweep a request asks for: over a JSON body's points (already read into float64s when the
 * points reader took the body: PointsBody), or over raw float64s with ?modelId=, either still
 * arriving (IncomingBody) or gathered (a body sent without a length).
 */
async function sweepOf(request: FastifyRequest, withGradient: boolean, json: boolean) {
  const { compute } = request.server;
  const lease = () => leaseOf(request);
  const options = { withGradient, json, lease };
  const { body } = request;
  if (body instanceof IncomingBody || body instanceof Uint8Array) {
    const { modelId } = request.query as { modelId?: string };
    if (modelId === undefined) {
      throw new HttpProblem('invalid-request', `querystring.modelId is required when the body is ${BINARY_MEDIA_TYPE}`);
    }
    const model = await compute.model(modelId);
    const sweep =
      body instanceof IncomingBody
        ? await compute.sweepIncoming(model, body, options)
        : await compute.sweep(model, compute.fromBytes(model, body, lease), options);
    return { modelId, model, ...sweep };
  }
  if (body instanceof PointsBody) {
    const model = await compute.model(body.modelId);
    const points = compute.fromCoordinates(model, body.coordinates, body.width);
    return { modelId: body.modelId, model, ...(await compute.sweep(model, points, options)) };
  }
  // Fastify validates a body by its Content-Type: a request with neither reaches here unchecked.
  if (body === undefined) {
    throw new HttpProblem('invalid-request', `body is required: application/json with modelId and points, or ${BINARY_MEDIA_TYPE} with ?modelId=`);
  }
  const { modelId, points } = body as { modelId: string; points: number[][] };
  const model = await compute.model(modelId);
  return { modelId, model, ...(await compute.sweep(model, compute.fromJson(model, points, lease), options)) };
}

/** The answer's media type: JSON unless Accept asks for raw float64s (checked cheaply first). */
function answerType(request: FastifyRequest): string | false {
  const accept = request.headers.accept;
  if (accept === undefined || accept === '*/*' || accept === 'application/json') return 'application/json';
  return request.accepts().type(ANSWER_TYPES) as string | false;
}

const COMMA = Buffer.from(',');

/**
 * The JSON answer around the text of its numbers (written by numbersJson, on the pool threads for
 * large batches), as pieces to send one after another: the text stays where it was written, and
 * is never made into one string.
 */
function jsonPieces(modelId: string, json: JsonText<Uint8Array[]>): Buffer[] {
  const pieces: Buffer[] = [Buffer.from(`{"modelId":${JSON.stringify(modelId)},"values":[`)];
  const join = (parts: Uint8Array[]) =>
    parts
      .filter((part) => part.length > 0)
      .forEach((part, i) => {
        if (i > 0) pieces.push(COMMA);
        pieces.push(Buffer.from(part.buffer, part.byteOffset, part.byteLength));
      });
  join(json.values);
  if (json.gradients) {
    pieces.push(Buffer.from('],"gradients":['));
    join(json.gradients);
  }
  pieces.push(Buffer.from(']}'));
  return pieces;
}

function handler(withGradient: boolean) {
  return async function answer(request: FastifyRequest, reply: FastifyReply) {
    const type = answerType(request);
    if (type === false) {
      throw new HttpProblem('not-acceptable', `Accept '${request.headers.accept}' allows neither application/json nor ${BINARY_MEDIA_TYPE}`);
    }
    const { modelId, model, results, values, gradients, json } = await sweepOf(request, withGradient, type !== BINARY_MEDIA_TYPE);
    if (type === BINARY_MEDIA_TYPE) {
      return reply
        .type(BINARY_MEDIA_TYPE)
        .header('x-points', values.length)
        .header('x-input-dim', model.inputDim)
        .send(Buffer.from(results.buffer, results.byteOffset, results.byteLength));
    }
    // Batches of more than a few points come with their text already written, in bytes.
    if (json) return compressAnswer(reply.type(JSON_MEDIA_TYPE), jsonPieces(modelId, json));
    const text = gradients
      ? `{"modelId":${JSON.stringify(modelId)},"values":${arrayJson(values)},"gradients":${rowsJson(gradients, model.inputDim)}}`
      : `{"modelId":${JSON.stringify(modelId)},"values":${arrayJson(values)}}`;
    return compressAnswer(reply.type(JSON_MEDIA_TYPE), text);
  };
}

export const computeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const body = {
    required: true,
    content: {
      'application/json': { schema: ComputeBody },
      [BINARY_MEDIA_TYPE]: { schema: BinaryPoints },
    },
  };

  app.post(
    '/evaluate',
    {
      config: { access: 'read', binaryPoints: true },
      schema: {
        operationId: 'evaluate',
        tags: ['compute'],
        summary: 'Evaluate F at a batch of points',
        description:
          'F(y) = η(wᵀZ^K + μ) at every point, from one forward sweep per point. The points come as JSON or as raw float64s; the answer is JSON or, with Accept: application/octet-stream, raw float64s.',
        querystring: ComputeQuery,
        body,
        response: {
          200: {
            description: 'The values, one per point.',
            content: { 'application/json': { schema: EvaluateResponse }, [BINARY_MEDIA_TYPE]: { schema: binaryAnswer(false) } },
          },
          ...errors,
        },
      },
    },
    handler(false),
  );

  app.post(
    '/gradient',
    {
      config: { access: 'read', binaryPoints: true },
      schema: {
        operationId: 'gradient',
        tags: ['compute'],
        summary: 'Evaluate F and ∇F at a batch of points',
        description:
          'F(y) and its gradient with respect to the point\'s coordinates, from one forward and one backward sweep per point; no Jacobian is formed. The points come as JSON or as raw float64s; the answer is JSON or, with Accept: application/octet-stream, raw float64s.',
        querystring: ComputeQuery,
        body,
        response: {
          200: {
            description: 'The values and gradients, one per point.',
            content: { 'application/json': { schema: GradientResponse }, [BINARY_MEDIA_TYPE]: { schema: binaryAnswer(true) } },
          },
          ...errors,
        },
      },
    },
    handler(true),
  );
};
