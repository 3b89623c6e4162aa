import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BINARY_MEDIA_TYPE } from '../../codecs/compute.js';
import { andThen } from '../../codecs/source.js';
import {
  evaluate,
  gradientCheckOperation,
  gradientOperation,
  hessianCheckOperation,
  hessianOperation,
  hessianVectorOperation,
  traceOperation,
  type Operation,
} from '../../compute/operations.js';
import { FD_STEP_FACTOR } from '../../kernels/index.js';
import { planAnswer, readCompute } from '../exchange.js';
import { computeBodyLimit } from '../limits.js';
import {
  binaryAnswer,
  BinaryPoints,
  ComputeBody,
  ComputeQuery,
  computeExample,
  documentedComputeBody,
  EvaluateResponse,
  GradientResponse,
  hessianExample,
  HessianResponse,
  HvpBody,
  hvpBody,
  hvpExample,
  HvpResponse,
  CheckedComputeQuery,
  MAX_TRACE_POINTS,
  TraceBody,
  TraceResponse,
  traceBody,
  traceExample,
} from '../schemas/compute.js';
import { bodyTimedOut, databaseAway, problemResponses } from '../schemas/problem.js';

/**
 * The errors of a compute route, with an example of each as the route answers it; `inputs` are
 * its per-point inputs, and `binary` whether it takes raw float64s.
 */
const errors = (path: string, inputs: readonly string[] = ['points'], binary = true, tooManyPoints = 'points has more than 1000000 points, the limit (MAX_POINTS)') =>
  problemResponses(path, {
    400: {
      description:
        'The body is not JSON or does not match the schema (a missing or unknown field, a non-number, a number like 1e400); a JSON body and ?modelId= name different models; or a binary body is not a whole number of points of finite float64s, or comes without ?modelId=.',
      examples: {
        missingPoints: {
          summary: `a JSON body without its ${inputs.join(' and ')}`,
          kind: 'invalid-request',
          detail: `${inputs.join(' and ')} ${inputs.length === 1 ? 'is' : 'are'} required`,
        },
        notANumber: { summary: 'a coordinate that is not a number', kind: 'invalid-request', detail: 'points[0][1] must be a finite number' },
        twoModels: {
          summary: 'a JSON body and ?modelId= that name different models',
          kind: 'invalid-request',
          detail: "the body's modelId 'demo' and the query's ?modelId=pendulum-T name different models; name the model once, in the body",
          instance: `${path}?modelId=pendulum-T`,
        },
        ...(binary ? { binaryWithoutModel: { summary: 'raw float64s without ?modelId=', kind: 'invalid-request' as const, detail: `querystring.modelId is required when the body is ${BINARY_MEDIA_TYPE}` } } : {}),
        emptyBody: { summary: 'an empty body', kind: 'malformed-request', detail: 'the body is empty; send a JSON object' },
      },
    },
    404: {
      description: 'No model has this modelId.',
      examples: {
        unknownModel: { summary: 'a modelId no model has (the id the server gave, not the name)', kind: 'model-not-found', detail: "no model with id 'pendulum-T'" },
      },
    },
    406: {
      description: 'Accept allows neither application/json nor application/octet-stream.',
      examples: {
        html: { summary: 'Accept: text/html', kind: 'not-acceptable', detail: `Accept 'text/html' allows neither application/json nor ${BINARY_MEDIA_TYPE}` },
      },
    },
    408: bodyTimedOut,
    413: {
      description: 'The body is over what the request can need (BODY_LIMIT at most), there are more points than MAX_POINTS, or the work is over MAX_REQUEST_FLOPS.',
      examples: {
        tooManyPoints: { summary: 'more points than the route takes', kind: 'content-too-large', detail: tooManyPoints },
      },
    },
    415: {
      description: 'The body is neither application/json nor application/octet-stream, or its Content-Encoding is neither gzip nor none.',
      examples: {
        text: { summary: 'a body of text/plain', kind: 'unsupported-media-type', detail: `POST ${path} takes application/json${binary ? ` or ${BINARY_MEDIA_TYPE}` : ''}, not text/plain` },
      },
    },
    422: {
      description: 'A point does not have inputDim coordinates, or the value or gradient at a point is not finite; the detail names the point.',
      examples: {
        wrongWidth: { summary: 'a point with 3 coordinates for a model of inputDim 2', kind: 'invalid-points', detail: "points[1] has 3 coordinates, expected 2 (the model's inputDim)" },
      },
    },
    503: {
      description:
        "The service is shutting down, or is reading as many bytes of large bodies as BODY_BYTES_IN_FLIGHT allows, or the shared registry's database (REGISTRY_URL) cannot be reached and this replica does not hold the model; retry after Retry-After seconds.",
      examples: {
        databaseAway,
        busy: {
          summary: 'too many large bodies at once',
          kind: 'service-unavailable',
          detail: 'the service is reading as many bytes of large bodies as it may (BODY_BYTES_IN_FLIGHT = 134217728); retry shortly',
        },
      },
    },
  });

