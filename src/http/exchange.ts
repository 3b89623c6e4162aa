/**
 * The three steps of a compute route, as the route sees them: decode the request (by its
 * Content-Type, with the codecs), compute (app.compute), encode the answer (by Accept). Nothing
 * here knows how the work is done or where its memory comes from.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BINARY_MEDIA_TYPE, binaryAnswer, readBinaryCompute, readJsonCompute, type ComputeLimits, type ComputeRequest } from '../codecs/compute.js';
import { writeJsonAnswer } from '../codecs/json/answer.js';
import { JSON_MEDIA_TYPE } from '../codecs/json/exact.js';
import type { Result } from '../compute/executor.js';
import { RECYCLED_MIN_BYTES } from '../compute/memory.js';
import type { Operation } from '../compute/operations.js';
import { sendBytes, sendText } from './answers.js';
import { HttpProblem } from './problems.js';

const ANSWER_TYPES = ['application/json', BINARY_MEDIA_TYPE];

/** The answer's media type: JSON unless Accept asks for raw float64s (checked cheaply first); throws 406. */
export function answerType(request: FastifyRequest): string {
  const accept = request.headers.accept;
  if (accept === undefined || accept === '*/*' || accept === 'application/json') return 'application/json';
  const type = request.accepts().type(ANSWER_TYPES) as string | false;
  if (type === false) throw new HttpProblem('not-acceptable', `Accept '${accept}' allows neither application/json nor ${BINARY_MEDIA_TYPE}`);
  return type;
}

/** The limits on a compute request's points, one object per app. */
const limits = new WeakMap<FastifyInstance, ComputeLimits>();
const limitsOf = (app: FastifyInstance): ComputeLimits => {
  let known = limits.get(app);
  if (known === undefined) limits.set(app, (known = { maxPoints: app.config.MAX_POINTS, widestInput: () => app.registry.widestInput() }));
  return known;
};

/** Float64s for a request: plain when small, else from its recycled memory. */
const float64For = (app: FastifyInstance, request: FastifyRequest, reply: FastifyReply) => (length: number): Float64Array =>
  length * 8 < RECYCLED_MIN_BYTES ? new Float64Array(length) : app.work(request, reply).float64(length);

/**
 * The compute request in the body: JSON of `schema`, or raw float64s with the model in
 * ?modelId=; at once for a small JSON body that is already here.
 */
export function readCompute(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  operation: Operation,
  schema: object,
): ComputeRequest | Promise<ComputeRequest> {
  const body = app.bodyOf(request, reply);
  if ((request.headers['content-type'] ?? '').toLowerCase().startsWith(BINARY_MEDIA_TYPE)) {
    const { modelId } = request.query as { modelId?: string };
    if (modelId === undefined) throw new HttpProblem('invalid-request', `querystring.modelId is required when the body is ${BINARY_MEDIA_TYPE}`);
    return readBinaryCompute(body, { id: modelId }, (length) => {
      const room = app.work(request, reply).float64(Math.ceil(length / 8));
      return new Uint8Array(room.buffer, room.byteOffset, length);
    });
  }
  return readJsonCompute(body, schema, operation, limitsOf(app), float64For(app, request, reply));
}

/** Sends the result as `type` (answerType): raw float64s, or JSON with `head` first (at once when short). */
export function sendResult(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  type: string,
  result: Result,
  head: Readonly<Record<string, unknown>>,
): FastifyReply | Promise<FastifyReply> {
  if (type === BINARY_MEDIA_TYPE) {
    const { body, headers } = binaryAnswer(result);
    return sendBytes(reply.type(BINARY_MEDIA_TYPE).headers(headers), body);
  }
  // Text the pool's threads write must be in shared memory, which the request's lease gives.
  const allocate = result.pooled ? (length: number) => app.work(request, reply).float64(length) : float64For(app, request, reply);
  const text = writeJsonAnswer(head, result, { allocate, pool: app.executor.pool });
  reply.type(JSON_MEDIA_TYPE);
  return typeof text === 'string' ? sendText(reply, text) : text.then((pieces) => sendText(reply, pieces));
}
