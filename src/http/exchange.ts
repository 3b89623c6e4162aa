/**
 * The three steps of a compute route, as the route sees them: decode the request (by its
 * Content-Type, with the codecs), compute (app.compute), encode the answer (by Accept). Nothing
 * here knows how the work is done or where its memory comes from.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { andThen } from '../codecs/source.js';
import { BINARY_MEDIA_TYPE, binaryAnswer, readBinaryCompute, readJsonCompute, type ComputeLimits, type ComputeRequest } from '../codecs/compute.js';
import { answerString, JsonAnswer, TEXT_POINTS } from '../codecs/json/answer.js';
import { JSON_MEDIA_TYPE } from '../codecs/json/exact.js';
import type { Result, RunContext } from '../compute/executor.js';
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
  const query = request.query as { modelId?: string; modelVersion?: string };
  const version = query.modelVersion === undefined ? undefined : Number(query.modelVersion);
  if ((request.headers['content-type'] ?? '').toLowerCase().startsWith(BINARY_MEDIA_TYPE)) {
    if (query.modelId === undefined) throw new HttpProblem('invalid-request', `querystring.modelId is required when the body is ${BINARY_MEDIA_TYPE}`);
    return readBinaryCompute(body, version === undefined ? { id: query.modelId } : { id: query.modelId, version }, (length) => {
      const room = app.work(request, reply).float64(Math.ceil(length / 8));
      return new Uint8Array(room.buffer, room.byteOffset, length);
    }, operation.inputs);
  }
  const decoded = readJsonCompute(body, schema, operation, limitsOf(app), float64For(app, request, reply));
  // A JSON body names its model (and version); a ?modelId= or ?modelVersion= beside it must name the same.
  if (query.modelId === undefined && version === undefined) return decoded;
  return andThen(decoded, (read) => {
    if (query.modelId !== undefined && read.model.id !== query.modelId) {
      throw new HttpProblem('invalid-request', `the body's modelId '${read.model.id}' and the query's ?modelId=${query.modelId} name different models; name the model once, in the body`);
    }
    if (version !== undefined && read.model.version !== version) {
      throw new HttpProblem(
        'invalid-request',
        `the body's modelVersion ${read.model.version ?? '(none: the latest)'} and the query's ?modelVersion=${version} name different versions; name the version once, in the body`,
      );
    }
    return read;
  });
}

/** How a compute route's answer goes out, chosen before the work starts. */
export interface AnswerPlan {
  /** For the run's context: work the pool's threads do on each slice for the answer (JSON text). */
  readonly followUp: RunContext['followUp'];
  /** Sends the result, with `head` (the plain members of a JSON answer) first. */
  send(result: Result, head: Readonly<Record<string, unknown>>): FastifyReply;
}

class BinaryPlan implements AnswerPlan {
  readonly followUp = undefined;
  constructor(private readonly reply: FastifyReply) {}
  send(result: Result): FastifyReply {
    const { body, headers } = binaryAnswer(result);
    return sendBytes(this.reply.type(BINARY_MEDIA_TYPE).headers(headers), body);
  }
}

/** A JSON answer; what it needs for long answers is made only for them. */
class JsonPlan implements AnswerPlan {
  private answer: JsonAnswer | null = null;
  constructor(
    private readonly app: FastifyInstance,
    private readonly request: FastifyRequest,
    private readonly reply: FastifyReply,
    private readonly operation: Operation,
  ) {}
  private get json(): JsonAnswer {
    const { app, request, reply } = this;
    // Text the pool's threads write must be in shared memory, which the request's lease gives.
    return (this.answer ??= new JsonAnswer(this.operation, { shared: (length) => app.work(request, reply).float64(length), local: float64For(app, request, reply) }));
  }
  get followUp() {
    return this.json.followUp;
  }
  send(result: Result, head: Readonly<Record<string, unknown>>): FastifyReply {
    const text = result.count < TEXT_POINTS ? answerString(head, result) : this.json.write(head, result);
    return sendText(this.reply.type(JSON_MEDIA_TYPE), text);
  }
}

/** The answer's plan, by Accept (answerType): raw float64s, or JSON. Throws 406. */
export function planAnswer(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, operation: Operation): AnswerPlan {
  return answerType(request) === BINARY_MEDIA_TYPE ? new BinaryPlan(reply) : new JsonPlan(app, request, reply, operation);
}
