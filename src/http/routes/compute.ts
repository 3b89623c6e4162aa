import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BINARY_MEDIA_TYPE } from '../../codecs/compute.js';
import { andThen } from '../../codecs/source.js';
import { evaluate, gradientOperation, type Operation } from '../../compute/operations.js';
import { planAnswer, readCompute } from '../exchange.js';
import { computeBodyLimit } from '../limits.js';
import { binaryAnswer, BinaryPoints, ComputeBody, ComputeQuery, EvaluateResponse, GradientResponse } from '../schemas/compute.js';
import { problemResponses } from '../schemas/problem.js';

const errors = problemResponses({
  400: 'The body is not JSON or does not match the schema (a missing or unknown field, a non-number, a number like 1e400); or a binary body is not a whole number of points of finite float64s, or comes without ?modelId=.',
  404: 'No model has this modelId.',
  406: 'Accept allows neither application/json nor application/octet-stream.',
  413: 'The body is over BODY_LIMIT, there are more points than MAX_POINTS, or the work is over MAX_REQUEST_FLOPS.',
  415: 'The body is neither application/json nor application/octet-stream.',
  422: 'A point does not have inputDim coordinates, or the value or gradient at a point is not finite; the detail names the point.',
});

/** The documented body: JSON, or raw float64s (the codecs read it; Fastify does not validate it). */
const body = {
  required: true,
  content: {
    'application/json': { schema: ComputeBody },
    [BINARY_MEDIA_TYPE]: { schema: BinaryPoints },
  },
};

/**
 * Decode, compute once, encode (the answer is planned first: the pool's threads may write its
 * text as they compute); each step at once when its value is already here (a one-point call).
 * A reply sent at once returns nothing, as a synchronous Fastify handler does; otherwise the promise
 * settles with the reply, which Fastify awaits.
 */
const handler = (operation: Operation) =>
  function answer(this: FastifyRequest['server'], request: FastifyRequest, reply: FastifyReply): Promise<void> | undefined {
    const answer = planAnswer(this, request, reply, operation);
    const sent = andThen(readCompute(this, request, reply, operation, ComputeBody), (decoded) =>
      andThen(this.compute(request, reply, operation, decoded, answer), (result) => answer.send(result, { modelId: decoded.model.id })),
    );
    return sent instanceof Promise ? (sent as unknown as Promise<void>) : undefined;
  };

export const computeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const config = { access: 'read' as const, body: { types: ['application/json', BINARY_MEDIA_TYPE], limit: computeBodyLimit(app) }, documentedBody: body };

  app.post(
    '/evaluate',
    {
      config,
      schema: {
        operationId: 'evaluate',
        tags: ['compute'],
        summary: 'Evaluate F at a batch of points',
        description:
          'F(y) = η(wᵀZ^K + μ) at every point, from one forward sweep per point. The points come as JSON or as raw float64s; the answer is JSON or, with Accept: application/octet-stream, raw float64s.',
        querystring: ComputeQuery,
        response: {
          200: {
            description: 'The values, one per point.',
            content: { 'application/json': { schema: EvaluateResponse }, [BINARY_MEDIA_TYPE]: { schema: binaryAnswer(false) } },
          },
          ...errors,
        },
      },
    },
    handler(evaluate),
  );

  app.post(
    '/gradient',
    {
      config,
      schema: {
        operationId: 'gradient',
        tags: ['compute'],
        summary: 'Evaluate F and ∇F at a batch of points',
        description:
          'F(y) and its gradient with respect to the point\'s coordinates, from one forward and one backward sweep per point; no Jacobian is formed. The points come as JSON or as raw float64s; the answer is JSON or, with Accept: application/octet-stream, raw float64s.',
        querystring: ComputeQuery,
        response: {
          200: {
            description: 'The values and gradients, one per point.',
            content: { 'application/json': { schema: GradientResponse }, [BINARY_MEDIA_TYPE]: { schema: binaryAnswer(true) } },
          },
          ...errors,
        },
      },
    },
    handler(gradientOperation),
  );
};
