/**
 * The kinds of problem the API reports (RFC 9457). Each kind has a type URI, `/problems/{kind}`,
 * that resolves to its description, and one status. Domain errors are mapped onto them here, in
 * one place.
 */
import { BodySchemaError, MalformedJsonError } from '../codecs/json/errors.js';
import { TensorFileError } from '../codecs/tensors/tensor.js';
import {
  CancelledError,
  InsufficientStorageError,
  RegistryUnavailableError,
  LimitExceededError,
  MalformedPointsError,
  ModelNotFoundError,
  NonFiniteResultError,
  PointsShapeError,
  PreconditionFailedError,
  RegistryFullError,
} from '../errors.js';
import { ModelDataError } from '../kernels/index.js';

export const problemKinds = {
  'malformed-request': {
    status: 400,
    title: 'Malformed request',
    description: 'The body could not be read: it is not valid JSON, it is empty, or its framing is wrong.',
  },
  'invalid-request': {
    status: 400,
    title: 'Invalid request',
    description:
      'The request does not match the schema: a missing or unknown field, a value of the wrong type, a number that is not finite (such as 1e400), or a value out of range.',
  },
  unauthorized: {
    status: 401,
    title: 'Unauthorized',
    description: 'The operation needs an API key: send Authorization: Bearer <key>.',
  },
  'not-found': { status: 404, title: 'Not found', description: 'There is no such route.' },
  'model-not-found': { status: 404, title: 'Model not found', description: 'No model has the given id; it may have been deleted.' },
  'not-acceptable': {
    status: 406,
    title: 'Not acceptable',
    description: 'The Accept header allows none of the media types this route answers in (application/json, application/octet-stream).',
  },
  'request-timeout': {
    status: 408,
    title: 'Request timeout',
    description: 'The request took too long to arrive, or its body stopped arriving (REQUEST_TIMEOUT_MS, BODY_STALL_TIMEOUT_MS).',
  },
  'registry-full': {
    status: 409,
    title: 'Registry full',
    description: 'The registry holds as many models as MAX_MODELS allows, the model as many versions as MAX_MODEL_VERSIONS allows, or the registry as many bytes of parameters as MAX_REGISTRY_BYTES allows; delete one first.',
  },
  'precondition-failed': {
    status: 412,
    title: 'Precondition failed',
    description: 'If-Match or If-None-Match does not hold for the model as it is now (another write came first); read it again, and retry with its ETag. Nothing was changed.',
  },
  'content-too-large': {
    status: 413,
    title: 'Content too large',
    description: 'The body, the number of points, or the size of the model (K·d²) is over its limit.',
  },
  'too-many-requests': {
    status: 429,
    title: 'Too many requests',
    description: 'This client made more requests than RATE_LIMIT_MAX in the window; wait for Retry-After seconds.',
  },
  'unsupported-media-type': {
    status: 415,
    title: 'Unsupported media type',
    description: 'The Content-Type of the body is not one this route accepts.',
  },
  'invalid-model': {
    status: 422,
    title: 'Inconsistent model',
    description: 'The model\'s arrays do not fit together: W is not K×d×d, b is not K×d (or K×d×1), or inputDim exceeds d (the length of w).',
  },
  'invalid-points': {
    status: 422,
    title: 'Points do not fit the model',
    description: 'A point does not have the model\'s inputDim coordinates.',
  },
  'invalid-hamiltonian': {
    status: 422,
    title: 'Models do not make this Hamiltonian',
    description:
      'The models named in hamiltonian do not fit together or the method: T and V need the same inputDim n, a general H an even inputDim 2n, and stormer-verlet and the symplectic Euler methods a separable H (kinetic and potential).',
  },
  'non-finite-result': {
    status: 422,
    title: 'Result not finite',
    description: 'At some points the network overflows: the value or the gradient is ±Infinity or NaN, which JSON cannot carry.',
  },
  'insufficient-storage': {
    status: 507,
    title: 'Insufficient storage',
    description: 'The registry\'s storage (REGISTRY_DIR) is full; nothing was stored. Free space, or delete a model, and send the request again.',
  },
  'service-unavailable': {
    status: 503,
    title: 'Service unavailable',
    description: 'The service cannot take this request now: it is shutting down, or reading as many bytes of large bodies as it may (BODY_BYTES_IN_FLIGHT), or the shared registry\'s database cannot be reached (REGISTRY_URL) for a write or a model it does not hold. Retry after Retry-After seconds, on another instance if there is one.',
  },
  'internal-error': {
    status: 500,
    title: 'Internal error',
    description: 'The service failed; the error is logged with the request id.',
  },
} as const satisfies Record<string, { status: number; title: string; description: string }>;

export type ProblemKind = keyof typeof problemKinds;

export const problemTypeUri = (kind: ProblemKind): string => `/problems/${kind}`;

/** An error that already knows its problem kind; throw it from a route. */
export class HttpProblem extends Error {
  constructor(
    readonly kind: ProblemKind,
    detail: string,
    readonly extensions: Record<string, unknown> = {},
    /** Seconds for the Retry-After header (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(detail);
  }
}

export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance: string;
  readonly [extension: string]: unknown;
}

/** The detail of a 500: the request id, under which the error is logged. */
export const internalErrorDetail = (requestId: string): string => `the service failed on this request; it is logged with request id ${requestId}`;

export function problemDetails(kind: ProblemKind, detail: string, instance: string, extensions = {}): ProblemDetails {
  const { status, title } = problemKinds[kind];
  return { type: problemTypeUri(kind), title, status, detail, instance, ...extensions };
}

/** The kind of a domain error, or undefined for errors the domain does not raise. */
export function domainProblem(error: unknown): { kind: ProblemKind; extensions?: Record<string, unknown> } | undefined {
  if (error instanceof HttpProblem) return { kind: error.kind, extensions: error.extensions };
  if (error instanceof ModelDataError) return { kind: 'invalid-model' };
  if (error instanceof PointsShapeError) return { kind: 'invalid-points' };
  if (error instanceof MalformedPointsError || error instanceof BodySchemaError || error instanceof TensorFileError) return { kind: 'invalid-request' };
  if (error instanceof MalformedJsonError) return { kind: 'malformed-request' };
  if (error instanceof NonFiniteResultError) return { kind: 'non-finite-result', extensions: { points: error.points } };
  if (error instanceof ModelNotFoundError) return { kind: 'model-not-found' };
  if (error instanceof LimitExceededError) return { kind: 'content-too-large' };
  if (error instanceof RegistryFullError) return { kind: 'registry-full' };
  if (error instanceof PreconditionFailedError) return { kind: 'precondition-failed' };
  if (error instanceof InsufficientStorageError) return { kind: 'insufficient-storage' };
  // Work given up because the client went away (nobody reads the answer) or the service is closing.
  if (error instanceof CancelledError || error instanceof RegistryUnavailableError) return { kind: 'service-unavailable' };
  return undefined;
}

/** The kind for an HTTP error status raised by the framework (a parser, a plugin). */
export function statusProblem(status: number): ProblemKind | undefined {
  switch (status) {
    case 400:
      return 'malformed-request';
    case 404:
      return 'not-found';
    case 408:
      return 'request-timeout';
    case 413:
      return 'content-too-large';
    case 406:
      return 'not-acceptable';
    case 415:
      return 'unsupported-media-type';
    default:
      return undefined;
  }
}
