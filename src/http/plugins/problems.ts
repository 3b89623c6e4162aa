/**
 * One error handler for the whole API: every error leaves as RFC 9457 problem+json. Client errors
 * name the offending field; internal errors are logged with the request id and reveal nothing.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { CancelledError, RegistryUnavailableError } from '../../errors.js';
import { domainProblem, HttpProblem, internalErrorDetail, problemDetails, statusProblem, type ProblemDetails } from '../problems.js';
import { MODEL_ID_MAX_LENGTH } from '../schemas/models.js';
import { isProtocolPath, PROBLEM_MEDIA_TYPE } from '../schemas/problem.js';
import { JSON_MEDIA_TYPE } from '../../codecs/json/exact.js';
import { describeValidation, type SchemaError } from '../../codecs/json/validation.js';

function clientDetail(error: FastifyError, request: FastifyRequest, bodyLimit: number): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `the body is larger than the limit of ${bodyLimit} bytes (BODY_LIMIT)`;
    case 'FST_ERR_BAD_URL':
      return `the path ${request.url.split('?')[0]} is not valid percent-encoding`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `Content-Type '${request.headers['content-type'] ?? ''}' is not accepted here; send application/json`;
    default:
      return error.message;
  }
}

function toProblem(error: FastifyError, request: FastifyRequest, bodyLimit: number): ProblemDetails {
  const instance = request.url;
  if (error.validation) {
    const context = error.validationContext ?? 'body';
    const schema = (request.routeOptions.schema as Record<string, unknown> | undefined)?.[context];
    const data = context === 'body' ? request.body : (request as unknown as Record<string, unknown>)[context === 'querystring' ? 'query' : context];
    const detail = describeValidation(error.validation as SchemaError[], context, schema as never, data);
    return problemDetails('invalid-request', detail, instance);
  }
  const domain = domainProblem(error);
  if (domain) return problemDetails(domain.kind, error.message, instance, domain.extensions);
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const kind = statusProblem(status);
    const detail = clientDetail(error, request, bodyLimit);
    if (kind) return problemDetails(kind, detail, instance);
    // A client error from a plugin with no kind of its own: RFC 9457's "about:blank" type.
    return { type: 'about:blank', title: error.name, status, detail, instance };
  }
  return problemDetails('internal-error', internalErrorDetail(request.id), instance);
}

function sendProblem(error: FastifyError, request: FastifyRequest, reply: FastifyReply, problem: ProblemDetails) {
  if (problem.status === 500) request.log.error({ err: error }, 'request failed');
  if (error instanceof HttpProblem && error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter));
  if (error instanceof CancelledError) reply.header('retry-after', '1');
  if (error instanceof RegistryUnavailableError) reply.header('retry-after', String(error.retryAfter));
  return sendError(request, reply, problem);
}

/** A problem in the form of the request's path: problem+json, or the Open Inference Protocol's {"error"}. */
function sendError(request: FastifyRequest, reply: FastifyReply, problem: ProblemDetails) {
  if (isProtocolPath(request.url)) return reply.code(problem.status).type(JSON_MEDIA_TYPE).send({ error: problem.detail });
  return reply.code(problem.status).type(PROBLEM_MEDIA_TYPE).send(problem);
}

/**
 * Errors the router raises before any route or hook runs (Fastify's `frameworkErrors` option):
 * a path that is not valid percent-encoding, and a path parameter over the router's
 * maxParamLength. The only path parameter is a model id, and a longer one names no model.
 */
export function frameworkProblems(bodyLimit: number) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    // No onSend hook runs for these answers: the headers it sets on every answer are set here.
    reply.header('x-request-id', request.id).header('x-content-type-options', 'nosniff');
    const problem =
      error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? problemDetails('model-not-found', `no model has an id that long (ids have at most ${MODEL_ID_MAX_LENGTH} characters)`, request.url)
        : toProblem(error, request, bodyLimit);
    sendProblem(error, request, reply, problem);
  };
}

export const problemsPlugin = fp(
  async (app) => {
    const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024;

    app.setErrorHandler((error: FastifyError, request, reply) => sendProblem(error, request, reply, toProblem(error, request, bodyLimit)));

    app.setNotFoundHandler((request, reply) => sendError(request, reply, problemDetails('not-found', `there is no route ${request.method} ${request.url.split('?')[0]}`, request.url)));
  },
  { name: 'problems' },
);
