/**
 * Request and response payloads. Bodies are JSON or, for /evaluate and /gradient, raw float64s
 * (application/octet-stream); text/plain, which Fastify accepts by default, gets 415. The JSON
 * parser is Fastify's own choice, secure-json-parse, refusing __proto__ and constructor.prototype
 * keys; it is registered here so that a syntax error's position reaches the client. Bodies may
 * come gzip-compressed on every route (@fastify/compress). Answers are compressed where they can
 * be large: routes opt in with `compress: {}`, or call `reply.compress()` for large answers only
 * (compressAnswer), so that small answers skip the compression hooks altogether. Answers are
 * negotiated by Accept (@fastify/accepts).
 */
import accepts from '@fastify/accepts';
import compress from '@fastify/compress';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import secureJson from 'secure-json-parse';
import { leaseOf } from '../decorators.js';

const parseOptions = { protoAction: 'error', constructorAction: 'error' } as const;

export const BINARY_MEDIA_TYPE = 'application/octet-stream';

/** Answers shorter than this (in bytes) go out as they are: gzip would not pay for itself. */
export const COMPRESS_THRESHOLD = 1024;

/**
 * Sends a JSON text, gzip-compressed when it is long and the client accepts gzip. Short answers,
 * the one-point integrator calls, go straight to reply.send without the compression checks.
 */
export function compressAnswer(reply: FastifyReply, text: string): FastifyReply {
  if (text.length < COMPRESS_THRESHOLD) return reply.send(text);
  reply.compress(text);
  return reply;
}

function malformed(message: string): FastifyError {
  return Object.assign(new Error(message), { statusCode: 400, code: 'MALFORMED_JSON', name: 'MalformedJson' }) as FastifyError;
}

function tooLarge(bodyLimit: number): FastifyError {
  const error = new Error(`the body is larger than the limit of ${bodyLimit} bytes (BODY_LIMIT)`);
  return Object.assign(error, { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' }) as FastifyError;
}

/**
 * A binary body, read straight into shared memory sized from Content-Length, so that the worker
 * threads read the points where they landed: no concatenation of chunks, no second copy. A body
 * without a length (chunked, or gzip-encoded) is gathered first.
 */
function readBinary(
  request: FastifyRequest,
  payload: NodeJS.ReadableStream,
  bodyLimit: number,
  done: (error: FastifyError | null, body?: Uint8Array) => void,
): void {
  const declared = request.headers['content-encoding'] ? Number.NaN : Number(request.headers['content-length']);
  const known = Number.isSafeInteger(declared);
  if (known && declared > bodyLimit) return done(tooLarge(bodyLimit));
  let body = known ? (leaseOf(request)?.bytes(declared) ?? new Uint8Array(new SharedArrayBuffer(declared))) : new Uint8Array(new SharedArrayBuffer(0));
  let received = 0;
  let failed = false;
  payload.on('data', (chunk: Buffer) => {
    if (failed) return;
    if (received + chunk.length > (known ? declared : bodyLimit)) {
      failed = true;
      return done(known ? malformed('the body is longer than its Content-Length') : tooLarge(bodyLimit));
    }
    if (!known && received + chunk.length > body.length) {
      const grown = new Uint8Array(new SharedArrayBuffer(Math.min(bodyLimit, Math.max(2 * body.length, received + chunk.length))));
      grown.set(body.subarray(0, received));
      body = grown;
    }
    body.set(chunk, received);
    received += chunk.length;
  });
  payload.on('end', () => {
    if (failed) return;
    if (known && received !== declared) return done(malformed('the body is shorter than its Content-Length'));
    done(null, body.subarray(0, received));
  });
  payload.on('error', (error: Error) => {
    if (!failed) done(Object.assign(error, { statusCode: 400 }) as FastifyError);
    failed = true;
  });
  // A decompressing stream comes paused; a 'data' listener alone would not start it.
  payload.resume();
}

export const bodyParsersPlugin = fp(
  async (app) => {
    const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024;
    app.removeContentTypeParser(['text/plain', 'application/json']);
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      if (body.length === 0) return done(malformed('the body is empty; send a JSON object'), undefined);
      try {
        done(null, secureJson.parse(body as string, undefined, parseOptions));
      } catch (error) {
        done(malformed(`the body is not valid JSON: ${(error as Error).message}`), undefined);
      }
    });
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
