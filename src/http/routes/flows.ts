/**
 * /flows integrates Hamiltonian systems on the server, next to the kernels; /flows/vector-field
 * gives H, ∂H/∂q and ∂H/∂p for callers who integrate themselves. Decode (the body, the models it
 * names), compute once (app.computeOn), encode (JSON, raw float64s, NDJSON as the saves fill,
 * or an SVG picture).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PassThrough } from 'node:stream';
import { BINARY_MEDIA_TYPE } from '../../codecs/compute.js';
import { FlowLines, flowBinaryHeaders, flowJson, type FlowHead, type FlowResults, type UsedHamiltonian, type UsedModel } from '../../codecs/flows.js';
import { readDocument } from '../../codecs/json/document.js';
import { JSON_MEDIA_TYPE } from '../../codecs/json/exact.js';
import type { NumericArray } from '../../codecs/json/numbers.js';
import { flowSvg } from '../../codecs/svg/flows.js';
import type { Result } from '../../compute/executor.js';
import { flowOperation, flowProblem, hamiltonianSubject, vectorFieldOperation, type FlowProblem, type HamiltonianSubject } from '../../compute/flows.js';
import { LimitExceededError, ModelNotFoundError } from '../../errors.js';
import { pointSetOf } from '../../codecs/compute.js';
import { flowMethods, saveCount, separableMethods, type FlowMethod, type HamiltonianModels } from '../../kernels/index.js';
import type { ModelRecord } from '../../registry/registry.js';
import { sendBytes, sendText } from '../answers.js';
import { computeBodyLimit } from '../limits.js';
import { HttpProblem, problemDetails } from '../problems.js';
import {
  documentedFlowBody,
  FLOW_BINARY_LAYOUT,
  FlowBody,
  flowExample,
  FlowResponse,
  MAX_FLOW_SAVES,
  MAX_FLOW_STATES,
  NDJSON_MEDIA_TYPE,
  SVG_MEDIA_TYPE,
  VectorFieldBody,
  vectorFieldExample,
  VectorFieldResponse,
} from '../schemas/flows.js';
import { bodyTimedOut, databaseAway, problemResponses } from '../schemas/problem.js';

type Reference = string | { modelId: string; modelVersion?: number };
type HamiltonianRequest = { kinetic: Reference; potential: Reference } | { model: Reference };

interface FlowRequest {
  hamiltonian: HamiltonianRequest;
  method: FlowMethod;
  h: number;
  steps: number;
  every?: number;
  initial: NumericArray;
}

interface VectorFieldRequest {
  hamiltonian: HamiltonianRequest;
  states: NumericArray;
}

/** How often a streaming answer looks at the run's progress. */
const STREAM_POLL_MS = 25;

const JSON_TYPE = 'application/json';
const FLOW_TYPES = [JSON_TYPE, BINARY_MEDIA_TYPE, NDJSON_MEDIA_TYPE, SVG_MEDIA_TYPE];

/** The answer's media type for /flows by Accept; throws 406. */
function flowAnswerType(request: FastifyRequest): string {
  const accept = request.headers.accept;
  if (accept === undefined || accept === '*/*') return JSON_TYPE;
  const type = request.accepts().type(FLOW_TYPES) as string | false;
  if (type === false) throw new HttpProblem('not-acceptable', `Accept '${accept}' allows none of ${FLOW_TYPES.join(', ')}`);
  return type;
}

/** A model of the Hamiltonian, from the registry; 404 names the field. */
async function resolve(app: FastifyInstance, field: string, reference: Reference): Promise<ModelRecord> {
  const { id, version } = typeof reference === 'string' ? { id: reference, version: undefined } : { id: reference.modelId, version: reference.modelVersion };
  const record = app.registry.peek(id, version) ?? (await app.registry.get(id, version));
  if (record === undefined) throw new HttpProblem('model-not-found', `${field}: ${new ModelNotFoundError(id, version).message}`);
  return record;
}

const used = (record: ModelRecord): UsedModel => ({ modelId: record.id, modelVersion: record.version });