/** How to send raw float64s from Swagger UI, or from a shell. */
const BINARY_HOW_TO =
  'To send raw float64s from this page, choose application/octet-stream as the request body, pick a file of them, and give ?modelId=; from a shell, `curl --data-binary @points.f64 -H "content-type: application/octet-stream" "http://localhost:3000/gradient?modelId=demo"`.';

/** The documented body: JSON, or raw float64s (the codecs read it; Fastify does not validate it). */
const body = {
  required: true,
  content: {
    'application/json': { schema: documentedComputeBody },
    [BINARY_MEDIA_TYPE]: { schema: BinaryPoints },
  },
};

/**
 * Decode, compute once, encode (the answer is planned first: the pool's threads may write its
 * text as they compute); each step at once when its value is already here (a one-point call).
 * A reply sent at once returns nothing, as a synchronous Fastify handler does; otherwise the promise
 * settles with the reply, which Fastify awaits.
 */
const handler = (plain: Operation, schema: object = ComputeBody, checked?: Operation) =>
  function answer(this: FastifyRequest['server'], request: FastifyRequest, reply: FastifyReply): Promise<void> | undefined {
    const check = checked !== undefined && (request.query as { check?: string }).check === 'fd';
    const operation = check ? checked : plain;
    const answer = planAnswer(this, request, reply, operation);
    const sent = andThen(readCompute(this, request, reply, operation, schema), (decoded) =>
      andThen(this.compute(request, reply, operation, decoded, answer), (result) => {
        const head: Record<string, unknown> = { modelId: decoded.model.id, modelVersion: reply.getHeader('model-version') };
        if (check) {
          // The exact derivative is the output before the differences.
          const maxRelativeDifference = largestDisagreement(result.outputs.at(-2)!, result.outputs.at(-1)!, result.count);
          reply.header('check-max-relative-difference', String(maxRelativeDifference));
          head.check = { method: 'central differences', stepFactor: FD_STEP_FACTOR, maxRelativeDifference };
        }
        return answer.send(result, head);
      }),
    );
    return sent instanceof Promise ? (sent as unknown as Promise<void>) : undefined;
  };

