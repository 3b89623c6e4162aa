/**
 * Request bodies, bounded before and while they are read. The parsers read nothing: a route that
 * takes a body gets it as a ByteSource (../../codecs/source.ts), which its codec reads as the
 * bytes arrive. Around that:
 *
 * - Each route says which media types it takes and how large a body may be for it
 *   (`config.body`); a declared length over that is refused before a byte is read, and so is any
 *   body of a route that takes none, of an unknown route, or of a request that failed
 *   authentication (their answers close the connection, so the unread bytes are never waited for).
 * - gzip bodies are inflated here, and counted as they inflate: a body is refused once its
 *   inflated bytes pass the limit, and inflation stops there.
 * - A body of LARGE_BODY_BYTES or more holds its size out of BODY_BYTES_IN_FLIGHT while it is read
 *   and answered (its declared length at once, or, when that is not known, what has arrived, a
 *   mebibyte at a time); a request that would pass the bound gets 503 with Retry-After at once
 *   (load shedding), so that a few large bodies cannot take all the memory.
 * - A body that stops arriving for BODY_STALL_TIMEOUT_MS, or is still arriving REQUEST_TIMEOUT_MS
 *   after the request began, is refused with 408; during shutdown, bodies that are not arriving
 *   fast enough to finish within the grace period get 503.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { createGunzip } from 'node:zlib';
import { SMALL_BODY_BYTES } from '../../codecs/json/document.js';
import type { ByteSource } from '../../codecs/source.js';
import { CancelledError } from '../../errors.js';
import { HttpProblem } from '../problems.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The body the route reads: its media types, and its largest size (at most BODY_LIMIT). */
    body?: {
      readonly types: readonly string[];
      /** The largest body for this request, before any of it is read; BODY_LIMIT when absent. */
      readonly limit?: (request: FastifyRequest) => number;
    };
  }
  interface FastifyInstance {
    /** Bodies being read now, for the shutdown and timeout watchdog. */
    readonly bodies: BodyTracker;
    /** The request's body, to be read by a codec; throws when the route takes none, or no place is free for it. */
    bodyOf(request: FastifyRequest, reply: FastifyReply): ByteSource;
  }
}

/** What the parser knows of a body before the route reads it. */
export class PendingBody {
  constructor(
    readonly limit: number,
    readonly gzip: boolean,
  ) {}
}

/**
 * A small body the parser has read whole, as Fastify's own parsers do: the one-point calls of an
 * integrator cost least this way (the bytes are there by the time the route runs, and the codec
 * parses them whole). Only bodies that declare a length of SMALL_BODY_BYTES or less, not
 * compressed, are read so.
 */
