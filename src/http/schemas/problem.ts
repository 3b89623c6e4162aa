import Type from 'typebox';
import { internalErrorDetail, problemDetails, problemKinds, type ProblemKind } from '../problems.js';

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

/** One error a route really answers, for the document: what provokes it, its kind, its detail. */
export interface ProblemExample {
  /** What the client did, in a few words: Swagger UI shows it in the list of examples. */
  readonly summary: string;
  readonly kind: ProblemKind;
  readonly detail: string;
  readonly extensions?: Readonly<Record<string, unknown>>;
  /** The request's path, when it is not the route's example path. */
  readonly instance?: string;
}

/** An error status of a route: what it means there, and its examples by name. */
export interface ErrorResponse {
  readonly description: string;
  readonly examples: Readonly<Record<string, ProblemExample>>;
}

/**
 * Response entries for the given error statuses of the route at `instance`, each an RFC 9457
 * problem with its named examples, written as the route writes them. An example whose kind has
 * another status than the one it is listed under is a mistake, refused here.
 */
export function problemResponses<const S extends number>(instance: string, responses: Record<S, ErrorResponse>) {
  return Object.fromEntries(
    Object.entries<ErrorResponse>(responses).map(([status, { description, examples }]) => {
      const named = Object.entries(examples).map(([name, example]) => {
        if (problemKinds[example.kind].status !== Number(status)) throw new Error(`the example ${name} of ${instance} is a ${example.kind}, not a ${status}`);
        return [name, { summary: example.summary, value: problemDetails(example.kind, example.detail, example.instance ?? instance, example.extensions) }];
      });
      return [status, { description, content: { [PROBLEM_MEDIA_TYPE]: { schema: Problem, examples: Object.fromEntries(named) } } }];
    }),
  ) as Record<S, { description: string; content: { [PROBLEM_MEDIA_TYPE]: { schema: typeof Problem; examples: Record<string, { summary: string; value: unknown }> } } }>;
}

/** Paths of the Open Inference Protocol, whose errors are its own `{"error": "…"}`, not problem+json. */
export const isProtocolPath = (path: string): boolean => path === '/v2' || path.startsWith('/v2/') || path.startsWith('/v2?');

/** The Open Inference Protocol's error object. */
export const ProtocolError = Type.Object(
  { error: Type.String({ description: 'What is wrong, naming the offending field.', examples: ['inputs[0].data has 3 numbers; shape [2, 2] needs 4'] }) },
  { additionalProperties: false, description: "The Open Inference Protocol's error object, with the status the native routes give the same error." },
);

/** problemResponses for the Open Inference Protocol's routes: the same statuses and details, in its own form. */
function protocolErrorResponses<const S extends number>(instance: string, responses: Record<S, ErrorResponse>) {
  return Object.fromEntries(
    Object.entries<ErrorResponse>(responses).map(([status, { description, examples }]) => {
      const named = Object.entries(examples).map(([name, example]) => {
        if (problemKinds[example.kind].status !== Number(status)) throw new Error(`the example ${name} of ${instance} is a ${example.kind}, not a ${status}`);
        return [name, { summary: example.summary, value: { error: example.detail } }];
      });
      return [status, { description, content: { 'application/json': { schema: ProtocolError, examples: Object.fromEntries(named) } } }];
    }),
  );
}

/** The error responses of the route at `instance`, in the form its path answers them. */
export function errorResponses<const S extends number>(instance: string, responses: Record<S, ErrorResponse>): Record<S, unknown> {
  return (isProtocolPath(instance) ? protocolErrorResponses(instance, responses) : problemResponses(instance, responses)) as Record<S, unknown>;
}

/** The path of a request to a route given by its pattern (`/models/:id`), its parameters filled in as the examples fill them. */
export const examplePath = (pattern: string): string =>
  pattern.replace(/:(\w+)/g, (_, name: string) => (name === 'id' || name === 'name' ? 'demo' : name === 'kind' ? 'invalid-points' : name === 'version' ? '1' : name));

/** The 408 of every route that reads a body. */
export const bodyTimedOut: ErrorResponse = {
  description: 'The request took longer than REQUEST_TIMEOUT_MS to arrive, or its body stopped arriving for BODY_STALL_TIMEOUT_MS.',
  examples: { stalled: { summary: 'a body that stopped arriving', kind: 'request-timeout', detail: 'no byte of the body arrived for 30000 ms (BODY_STALL_TIMEOUT_MS)' } },
};

/** The 500 every route may answer. */
export const internalError: ErrorResponse = {
  description: 'The service failed; the error is logged with the request id given in the detail.',
  examples: { fault: { summary: 'a fault in the service', kind: 'internal-error', detail: internalErrorDetail('cd74edc6-17') } },
};

/** The 400 of a route with a model id in its path, which the router answers for a path that is not valid percent-encoding. */
export const badPath = (path: string): ErrorResponse => ({
  description: 'The path is not valid percent-encoding.',
  examples: { badEncoding: { summary: 'a path that is not valid percent-encoding', kind: 'malformed-request', detail: `the path ${path} is not valid percent-encoding`, instance: path } },
});

/** The 404 of a route with a model id and a version in its path. */
export const unknownVersion: ErrorResponse = {
  description: 'No model has this id, or the model has no such version.',
  examples: { unknownVersion: { summary: 'a version the model does not have', kind: 'model-not-found', detail: "the model 'demo' has no version 7" } },
};

/** The 404 of a route with a model id in its path. */
export const unknownModel: ErrorResponse = {
  description: 'No model has this id.',
  examples: { unknownModel: { summary: 'an id no model has (the id the server gave, not the name)', kind: 'model-not-found', detail: "no model with id 'pendulum-T'" } },
};

/** A read of a model this replica does not hold while the shared registry's database is away. */
export const databaseAway = {
  summary: "a model this replica does not hold, while the shared registry's database (REGISTRY_URL) is down",
  kind: 'service-unavailable',
  detail: "the model registry's database cannot be reached (ECONNREFUSED); retry shortly",
} as const;

/** A write while the shared registry's database is away. */
export const databaseAwayWrite = {
  summary: "a write while the shared registry's database (REGISTRY_URL) is down",
  kind: 'service-unavailable',
  detail: "the model registry's database cannot be reached (ECONNREFUSED); nothing was changed; retry shortly",
} as const;

/** The 503 of a route that reads or writes the registry. */
export const registryUnavailable = (write: boolean): ErrorResponse => ({
  description: `The shared registry's database (REGISTRY_URL) cannot be reached${write ? '; nothing was changed' : ', and this replica does not hold the model'}; retry after Retry-After seconds.`,
  examples: write ? { databaseAwayWrite } : { databaseAway },
});
