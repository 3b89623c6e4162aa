import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { CLIENT_CLOSED_REQUEST } from './metrics.js';

/**
 * One log line per request, when it completes, carrying reqId (from the request's child logger),
 * method, route, status and responseTime in ms; status 499 when the client went away first.
 */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    // Skip building the line when info is off (LOG_LEVEL=warn and above).
    if (!error && !(reply.log as Logger).isLevelEnabled('info')) return;
    const line = {
      method: request.method,
      route: request.routeOptions.url,
      url: request.url,
      status: reply.statusCode,
      responseTime: reply.elapsedTime,
    };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }

  override routeNotFound(): void {}

  /** A client that went away before its answer was out; Fastify completes no request for it. */
  clientGone(request: FastifyRequest, reply: FastifyReply): void {
    if (!(reply.log as Logger).isLevelEnabled('info')) return;
    const line = { method: request.method, route: request.routeOptions.url, url: request.url, status: CLIENT_CLOSED_REQUEST, responseTime: reply.elapsedTime };
    reply.log.info(line, 'client went away before the answer');
  }
}
