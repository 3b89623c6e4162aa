/**
 * Sending answers: JSON text, gzip-compressed when long and the client accepts gzip
 * (@fastify/compress); content negotiation by Accept (@fastify/accepts). Short answers, the
 * one-point integrator calls, go straight out without the compression checks; long answers in
 * pieces go out piece by piece, never joined.
 */
import accepts from '@fastify/accepts';
import compress from '@fastify/compress';
import type { FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { Readable } from 'node:stream';

/** Answers shorter than this (in bytes) go out as they are: gzip would not pay for itself. */
export const COMPRESS_THRESHOLD = 1024;

/**
 * A text in pieces longer than this goes out as a stream of its pieces rather than one copy: a
 * copy that long is fresh memory, a page fault per 4 KiB page as it is written.
 */
const STREAM_THRESHOLD = 64 * 1024;

/** Sends a JSON text (a string, or pieces of bytes), compressed when it is long and the client accepts gzip. */
export function sendText(reply: FastifyReply, text: string | readonly Buffer[]): FastifyReply {
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

export const answersPlugin = fp(
  async (app) => {
    await app.register(compress, {
      encodings: ['gzip'],
      // Request bodies are inflated by the body plugin, which counts what they inflate to.
      globalDecompression: false,
      globalCompression: false,
      threshold: COMPRESS_THRESHOLD,
      // JSON only: raw float64s hardly compress, and gzip would cost more than it saves.
      customTypes: () => false,
    });
    await app.register(accepts);
  },
  { name: 'answers' },
);