export class ReadBody implements ByteSource {
  constructor(readonly whole: Buffer) {}
  get declaredLength(): number {
    return this.whole.length;
  }
  read(chunk: (bytes: Uint8Array) => void): Promise<void> {
    try {
      if (this.whole.length > 0) chunk(this.whole);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** From this size a body counts as large: it holds its size out of BODY_BYTES_IN_FLIGHT. */
export const LARGE_BODY_BYTES = 1024 * 1024;

/** How often the watchdog looks at the bodies being read. */
const SWEEP_MS = 250;

export interface BodyOptions {
  readonly bodyLimit: number;
  readonly bodyBytesInFlight: number;
  readonly requestTimeoutMs: number;
  readonly bodyStallTimeoutMs: number;
}

const mediaTypeOf = (request: FastifyRequest): string => (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();

function clientError(status: number, code: string, message: string): FastifyError {
  return Object.assign(new Error(message), { statusCode: status, code }) as FastifyError;
}

export const tooLarge = (limit: number, bodyLimit: number): HttpProblem =>
  new HttpProblem(
    'content-too-large',
    limit === bodyLimit
      ? `the body is larger than the limit of ${bodyLimit} bytes (BODY_LIMIT)`
      : `the body is larger than the ${limit} bytes this request can need (the limits MAX_POINTS, MAX_MODEL_WEIGHTS and BODY_LIMIT allow no more)`,
  );

/** A body being read, as the watchdog sees it. */
interface WatchedBody {
  readonly startedAt: number;
  readonly lastArrival: number;
  /** Whether, at the rate it has come so far, the rest arrives within `ms`. */
  canFinishWithin(ms: number): boolean;
  /** Stops reading it, and answers the request with `error`. */
  abort(error: Error): void;
}

/** Bodies in flight: the bytes held by large ones, and the watchdog's list. */
export class BodyTracker {
  private readonly reading = new Set<WatchedBody>();
  private held = 0;
  private closingSince: number | null = null;
  private readonly sweep: NodeJS.Timeout;

  constructor(
    readonly options: BodyOptions,
    private readonly graceMs: number,
  ) {
    this.sweep = setInterval(() => this.check(), SWEEP_MS);
    this.sweep.unref();
  }

  /** Bytes of large bodies in flight now. */
  get bytesHeld(): number {
    return this.held;
  }

  /** Holds `bytes` for a large body; false when that would pass BODY_BYTES_IN_FLIGHT. */
  hold(bytes: number): boolean {
    if (this.held + bytes > this.options.bodyBytesInFlight) return false;
    this.held += bytes;
    return true;
  }

  release(bytes: number): void {
    this.held -= bytes;
  }

  add(body: WatchedBody): void {
    this.reading.add(body);
  }

  delete(body: WatchedBody): void {
    this.reading.delete(body);
  }

  /** Shutdown has begun: from now on, bodies that cannot finish in the grace period are cut off. */
  closing(): void {
    this.closingSince = performance.now();
    this.check();
  }

  close(): void {
    clearInterval(this.sweep);
  }

  private check(): void {
    const now = performance.now();
    const { requestTimeoutMs, bodyStallTimeoutMs } = this.options;
    for (const body of this.reading) {
      const stalled = now - body.lastArrival;
      if (now - body.startedAt > requestTimeoutMs) {
        body.abort(new HttpProblem('request-timeout', `the request took longer than ${requestTimeoutMs} ms to arrive (REQUEST_TIMEOUT_MS)`));
      } else if (stalled > bodyStallTimeoutMs) {
        body.abort(new HttpProblem('request-timeout', `no byte of the body arrived for ${bodyStallTimeoutMs} ms (BODY_STALL_TIMEOUT_MS)`));
      } else if (this.closingSince !== null) {
        const left = this.graceMs - (now - this.closingSince);
        if (stalled > 1000 || !body.canFinishWithin(left - 1000)) {
          body.abort(new HttpProblem('service-unavailable', 'the service is shutting down and this body would not arrive in time; send it again', {}, 1));
        }
      }
    }
  }
}

/** A small body being read by the parser, for the watchdog; `stop` detaches the parser's listeners. */
class SmallBodyWatch implements WatchedBody {
  readonly startedAt = performance.now();
  lastArrival = this.startedAt;
  private settled = false;

  constructor(
    private readonly tracker: BodyTracker,
    private readonly declared: number,
    private readonly stop: () => void,
    private readonly done: (error: Error | null, body?: unknown) => void,
  ) {
    tracker.add(this);
  }

  arrived(received: number): void {
    this.lastArrival = performance.now();
    this.received = received;
  }

  private received = 0;

  canFinishWithin(ms: number): boolean {
    const rate = this.received / Math.max(1, performance.now() - this.startedAt);
    return ms > 0 && this.declared - this.received <= rate * ms;
  }

  /** The body has ended (or failed): true unless it was aborted first. */
  end(): boolean {
    this.tracker.delete(this);
    const first = !this.settled;
    this.settled = true;
    return first;
  }

  abort(error: Error): void {
    if (!this.end()) return;
    this.stop();
    this.done(error);
  }
}

/** A request's body, as its codec reads it. */
export class RequestBody implements ByteSource, WatchedBody {
  readonly declaredLength: number | null;
  readonly startedAt = performance.now();
  lastArrival = performance.now();
  /** Bytes off the wire (compressed, when they came so), and bytes delivered. */
  private wire = 0;
  private delivered = 0;
  /** Bytes held out of BODY_BYTES_IN_FLIGHT; given back when the answer is out or the client gone. */
  private held = 0;
  private stop: ((error: Error) => void) | null = null;

  constructor(
    private readonly request: FastifyRequest,
    private readonly reply: FastifyReply,
    private readonly limit: number,
    private readonly tracker: BodyTracker,
    private readonly gzip: boolean,
  ) {
    const length = Number(request.headers['content-length']);
    this.declaredLength = !gzip && Number.isSafeInteger(length) ? length : null;
    if (Number.isSafeInteger(length) && length >= LARGE_BODY_BYTES) this.hold(length);
  }

  /** Whether, at the rate it has come so far, the rest of the body arrives within `ms`. */
  canFinishWithin(ms: number): boolean {
    const length = Number(this.request.headers['content-length']);
    if (!Number.isSafeInteger(length)) return ms > 0;
    const rate = this.wire / Math.max(1, performance.now() - this.startedAt);
    return ms > 0 && (length - this.wire) <= rate * ms;
  }

  abort(error: Error): void {
    this.stop?.(error);
  }

  /** Holds `bytes` out of BODY_BYTES_IN_FLIGHT, or throws 503. */
  private hold(bytes: number): void {
    if (!this.tracker.hold(bytes)) {
      const { bodyBytesInFlight } = this.tracker.options;
      throw new HttpProblem('service-unavailable', `the service is reading as many bytes of large bodies as it may (BODY_BYTES_IN_FLIGHT = ${bodyBytesInFlight}); retry shortly`, {}, 1);
    }
    if (this.held === 0) this.reply.raw.once('close', () => this.tracker.release(this.held));
    this.held += bytes;
  }

  read(chunk: (bytes: Uint8Array) => void): Promise<void> {
    const raw = this.request.raw;
    const inflater = this.gzip ? createGunzip() : null;
    const { bodyLimit } = this.tracker.options;
    this.tracker.add(this);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error: Error | null) => {
        if (settled) return;
        settled = true;
        this.stop = null;
        this.tracker.delete(this);
        raw.off('data', onWire);
        raw.off('end', onWireEnd);
        raw.off('close', onClose);
        raw.off('error', onWireError);
        if (error) {
          raw.pause();
          inflater?.destroy();
          // The rest of a refused body is never read: the answer closes the connection, so that
          // neither side waits on the bytes still coming.
          if (!raw.complete && !this.reply.sent) this.reply.header('connection', 'close');
          reject(error);
        } else resolve();
      };
      this.stop = finish;
      const deliver = (bytes: Uint8Array) => {
        if (settled) return;
        this.delivered += bytes.length;
        if (this.delivered > this.limit) return finish(tooLarge(this.limit, bodyLimit));
        try {
          // A body of unknown length holds what has arrived, a mebibyte at a time.
          while (this.delivered >= LARGE_BODY_BYTES && this.delivered > this.held) this.hold(LARGE_BODY_BYTES);
          chunk(bytes);
        } catch (error) {
          finish(error as Error);
        }
      };
      const onWire = (bytes: Buffer) => {
        this.wire += bytes.length;
        this.lastArrival = performance.now();
        if (inflater) {
          if (this.wire > this.limit) return finish(tooLarge(this.limit, bodyLimit));
          inflater.write(bytes);
        } else deliver(bytes);
      };
      const onWireEnd = () => (inflater ? inflater.end() : finish(null));
      const onWireError = () => finish(new CancelledError('client-gone'));
      // A request whose connection closes before its body has ended: the client went away.
      const onClose = () => {
        if (!raw.complete) finish(new CancelledError('client-gone'));
      };
      if (inflater) {
        inflater.on('data', deliver);
        inflater.on('end', () => finish(null));
        inflater.on('error', (error) => finish(new HttpProblem('malformed-request', `the body is not valid gzip: ${error.message}`)));
      }
      raw.on('data', onWire);
      raw.on('end', onWireEnd);
      raw.on('close', onClose);
      raw.on('error', onWireError);
      raw.resume();
    });
  }
}

export const bodyPlugin = fp(
  async (app, options: BodyOptions & { graceMs: number }) => {
    const tracker = new BodyTracker(options, options.graceMs);
    app.decorate('bodies', tracker);
    app.addHook('preClose', (done) => {
      tracker.closing();
      done();
    });
    app.addHook('onClose', (_app, done) => {
      tracker.close();
      done();
    });

    const parse = (type: string, request: FastifyRequest, payload: NodeJS.ReadableStream, done: (error: Error | null, body?: unknown) => void) => {
      // Unknown routes, and routes that take no body (a DELETE), read none; if one was still
      // arriving, the answer closes the connection.
      const spec = request.is404 ? undefined : request.routeOptions.config.body;
      if (spec === undefined) return done(null, undefined);
      if (!spec.types.includes(type)) {
        return done(clientError(415, 'UNSUPPORTED_BODY', `${request.method} ${request.routeOptions.url} takes ${spec.types.join(' or ')}, not ${type === '' ? 'a body without a Content-Type' : type}`));
      }
      const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
      if (encoding !== 'identity' && encoding !== 'gzip') {
        return done(clientError(415, 'UNSUPPORTED_ENCODING', `Content-Encoding '${request.headers['content-encoding']}' is not supported; send gzip, or no Content-Encoding`));
      }
      const limit = Math.min(options.bodyLimit, spec.limit?.(request) ?? options.bodyLimit);
      const declared = Number(request.headers['content-length']);
      if (Number.isSafeInteger(declared) && declared > limit) return done(tooLarge(limit, options.bodyLimit));
      if (encoding === 'identity' && declared <= SMALL_BODY_BYTES) return readSmall(request, payload, declared, done);
      done(null, new PendingBody(limit, encoding === 'gzip'));
    };

    /** Reads a small body of a declared length whole; a body that stalls is the watchdog's like any other. */
    const readSmall = (_request: FastifyRequest, payload: NodeJS.ReadableStream, declared: number, done: (error: Error | null, body?: unknown) => void) => {
      const chunks: Buffer[] = [];
      let received = 0;
      const onData = (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        watch.arrived(received);
      };
      const onEnd = () => {
        if (!watch.end()) return;
        // Node's parser holds a body to its Content-Length: a shorter one never ends.
        done(null, new ReadBody(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received)));
      };
      const watch = new SmallBodyWatch(
        tracker,
        declared,
        () => {
          payload.removeListener('data', onData);
          payload.removeListener('end', onEnd);
          (payload as NodeJS.ReadableStream & { pause(): void }).pause();
        },
        done,
      );
      // A client gone mid-body is answered as one gone mid-work: logged and counted, nothing sent.
      const onGone = () => {
        if (!watch.end()) return;
        payload.removeListener('data', onData);
        done(new CancelledError('client-gone'));
      };
      payload.on('data', onData);
      payload.on('end', onEnd);
      payload.on('error', onGone);
      payload.on('close', () => {
        if (!(payload as NodeJS.ReadableStream & { complete?: boolean }).complete) onGone();
      });
    };
    app.removeAllContentTypeParsers();
    // The media types routes take have parsers of their own, which Fastify finds without parsing the header.
    for (const type of ['application/json', 'application/octet-stream']) {
      app.addContentTypeParser(type, (request, payload, done) => parse(type, request, payload, done));
    }
    app.addContentTypeParser('*', (request, payload, done) => parse(mediaTypeOf(request), request, payload, done));

    app.decorate('bodyOf', (request: FastifyRequest, reply: FastifyReply): ByteSource => {
      const pending = request.body;
      if (pending instanceof ReadBody) return pending;
      if (!(pending instanceof PendingBody)) {
        const takes = request.routeOptions.config.body?.types.join(' or ') ?? 'a body';
        throw new HttpProblem('invalid-request', `body is required: ${takes}`);
      }
      return new RequestBody(request, reply, pending.limit, tracker, pending.gzip);
    });
  },
  { name: 'body' },
);
