import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { arrayJson, JSON_MEDIA_TYPE, rowsJson } from '../exact-json.js';
import { ComputeBody, EvaluateResponse, GradientResponse } from '../schemas/compute.js';
import { problemResponses } from '../schemas/problem.js';

const errors = problemResponses({
  400: 'The body is not JSON or does not match the schema (a missing or unknown field, a non-number, a number like 1e400).',
  404: 'No model has this modelId.',
  413: 'The body is over BODY_LIMIT, or there are more points than MAX_POINTS.',
  415: 'The body is not application/json.',
  422: 'A point does not have inputDim coordinates, or the value or gradient at a point is not finite; the detail names the point.',
});

export const computeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/evaluate',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'evaluate',
        tags: ['compute'],
        summary: 'Evaluate F at a batch of points',
        description: 'F(y) = η(wᵀZ^K + μ) at every point, from one forward sweep per point.',
        body: ComputeBody,
        response: { 200: { ...EvaluateResponse, description: 'The values, one per point.' }, ...errors },
      },
    },
    async (request, reply) => {
      const { modelId, values } = await app.compute.evaluate(request.body.modelId, request.body.points);
      return reply
        .type(JSON_MEDIA_TYPE)
        .send(`{"modelId":${JSON.stringify(modelId)},"values":${arrayJson(values)}}` as never);
    },
  );

  app.post(
    '/gradient',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'gradient',
        tags: ['compute'],
        summary: 'Evaluate F and ∇F at a batch of points',
        description:
          'F(y) and its gradient with respect to the point\'s coordinates, from one forward and one backward sweep per point; no Jacobian is formed.',
        body: ComputeBody,
        response: { 200: { ...GradientResponse, description: 'The values and gradients, one per point.' }, ...errors },
      },
    },
    async (request, reply) => {
      const { modelId, values, gradients, inputDim } = await app.compute.gradient(request.body.modelId, request.body.points);
      return reply
        .type(JSON_MEDIA_TYPE)
        .send(`{"modelId":${JSON.stringify(modelId)},"values":${arrayJson(values)},"gradients":${rowsJson(gradients, inputDim)}}` as never);
    },
  );
};
