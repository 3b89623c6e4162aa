import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { problemKinds, problemTypeUri, type ProblemKind } from '../problems.js';
import { problemResponses } from '../schemas/problem.js';

const kinds = Object.keys(problemKinds) as ProblemKind[];

/** Problem type URIs resolve here, to a description of the kind of problem. */
export const problemRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/problems/:kind',
    {
      schema: {
        operationId: 'getProblemType',
        tags: ['problems'],
        summary: 'Describe a kind of problem',
        description: 'The `type` of every error response is a path of this form; it explains what went wrong and what to do.',
        params: Type.Object(
          { kind: Type.Enum(kinds, { description: 'The kind of problem.', examples: ['invalid-points'] }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            {
              type: Type.String({ description: 'The problem type URI.', examples: ['/problems/invalid-points'] }),
              title: Type.String({ description: 'The title every problem of this kind carries.', examples: ['Points do not fit the model'] }),
              status: Type.Integer({ description: 'The HTTP status of this kind.', examples: [422] }),
              description: Type.String({
                description: 'What the problem means.',
                examples: [problemKinds['invalid-points'].description],
              }),
            },
            { additionalProperties: false, description: 'A kind of problem.' },
          ),
          ...problemResponses('/problems/no-such-kind', {
            400: {
              description: 'There is no such kind of problem.',
              examples: { unknownKind: { summary: 'a kind that does not exist', kind: 'invalid-request', detail: `kind must be one of ${kinds.join(', ')}` } },
            },
          }),
        },
      },
    },
    async (request) => ({ type: problemTypeUri(request.params.kind), ...problemKinds[request.params.kind] }),
  );
};
