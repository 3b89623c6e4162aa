/**
 * Sending answers: JSON text, gzip-compressed when long and the client accepts gzip
 * (@fastify/compress); content negotiation by Accept (@fastify/accepts). Short answers, the
 * one-point integrator calls, go straight out without the compression checks; long answers in
 * pieces go out piece by piece, never joined.
 *
 * A large answer (WATCHED_BYTES or more) is watched while it goes out: if its client reads none of
 * what waits for it for ANSWER_STALL_TIMEOUT_MS (one second during shutdown), the connection is
 * closed, and the answer's memory goes back.
 */
import accepts from '@fastify/accepts';
import compress from '@fastify/compress';
import type { FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

declare module 'fastify' {
  interface FastifyInstance {
    /** Closes the answer's connection if its client stops reading it (see the module's comment). */
    watchAnswer(reply: FastifyReply): void;
  }
}

/** Answers from this size are watched for clients that stop reading them. */
export const WATCHED_BYTES = 64 * 1024;

/** How long a client may read none of an answer during shutdown. */
const CLOSING_STALL_MS = 1000;

/** Answers going out: how much of each had left for the client at the last look, and since when. */
class AnswerWatchdog {
  private readonly sending = new Map<ServerResponse, { flushed: number; since: number }>();
  private readonly sweep: NodeJS.Timeout;

  constructor(private stallMs: number) {
    this.sweep = setInterval(() => this.check(), Math.min(250, stallMs / 2));
    this.sweep.unref();
  }

  watch(response: ServerResponse): void {
    if (this.sending.has(response)) return;
    this.sending.set(response, { flushed: 0, since: performance.now() });
    response.once('close', () => this.sending.delete(response));
  }

  closing(): void {
    this.stallMs = Math.min(this.stallMs, CLOSING_STALL_MS);
    this.check();
  }

  close(): void {
    clearInterval(this.sweep);
  }

  private check(): void {
    const now = performance.now();
    for (const [response, state] of this.sending) {
      const socket = response.socket;
      if (socket === null) continue;
      const flushed = socket.bytesWritten - socket.writableLength;
      // A client stalls only while something waits for it: an answer still being produced (a
      // stream of a long flow's saves) sends nothing for a while without anyone being slow.
      const waiting = socket.writableLength + response.writableLength;
      if (flushed !== state.flushed || waiting === 0) {
        state.flushed = flushed;
        state.since = now;
      } else if (now - state.since > this.stallMs) {
        socket.destroy();
        this.sending.delete(response);
      }
    }
  }
}

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
  if (length >= WATCHED_BYTES) reply.server.watchAnswer(reply);
  if (typeof text === 'string' || length <= STREAM_THRESHOLD) {
    reply.compress(typeof text === 'string' ? text : Buffer.concat(text, length));
    return reply;
  }
  // @fastify/compress drops the length when it compresses.
  reply.header('content-length', length);
  reply.compress(Readable.from(text));
  return reply;
}

/** Sends a JSON text produced piece by piece, compressed for clients that accept gzip, and watched. */
export function sendStream(reply: FastifyReply, text: Readable): FastifyReply {
  reply.server.watchAnswer(reply);
  reply.compress(text);
  return reply;
}

/** Sends bytes as they are (raw float64s), watched when large. */
export function sendBytes(reply: FastifyReply, body: Buffer): FastifyReply {
  if (body.length >= WATCHED_BYTES) reply.server.watchAnswer(reply);
  return reply.send(body);
}

export const answersPlugin = fp(
  async (app, { stallMs }: { stallMs: number }) => {
    const watchdog = new AnswerWatchdog(stallMs);
    app.decorate('watchAnswer', (reply: FastifyReply) => watchdog.watch(reply.raw));
    app.addHook('preClose', (done) => {
      watchdog.closing();
      done();
    });
    app.addHook('onClose', (_app, done) => {
      watchdog.close();
      done();
    });
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
