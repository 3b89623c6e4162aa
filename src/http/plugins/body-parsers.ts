/**
 * Request and response payloads. Bodies are JSON or, for /evaluate and /gradient, raw float64s
 * (application/octet-stream); text/plain, which Fastify accepts by default, gets 415. The JSON
 * parser is Fastify's own choice, secure-json-parse, refusing __proto__ and constructor.prototype
 * keys; it is registered here so that a syntax error's position reaches the client, and so that
 * large batches for /evaluate and /gradient are first offered to the kernels' points reader,
 * which reads their numbers without JSON.parse's array per point (PointsBody). Bodies may
 * come gzip-compressed on every route (@fastify/compress). Answers are compressed where they can
 * be large: routes opt in with `compress: {}`, or call `reply.compress()` for large answers only
 * (compressAnswer), so that small answers skip the compression hooks altogether. Answers are
 * negotiated by Accept (@fastify/accepts).
 */
import accepts from '@fastify/accepts';
import AjvCompiler from '@fastify/ajv-compiler';
import compress from '@fastify/compress';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Readable } from 'node:stream';
import secureJson from 'secure-json-parse';
import type { IncomingBytes } from '../../domain/compute.js';
import { readPointsJson } from '../../kernels/index.js';
import { leaseOf } from '../decorators.js';

const parseOptions = { protoAction: 'error', constructorAction: 'error' } as const;

export const BINARY_MEDIA_TYPE = 'application/octet-stream';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route takes raw float64 points (application/octet-stream); others answer such bodies 415. */
    binaryPoints?: boolean;
  }
}

/** Answers shorter than this (in bytes) go out as they are: gzip would not pay for itself. */
export const COMPRESS_THRESHOLD = 1024;

/**
 * A text in pieces longer than this goes out as a stream of its pieces rather than one copy: a
 * copy that long is fresh memory, a page fault per 4 KiB as it is written (a 4,096-point JSON
 * /gradient, ~400 KB of answer, took ~100 faults in Buffer.concat here).
 */
const STREAM_THRESHOLD = 64 * 1024;

/**
 * Sends a JSON text, gzip-compressed when it is long and the client accepts gzip. Short answers,
 * the one-point integrator calls, go straight to reply.send without the compression checks. A
 * long text in pieces (bytes) goes out piece by piece, with its length when it is not compressed.
 */
export function compressAnswer(reply: FastifyReply, text: string | readonly Buffer[]): FastifyReply {
  const length = typeof text === 'string' ? text.length : text.reduce((sum, piece) => sum + piece.length, 0);
  if (length < COMPRESS_THRESHOLD) return reply.send(typeof text === 'string' ? text : Buffer.concat(text));
  if (typeof text === 'string' || length <= STREAM_THRESHOLD) {
    reply.compress(typeof text === 'string' ? text : Buffer.concat(text, length));
    return reply;
  }
  // @fastify/compress drops the length when it compresses.
  reply.header('content-length', length);
  reply.compress(Readable.from(text));
  return reply;
}

function malformed(message: string): FastifyError {
  return Object.assign(new Error(message), { statusCode: 400, code: 'MALFORMED_JSON', name: 'MalformedJson' }) as FastifyError;
}

function notHere(request: FastifyRequest): FastifyError {
  const error = new Error(`${request.routeOptions.url} does not take ${BINARY_MEDIA_TYPE} bodies (only /evaluate and /gradient do); send application/json`);
  return Object.assign(error, { statusCode: 415, code: 'BINARY_BODY_NOT_TAKEN' }) as FastifyError;
}