/** The Hamiltonian the request names, checked: its networks, and the models and versions used. */
async function hamiltonianOf(app: FastifyInstance, request: HamiltonianRequest, method?: FlowMethod): Promise<{ models: HamiltonianModels; used: UsedHamiltonian }> {
  if ('model' in request) {
    if (method !== undefined && separableMethods.includes(method)) {
      throw new HttpProblem(
        'invalid-hamiltonian',
        `method '${method}' needs a separable Hamiltonian, hamiltonian: {kinetic, potential}; for one model H(q, p) use implicit-midpoint, rk4 or euler`,
      );
    }
    const record = await resolve(app, 'hamiltonian.model', request.model);
    if (record.model.inputDim % 2 !== 0) {
      throw new HttpProblem('invalid-hamiltonian', `hamiltonian.model '${record.id}' has inputDim ${record.model.inputDim}; a Hamiltonian H(q, p) needs an even inputDim 2n, q first`);
    }
    return { models: { kind: 'general', model: record.model }, used: { model: used(record) } };
  }
  const [kinetic, potential] = await Promise.all([resolve(app, 'hamiltonian.kinetic', request.kinetic), resolve(app, 'hamiltonian.potential', request.potential)]);
  if (kinetic.model.inputDim !== potential.model.inputDim) {
    throw new HttpProblem(
      'invalid-hamiltonian',
      `hamiltonian.kinetic '${kinetic.id}' has inputDim ${kinetic.model.inputDim} and hamiltonian.potential '${potential.id}' has inputDim ${potential.model.inputDim}; T(p) and V(q) need the same n`,
    );
  }
  return { models: { kind: 'separable', kinetic: kinetic.model, potential: potential.model }, used: { kinetic: used(kinetic), potential: used(potential) } };
}

/** The body's document, its states as float64s, refused at the first past MAX_FLOW_STATES. */
function readFlowDocument<T>(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, schema: object): T | Promise<T> {
  const widest = 2 * app.registry.widestInput();
  return readDocument<T>(app.bodyOf(request, reply), schema, {
    allocate: (length) => new Float64Array(length),
    limits: (field) => ({
      maxOuter: MAX_FLOW_STATES,
      maxNumbers: MAX_FLOW_STATES * widest,
      tooManyOuter: () => new LimitExceededError(field, `${field} has more than ${MAX_FLOW_STATES} states, the most one request takes`),
      tooManyNumbers: () => new LimitExceededError(field, `${field} holds more than ${MAX_FLOW_STATES * widest} numbers: more than ${MAX_FLOW_STATES} states of 2n = ${widest} numbers`),
    }),
  });
}

/** The results of a run as the codecs read them. */
const resultsOf = (result: Result<FlowProblem>): FlowResults => {
  const [states, energy, maxEnergyError, end] = result.outputs;
  return { count: result.count, width: result.model.inputDim, spec: result.model.spec, states, energy, maxEnergyError, end };
};

const errorsOf = (path: '/flows' | '/flows/vector-field') =>
  problemResponses(path, {
    400: {
      description: 'The body is not JSON or does not match the schema: a missing or unknown field, an unknown method, h = 0, a non-number.',
      examples:
        path === '/flows'
          ? { unknownMethod: { summary: 'a method the service does not know', kind: 'invalid-request', detail: `method must be one of ${flowMethods.join(', ')}` } }
          : { halfHamiltonian: { summary: 'a kinetic model without a potential', kind: 'invalid-request', detail: 'hamiltonian.potential is required' } },
    },
    404: {
      description: 'A model the Hamiltonian names does not exist (or not in that version).',
      examples: { unknownModel: { summary: 'a kinetic model that does not exist', kind: 'model-not-found', detail: "hamiltonian.kinetic: no model with id 'pendulum-T2'" } },
    },
    406: {
      description: `Accept allows none of the answer's media types.`,
      examples: { html: { summary: 'Accept: text/html', kind: 'not-acceptable', detail: `Accept 'text/html' allows none of ${path === '/flows' ? FLOW_TYPES.join(', ') : 'application/json'}` } },
    },
    408: bodyTimedOut,
    413: {
      description: `More than ${MAX_FLOW_STATES} states, more saved states than ${MAX_FLOW_SAVES} (trajectories × saves), or more work than MAX_REQUEST_FLOPS.`,
      examples:
        path === '/flows'
          ? {
              tooMuchWork: {
                summary: 'too many steps for the work budget',
                kind: 'content-too-large',
                detail:
                  'the request asks for 1000 points × 15360000 flops = 15360000000 flops of work (flow on T (K = 8, d = 4) and V (K = 8, d = 4)), more than the limit of 10000000000 (MAX_REQUEST_FLOPS)',
              },
            }
          : { tooManyStates: { summary: 'more states than one request takes', kind: 'content-too-large', detail: `states has more than ${MAX_FLOW_STATES} states, the most one request takes` } },
    },
    415: {
      description: 'The body is not application/json.',
      examples: { text: { summary: 'a body of text/plain', kind: 'unsupported-media-type', detail: `POST ${path} takes application/json, not text/plain` } },
    },
    422: {
      description: 'A state does not have 2n numbers, or the models do not make the Hamiltonian the method needs.',
      examples: {
        wrongWidth: { summary: 'a state of 3 numbers for n = 1', kind: 'invalid-points', detail: `${path === '/flows' ? 'initial' : 'states'}[0] has 3 coordinates, expected 2 (2n: q, then p)` },
        ...(path === '/flows'
          ? {
              notSeparable: {
                summary: 'Størmer–Verlet with one model H(q, p)',
                kind: 'invalid-hamiltonian' as const,
                detail: "method 'stormer-verlet' needs a separable Hamiltonian, hamiltonian: {kinetic, potential}; for one model H(q, p) use implicit-midpoint, rk4 or euler",
              },
            }
          : {
              mismatched: {
                summary: 'T and V of different n',
                kind: 'invalid-hamiltonian' as const,
                detail: "hamiltonian.kinetic 'demo-pendulum-T' has inputDim 1 and hamiltonian.potential 'demo' has inputDim 2; T(p) and V(q) need the same n",
              },
            }),
      },
    },
    503: {
      description:
        "The service is shutting down, or the shared registry's database (REGISTRY_URL) cannot be reached and this replica does not hold a model; retry after Retry-After seconds, on another instance.",
      examples: { closing: { summary: 'during shutdown', kind: 'service-unavailable', detail: 'the service is shutting down; the work was cancelled' }, databaseAway },
    },
  });

