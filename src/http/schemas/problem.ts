import Type from 'typebox';

/** RFC 9457 problem details: the body of every error response. */
export const Problem = Type.Object(
  {
    type: Type.String({
      description: 'Identifies the kind of problem; a URI reference that resolves (GET) to a description of it.',
      examples: ['/problems/invalid-points'],
    }),
    title: Type.String({
      description: 'A short summary of the kind of problem; the same for every occurrence.',
      examples: ['Points do not fit the model'],
    }),
    status: Type.Integer({ description: 'The HTTP status code.', examples: [422] }),
    detail: Type.String({
      description: 'What is wrong with this request, naming the offending field and index.',
      examples: ['points[17] has 3 coordinates, expected 2 (the model\'s inputDim)'],
    }),
    instance: Type.String({ description: 'The path of the request that failed.', examples: ['/gradient'] }),
    points: Type.Optional(
      Type.Array(Type.Integer(), {
        description: 'For non-finite results: the indices of the points whose value or gradient is not finite (at most 10).',
        examples: [[3, 8]],
      }),
    ),
  },
  { additionalProperties: false, description: 'An RFC 9457 problem details object.' },
);

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** Response entries for the given error statuses, each an RFC 9457 problem described for this route. */
export function problemResponses<const S extends number>(responses: Record<S, string>) {
  return Object.fromEntries(
    Object.entries(responses).map(([status, description]) => [
      status,
      { description, content: { [PROBLEM_MEDIA_TYPE]: { schema: Problem } } },
    ]),
  ) as Record<S, { description: string; content: { [PROBLEM_MEDIA_TYPE]: { schema: typeof Problem } } }>;
}