/** The largest, over the points, of max |difference − exact| / max |exact| at the point. */
function largestDisagreement(exact: Float64Array, differences: Float64Array, count: number): number {
  const size = exact.length / count;
  let largest = 0;
  for (let p = 0; p < count; p++) {
    let scale = 0;
    let gap = 0;
    for (let i = p * size; i < (p + 1) * size; i++) {
      scale = Math.max(scale, Math.abs(exact[i]));
      gap = Math.max(gap, Math.abs(differences[i] - exact[i]));
    }
    if (gap > 0) largest = Math.max(largest, gap / Math.max(scale, Number.MIN_VALUE));
  }
  return largest;
}

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
        description: `F(y) = η(wᵀZ^K + μ) at every point, from one forward sweep per point. The points come as JSON or as raw float64s; the answer is JSON or, with Accept: application/octet-stream, raw float64s. ${BINARY_HOW_TO}`,
        querystring: ComputeQuery,
        response: {
          200: {
            description: 'The values, one per point.',
            content: {
              'application/json': {
                schema: EvaluateResponse,
                examples: { twoPoints: { summary: 'the values at two points on the demo model', value: { modelId: 'demo', modelVersion: 1, values: computeExample.values } } },
              },
              [BINARY_MEDIA_TYPE]: { schema: binaryAnswer(false) },
            },
          },
          ...errors('/evaluate'),
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
        description: `F(y) and its gradient with respect to the point's coordinates, from one forward and one backward sweep per point; no Jacobian is formed. The points come as JSON or as raw float64s; the answer is JSON or, with Accept: application/octet-stream, raw float64s. ${BINARY_HOW_TO}`,
        querystring: CheckedComputeQuery,
        response: {
          200: {
            description: 'The values and gradients, one per point.',
            content: {
              'application/json': {
                schema: GradientResponse,
                examples: {
                  twoPoints: {
                    summary: 'the values and gradients at two points on the demo model',
                    value: { modelId: 'demo', modelVersion: 1, values: computeExample.values, gradients: computeExample.gradients },
                  },
                },
              },
              [BINARY_MEDIA_TYPE]: { schema: binaryAnswer(true) },
            },
          },
          ...errors('/gradient'),
        },
      },
    },
    handler(gradientOperation, ComputeBody, gradientCheckOperation),
  );

  app.post(
    '/hessian',
    {
      config,
      schema: {
        operationId: 'hessian',
        tags: ['compute'],
        summary: 'Evaluate F, ∇F and the Hessian ∇²F at a batch of points',
        description: `F(y), ∇F(y) and ∇²F(y), d₀ × d₀ with respect to the point's coordinates, exactly (forward-over-reverse differentiation: the sweeps once, and once more each way for each of the d₀ coordinates; no finite differences). With a ReLU σ, σ″ is taken as 0, at its kink too. The binary answer holds the N values, the N·d₀ gradients, then the N·d₀² Hessian entries, row-major. ${BINARY_HOW_TO}`,
        querystring: CheckedComputeQuery,
        response: {
          200: {
            description: 'The values, gradients and Hessians, one per point.',
            content: {
              'application/json': {
                schema: HessianResponse,
                examples: { onePoint: { summary: 'the Hessian at one point on the demo model', value: hessianExample } },
              },
              [BINARY_MEDIA_TYPE]: { schema: binaryAnswer(true) },
            },
          },
          ...errors('/hessian'),
        },
      },
    },
    handler(hessianOperation, ComputeBody, hessianCheckOperation),
  );

  app.post(
    '/hvp',
    {
      config: { ...config, body: { types: ['application/json', BINARY_MEDIA_TYPE], limit: computeBodyLimit(app, 2) }, documentedBody: hvpBody },
      schema: {
        operationId: 'hessianVectorProduct',
        tags: ['compute'],
        querystring: ComputeQuery,
        summary: 'Evaluate F, ∇F and ∇²F·v at a batch of points, one direction v per point',
        description:
          'F(y), ∇F(y) and the Hessian–vector product ∇²F(y)·v, exactly, at the cost of about two gradients whatever d₀ is: the one to use when d₀ is large. `vectors` holds one direction per point, each with inputDim coordinates. As raw float64s (application/octet-stream, the model in ?modelId=), the body is the N points followed by the N directions. The answer is JSON or, with Accept: application/octet-stream, raw float64s: the N values, the N·d₀ gradients, then the N·d₀ products.',
        response: {
          200: {
            description: 'The values, gradients and Hessian–vector products, one per point.',
            content: {
              'application/json': {
                schema: HvpResponse,
                examples: { onePoint: { summary: 'the Hessian times (1, 0) at one point on the demo model', value: hvpExample } },
              },
              [BINARY_MEDIA_TYPE]: { schema: binaryAnswer(true) },
            },
          },
          ...errors('/hvp', ['points', 'vectors']),
        },
      },
    },
    handler(hessianVectorOperation, HvpBody),
  );

  app.post(
    '/trace',
    {
      config: { ...config, body: { types: ['application/json'], limit: computeBodyLimit(app) }, documentedBody: traceBody },
      schema: {
        operationId: 'trace',
        tags: ['compute'],
        summary: 'Trace the sweeps: every layer state and every adjoint, for a few points',
        description: `The forward states Z^(0) … Z^(K) and the backward adjoints A^(K) … A^(0) that one gradient computes, as the seed's pseudo-code names them, for at most ${MAX_TRACE_POINTS} points: for people learning the backward sweep, and for debugging a model. JSON only.`,
        response: {
          200: {
            description: 'The value, gradient, states and adjoints at each point.',
            content: { 'application/json': { schema: TraceResponse, examples: { onePoint: { summary: 'the sweeps at one point of the demo model', value: traceExample } } } },
          },
          ...errors('/trace', ['points'], false, `points has more than ${MAX_TRACE_POINTS} points, the most /trace takes`),
        },
      },
    },
    handler(traceOperation, TraceBody),
  );
};