export const flowRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const bodyConfig = { types: [JSON_TYPE], limit: computeBodyLimit(app) };

  app.post(
    '/flows',
    {
      config: { access: 'read' as const, body: bodyConfig, documentedBody: { required: true, content: { [JSON_TYPE]: { schema: documentedFlowBody } } } },
      schema: {
        operationId: 'flow',
        tags: ['flows'],
        summary: 'Integrate a Hamiltonian system: trajectories, energy, and a phase portrait',
        description:
          'q̇ = ∂H/∂p, ṗ = −∂H/∂q for H = T(p) + V(q) (two models) or H(q, p) (one), from each initial state, by a symplectic method (stormer-verlet, symplectic-euler-p, symplectic-euler-q, implicit-midpoint) or a baseline (rk4, euler), all the trajectories together. ' +
          `The answer is JSON; raw float64s with Accept: application/octet-stream (${FLOW_BINARY_LAYOUT}); NDJSON with Accept: application/x-ndjson, one line per saved step as the run passes it; or a picture with Accept: image/svg+xml. ` +
          'A trajectory whose state stops being finite, or whose Newton iteration fails, ends there and says so. The work (trajectories × steps × the step\'s network calls) counts against MAX_REQUEST_FLOPS.',
        response: {
          200: {
            description: 'The saved states, their energies, and the largest energy error of each trajectory.',
            content: {
              [JSON_TYPE]: { schema: FlowResponse, examples: { pendulum: { summary: 'Størmer–Verlet on the learned pendulum', value: flowExample.answer } } },
              [BINARY_MEDIA_TYPE]: { schema: { type: 'string', format: 'binary', description: FLOW_BINARY_LAYOUT } },
              [NDJSON_MEDIA_TYPE]: {
                schema: {
                  type: 'string',
                  description: 'Lines of JSON: {"type":"start",…}, then {"type":"save","step","t","states","energy"} for each saved step (null for a trajectory that ended before it), then {"type":"end","maxEnergyError","ended"}; {"type":"error","problem":{…}} (problem+json) if the run is cancelled.',
                },
              },
              [SVG_MEDIA_TYPE]: { schema: { type: 'string', description: 'The phase portrait (p against q) above H − H₀ against time.' } },
            },
          },
          ...errorsOf('/flows'),
        },
      },
    },
    async function flow(request, reply) {
      const type = flowAnswerType(request);
      const body = await readFlowDocument<FlowRequest>(app, request, reply, FlowBody);
      if (!(body.h !== 0)) throw new HttpProblem('invalid-request', 'h must not be 0: the step size is a number other than 0');
      const { models, used: usedModels } = await hamiltonianOf(app, body.hamiltonian, body.method);
      const every = body.every ?? Math.ceil(body.steps / 100);
      const spec = { method: body.method, h: body.h, steps: body.steps, every };
      const initial = pointSetOf('initial', body.initial);
      const saves = saveCount(spec) * initial.count;
      if (saves > MAX_FLOW_SAVES) {
        throw new LimitExceededError('every', `the answer would hold ${initial.count} trajectories × ${saveCount(spec)} saves = ${saves} states, more than ${MAX_FLOW_SAVES}; save less often (a larger every)`);
      }
      const problem = flowProblem(models, spec);
      const head: FlowHead = { hamiltonian: usedModels, method: spec.method, h: spec.h, steps: spec.steps, every };
      const started = performance.now();
      const observe = (result: Result<FlowProblem>) => {
        let steps = 0;
        for (let i = 0; i < result.count; i++) steps += result.outputs[3][2 * i];
        app.metrics.observeFlow(spec.method, steps, (performance.now() - started) / 1e3);
        return result;
      };
      if (type === NDJSON_MEDIA_TYPE) return streamFlow(request, reply, problem, head, initial);
      const result = observe(await app.computeOn(request, reply, flowOperation, problem, { initial }));
      const results = resultsOf(result);
      if (type === BINARY_MEDIA_TYPE) {
        const { block } = result;
        return sendBytes(reply.type(BINARY_MEDIA_TYPE).headers(flowBinaryHeaders(results)), Buffer.from(block.buffer, block.byteOffset, block.byteLength));
      }
      if (type === SVG_MEDIA_TYPE) return sendText(reply.type(`${SVG_MEDIA_TYPE}; charset=utf-8`), flowSvg(head, results));
      return sendText(reply.type(JSON_MEDIA_TYPE), JSON.stringify(flowJson(head, results)));

      /** NDJSON: the head at once, each save once every trajectory has passed it, then the end. */
      async function streamFlow(request: FastifyRequest, reply: FastifyReply, problem: FlowProblem, head: FlowHead, initial: ReturnType<typeof pointSetOf>) {
        const count = initial.count;
        const progress = new Int32Array(new SharedArrayBuffer(4 * count)).fill(-1);
        let outputs: readonly Float64Array[] | null = null;
        const lines = new FlowLines(head, problem.spec, count, problem.inputDim);
        // The checks run before the work starts, and refuse the request with its status; once
        // `started` is heard of, the answer is a 200 whose lines follow the run.
        const run = app.computeOn(request, reply, flowOperation, problem, { initial }, { progress, started: (views) => (outputs = views) });
        if (outputs === null) {
          await run;
          throw new Error('a flow run neither started nor failed');
        }
        const stream = new PassThrough();
        stream.write(lines.start());
        const look = () => {
          let step = Number.POSITIVE_INFINITY;
          for (let i = 0; i < count; i++) step = Math.min(step, Atomics.load(progress, i));
          if (step >= 0 && outputs !== null) {
            const text = lines.upTo(step, outputs[0], outputs[1]);
            if (text !== '') stream.write(text);
          }
        };
        const timer = setInterval(look, STREAM_POLL_MS);
        Promise.resolve(run).then(
          (result) => {
            clearInterval(timer);
            const results = resultsOf(observe(result));
            stream.write(lines.upTo(problem.spec.steps, results.states, results.energy));
            stream.end(lines.end(results));
          },
          (error: unknown) => {
            clearInterval(timer);
            const detail = error instanceof Error ? error.message : String(error);
            stream.end(`${JSON.stringify({ type: 'error', problem: problemDetails('service-unavailable', detail, request.url) })}\n`);
          },
        );
        app.watchAnswer(reply);
        return reply.type(NDJSON_MEDIA_TYPE).header('cache-control', 'no-store').send(stream);
      }
    },
  );

  app.post(
    '/flows/vector-field',
    {
      config: {
        access: 'read' as const,
        body: bodyConfig,
        documentedBody: {
          required: true,
          content: { [JSON_TYPE]: { schema: { ...VectorFieldBody, 'x-examples': { pendulum: { summary: 'two states of the learned pendulum', value: vectorFieldExample.request } } } } },
        },
      },
      schema: {
        operationId: 'vectorField',
        tags: ['flows'],
        summary: 'H, ∂H/∂q and ∂H/∂p at a batch of states',
        description:
          'For callers who integrate themselves: the Hamiltonian (the same specification as /flows) and its gradient at each state (q, p), in one call, from one gradient of each model. q̇ = ∂H/∂p and ṗ = −∂H/∂q.',
        response: {
          200: {
            description: 'H and its gradient at each state.',
            content: { [JSON_TYPE]: { schema: VectorFieldResponse, examples: { pendulum: { summary: 'two states of the learned pendulum', value: vectorFieldExample.answer } } } },
          },
          ...errorsOf('/flows/vector-field'),
        },
      },
    },
    async function vectorField(request, reply) {
      const accept = request.headers.accept;
      if (accept !== undefined && request.accepts().type([JSON_TYPE]) === false) throw new HttpProblem('not-acceptable', `Accept '${accept}' allows none of ${JSON_TYPE}`);
      const body = await readFlowDocument<VectorFieldRequest>(app, request, reply, VectorFieldBody);
      const { models, used: usedModels } = await hamiltonianOf(app, body.hamiltonian);
      const subject: HamiltonianSubject = hamiltonianSubject(models);
      const result = await app.computeOn(request, reply, vectorFieldOperation, subject, { states: pointSetOf('states', body.states) });
      const [energy, dq, dp] = result.outputs;
      const n = subject.inputDim / 2;
      const rows = (data: Float64Array) => Array.from({ length: result.count }, (_, i) => Array.from(data.subarray(i * n, (i + 1) * n)));
      return sendText(reply.type(JSON_MEDIA_TYPE), JSON.stringify({ hamiltonian: usedModels, energy: Array.from(energy), dHdq: rows(dq), dHdp: rows(dp) }));
    },
  );
};
