/**
 * A typed client for the ResNet gradient service. `api` is openapi-fetch over the types that
 * openapi-typescript generates from the service's OpenAPI document (src/schema.ts, `npm run
 * generate`): every route, its body and its answers, typed. Beside it, a thin layer for what JSON
 * is slow at: large batches as raw little-endian float64s, both ways.
 *
 *   const client = createClient({ baseUrl: 'http://localhost:3000' });
 *   const { values, gradients } = await client.gradient('demo', [[0.5, -0.25]]);
 *   const batch = await client.gradientBinary('demo', points, 2); // points: Float64Array, N × 2
 */
import createFetchClient from 'openapi-fetch';
import type { paths } from './schema.js';

export type { components, paths } from './schema.js';

/** An error answer: its status and its RFC 9457 problem details (or, under /v2, the protocol's error). */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  constructor(
    readonly status: number,
    readonly problem: { readonly type?: string; readonly title?: string; readonly detail?: string; readonly error?: string; readonly [key: string]: unknown },
  ) {
    super(`${status} ${problem.type ?? ''}: ${problem.detail ?? problem.error ?? problem.title ?? ''}`.trim());
  }

  /** The last segment of the problem's type: `invalid-points`, `model-not-found`, … */
  get kind(): string | undefined {
    return this.problem.type?.split('/').at(-1);
  }
}

export interface ClientOptions {
  /** Where the service is, such as http://localhost:3000. */
  readonly baseUrl: string;
  /** A bearer key, when the service has API keys. */
  readonly apiKey?: string;
  /** Another fetch, for tests or proxies. */
  readonly fetch?: typeof globalThis.fetch;
}

/** The arrays of a raw float64 answer: values [N], gradients [N·d₀], hessians [N·d₀²], row-major. */
export interface BinaryAnswer {
  readonly count: number;
  readonly width: number;
  readonly modelVersion: number;
  readonly values: Float64Array;
  readonly gradients?: Float64Array;
  readonly hessians?: Float64Array;
}

const OCTET_STREAM = 'application/octet-stream';

/** Throws a ProblemError for an error answer (the body read as JSON when it is). */
async function failure(response: Response): Promise<never> {
  const text = await response.text();
  let problem: ProblemError['problem'];
  try {
    problem = JSON.parse(text) as ProblemError['problem'];
  } catch {
    problem = { detail: text };
  }
  throw new ProblemError(response.status, problem);
}

export function createClient({ baseUrl, apiKey, fetch = globalThis.fetch }: ClientOptions) {
  const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  const base = baseUrl.replace(/\/$/, '');
  // The JSON side of every route; the binary layer below speaks application/octet-stream.
  const api = createFetchClient<paths, 'application/json'>({ baseUrl: base, headers, fetch });

  /** The data of an openapi-fetch answer, or a ProblemError. */
  function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
    if (result.error !== undefined || result.data === undefined) throw new ProblemError(result.response.status, (result.error ?? {}) as ProblemError['problem']);
    return result.data;
  }

  /** A compute route with raw float64s both ways; `points` holds N points of `width` coordinates, point-major. */
  async function binary(route: 'evaluate' | 'gradient' | 'hessian', modelId: string, points: Float64Array, width: number, modelVersion?: number): Promise<BinaryAnswer> {
    if (!Number.isInteger(width) || width < 1 || points.length % width !== 0) throw new RangeError(`points has ${points.length} numbers, not a whole number of points of width ${width}`);
    const query = new URLSearchParams({ modelId, ...(modelVersion === undefined ? {} : { modelVersion: String(modelVersion) }) });
    const response = await fetch(`${base}/${route}?${query}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': OCTET_STREAM, accept: OCTET_STREAM },
      body: new Uint8Array(points.buffer as ArrayBuffer, points.byteOffset, points.byteLength),
    });
    if (!response.ok) return failure(response);
    // Typed arrays use the platform's byte order; every platform Node supports is little-endian.
    const numbers = new Float64Array(await response.arrayBuffer());
    const count = points.length / width;
    const gradientsAt = count;
    const hessiansAt = count + count * width;
    return {
      count,
      width,
      modelVersion: Number(response.headers.get('model-version')),
      values: numbers.subarray(0, count),
      ...(route === 'evaluate' ? {} : { gradients: numbers.subarray(gradientsAt, hessiansAt) }),
      ...(route === 'hessian' ? { hessians: numbers.subarray(hessiansAt, hessiansAt + count * width * width) } : {}),
    };
  }

  return {
    /** The generated, typed client: every route of the OpenAPI document. */
    api,
    unwrap,
    /** F and ∇F at each point, as JSON. */
    async gradient(modelId: string, points: number[][], modelVersion?: number) {
      return unwrap(await api.POST('/gradient', { body: { modelId, points, ...(modelVersion === undefined ? {} : { modelVersion }) } }));
    },
    /** F at each point, as JSON. */
    async evaluate(modelId: string, points: number[][], modelVersion?: number) {
      return unwrap(await api.POST('/evaluate', { body: { modelId, points, ...(modelVersion === undefined ? {} : { modelVersion }) } }));
    },
    /** F, ∇F and ∇²F at each point, as JSON. */
    async hessian(modelId: string, points: number[][], modelVersion?: number) {
      return unwrap(await api.POST('/hessian', { body: { modelId, points, ...(modelVersion === undefined ? {} : { modelVersion }) } }));
    },
    /** F at each point, raw float64s both ways. */
    evaluateBinary: (modelId: string, points: Float64Array, width: number, modelVersion?: number) => binary('evaluate', modelId, points, width, modelVersion),
    /** F and ∇F at each point, raw float64s both ways. */
    gradientBinary: (modelId: string, points: Float64Array, width: number, modelVersion?: number) => binary('gradient', modelId, points, width, modelVersion),
    /** F, ∇F and ∇²F at each point, raw float64s both ways. */
    hessianBinary: (modelId: string, points: Float64Array, width: number, modelVersion?: number) => binary('hessian', modelId, points, width, modelVersion),
  };
}

export type Client = ReturnType<typeof createClient>;
