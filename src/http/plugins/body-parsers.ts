/**
 * Request bodies: JSON only (text/plain, which Fastify accepts by default, gets 415). The JSON
 * parser is Fastify's own choice, secure-json-parse, refusing __proto__ and constructor.prototype
 * keys; it is registered here so that a syntax error's position reaches the client.
 */
import type { FastifyError } from 'fastify';
import fp from 'fastify-plugin';
import secureJson from 'secure-json-parse';

const parseOptions = { protoAction: 'error', constructorAction: 'error' } as const;

function malformed(message: string): FastifyError {
  return Object.assign(new Error(message), { statusCode: 400, code: 'MALFORMED_JSON', name: 'MalformedJson' }) as FastifyError;
}

export const bodyParsersPlugin = fp(
  async (app) => {
    app.removeContentTypeParser(['text/plain', 'application/json']);
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      if (body.length === 0) return done(malformed('the body is empty; send a JSON object'), undefined);
      try {
        done(null, secureJson.parse(body as string, undefined, parseOptions));
      } catch (error) {
        done(malformed(`the body is not valid JSON: ${(error as Error).message}`), undefined);
      }
    });
  },
  { name: 'body-parsers' },
);
