import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

/**
 * One log line per request, when it completes, carrying reqId (from the request's child logger),
 * method, route, status and responseTime in ms.
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
}