function tooLarge(bodyLimit: number): FastifyError {
  const error = new Error(`the body is larger than the limit of ${bodyLimit} bytes (BODY_LIMIT)`);
  return Object.assign(error, { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' }) as FastifyError;
}

/**
 * A binary body whose length is declared: handed to the route as it arrives, unread, so that a
 * large batch starts computing on its first slices while the rest is still coming in
 * (ComputeService.sweepIncoming reads it into shared memory, where the worker threads read it).
 */
export class IncomingBody implements IncomingBytes {
  constructor(
    readonly byteLength: number,
    readonly chunks: AsyncIterable<Uint8Array>,
  ) {}
}

/**
 * A JSON compute body as the points reader read it from its bytes (readPointsJson): no object
 * per point, the coordinates already in the kernels' layout. The validator checks its modelId
 * (see pointsBodyValidators); the reader has checked the rest of what the schema asks.
 */
export class PointsBody {
  constructor(
    readonly modelId: string,
    /** Coordinates per point, the same for all. */
    readonly width: number,
    readonly coordinates: Float64Array,
  ) {}
}

/**
 * Fastify's own validator compilers (@fastify/ajv-compiler, given the app's Ajv options), except
 * that a PointsBody has only its modelId checked, against the body schema's own modelId schema:
 * its errors read as they would for the same body parsed by JSON.parse. Fastify's
 * `schemaController.compilersFactory.buildValidator`.
 */
export const pointsBodyValidators: AjvCompiler.ValidatorFactory = (() => {
  const compilers = AjvCompiler();
  return (externalSchemas, options) => {
    const compile = compilers(externalSchemas, options);
    return (definition) => {
      const validate = compile(definition);
      const modelId = (definition.schema as { properties?: { modelId?: object } }).properties?.modelId;
      if (definition.httpPart !== 'body' || modelId === undefined) return validate;
      const checkModelId = compile({ ...definition, schema: { type: 'object', properties: { modelId }, required: ['modelId'] } });
      const validateBody = (data: unknown) => {
        const chosen = data instanceof PointsBody ? checkModelId : validate;
        const valid = chosen(data);
        validateBody.errors = chosen.errors;
        return valid;
      };
      validateBody.errors = null as typeof validate.errors;
      return validateBody as typeof validate;
    };
  };
})();

/**
 * JSON bodies of /evaluate and /gradient from this long are offered to the points reader first;
 * shorter ones, as one-point calls, go straight to JSON.parse, which costs them less.
 */
export const READER_MIN_BYTES = 64 * 1024;
/** …and up to this long: the reader's WebAssembly memory grows to about three times the body, for good. */
export const READER_MAX_BYTES = 16 * 1024 * 1024;

const plainBytes = (length: number): Uint8Array => Buffer.allocUnsafe(length);

/**
 * Reads a whole body into memory from `allocate`: at once when its length is declared, else
 * growing by doubling, up to the body limit. Without `allocate`, plain memory, and a body that
 * comes in one chunk is that chunk. `done` hears of the bytes, or of the error, once.
 */
function gather(
  request: FastifyRequest,
  payload: NodeJS.ReadableStream,
  declared: number,
  bodyLimit: number,
  allocate: ((length: number) => Uint8Array) | undefined,
  done: (error: FastifyError | null, body?: Uint8Array) => void,
): void {
  if (declared > bodyLimit) return done(tooLarge(bodyLimit));
  const keepChunk = allocate === undefined;
  allocate ??= plainBytes;
  let body = allocate(Number.isSafeInteger(declared) ? declared : 0);
  let received = 0;
  let failed = false;
  payload.on('data', (chunk: Buffer) => {
    if (failed) return;
    // A body that comes in one chunk of its declared length is that chunk.
    if (keepChunk && received === 0 && chunk.length === declared) {
      body = chunk;
      received = chunk.length;
      return;
    }
    if (received + chunk.length > bodyLimit) {
      failed = true;
      return done(tooLarge(bodyLimit));
    }
    if (received + chunk.length > body.length) {
      const grown = allocate(Math.min(bodyLimit, Math.max(2 * body.length, received + chunk.length)));
      grown.set(body.subarray(0, received));
      body = grown;
    }
    body.set(chunk, received);
    received += chunk.length;
  });
  payload.on('end', () => {
    if (!failed) done(null, body.subarray(0, received));
  });
  payload.on('error', (error: Error) => {
    if (!failed) done(Object.assign(error, { statusCode: 400 }) as FastifyError);
    failed = true;
  });
  // A decompressing stream comes paused; a 'data' listener alone would not start it.
  if (payload !== request.raw) payload.resume();
}

/** The declared length of a body as it arrives: none when it comes compressed. */
const declaredLength = (request: FastifyRequest): number =>
  request.headers['content-encoding'] ? Number.NaN : Number(request.headers['content-length']);

/**
 * A JSON body, gathered, then read by the points reader when it is a batch for /evaluate or
 * /gradient of READER_MIN_BYTES or more (gathered into the request's recycled memory, where fresh
 * memory's page faults cost more than the reading), and by JSON.parse (secure-json-parse) when
 * the reader does not take it.
 */
function readJson(
  request: FastifyRequest,
  payload: NodeJS.ReadableStream,
  bodyLimit: number,
  done: (error: FastifyError | null, body?: unknown) => void,
): void {
  const declared = declaredLength(request);
  const forReader = request.routeOptions.config.binaryPoints && declared >= READER_MIN_BYTES && declared <= READER_MAX_BYTES;
  const lease = forReader ? leaseOf(request) : null;
  gather(request, payload, declared, bodyLimit, lease ? (length) => lease.bytes(length) : undefined, (error, body) => {
    if (error) return done(error);
    if (body!.length === 0) return done(malformed('the body is empty; send a JSON object'));
    if (forReader) {
      const read = readPointsJson(body!, (length) => lease?.float64(length) ?? new Float64Array(length));
      if (read) return done(null, new PointsBody(read.modelId, read.width, read.coordinates));
    }
    try {
      done(null, secureJson.parse(Buffer.from(body!.buffer, body!.byteOffset, body!.length).toString(), undefined, parseOptions));
    } catch (parseError) {
      done(malformed(`the body is not valid JSON: ${(parseError as Error).message}`));
    }
  });
}

/**
 * Binary bodies: one with a declared length goes to the route as an IncomingBody; one without
 * (chunked, or gzip-encoded) is gathered into memory here first, up to the body limit.
 */
function readBinary(
  request: FastifyRequest,
  payload: NodeJS.ReadableStream,
  bodyLimit: number,
  done: (error: FastifyError | null, body?: Uint8Array | IncomingBody) => void,
): void {
  if (!request.routeOptions.config.binaryPoints) return done(notHere(request));
  const declared = declaredLength(request);
  if (Number.isSafeInteger(declared)) {
    if (declared > bodyLimit) return done(tooLarge(bodyLimit));
    return done(null, new IncomingBody(declared, payload as AsyncIterable<Uint8Array>));
  }
  gather(request, payload, declared, bodyLimit, (length) => new Uint8Array(new SharedArrayBuffer(length)), done);
}

export const bodyParsersPlugin = fp(
  async (app) => {
    const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024;
    app.removeContentTypeParser(['text/plain', 'application/json']);
    app.addContentTypeParser('application/json', (request, payload, done) => readJson(request, payload, bodyLimit, done));
    app.addContentTypeParser(BINARY_MEDIA_TYPE, (request, payload, done) => readBinary(request, payload, bodyLimit, done));
    await app.register(compress, {
      encodings: ['gzip'],
      requestEncodings: ['gzip'],
      globalCompression: false,
      globalDecompression: true,
      threshold: COMPRESS_THRESHOLD,
      // JSON only: raw float64s hardly compress, and gzip would cost more than it saves.
      customTypes: () => false,
    });
    await app.register(accepts);
  },
  { name: 'body-parsers' },
);
