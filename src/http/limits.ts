/**
 * The largest body each route can need, from the limits on what it carries (MAX_POINTS of the
 * widest model registered, MAX_MODEL_WEIGHTS), so that a larger declared body is refused before
 * a byte of it is read. BODY_LIMIT caps them all.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** The most bytes of JSON text a number may take with its separator and any whitespace, as these limits count it. */
export const JSON_BYTES_PER_NUMBER = 64;
/** Room for everything in a body but its numbers. */
export const ENVELOPE_BYTES = 64 * 1024;

const binary = (request: FastifyRequest): boolean => (request.headers['content-type'] ?? '').toLowerCase().startsWith('application/octet-stream');

/** A compute body: `arrays` arrays of points (points, and vectors for some operations). */
export const computeBodyLimit = (app: FastifyInstance, arrays = 1) => (request: FastifyRequest): number => {
  const numbers = arrays * app.config.MAX_POINTS * app.registry.widestInput();
  return binary(request) ? 8 * numbers : ENVELOPE_BYTES + JSON_BYTES_PER_NUMBER * numbers;
};

/** A model document: W, b and w hold at most about twice MAX_MODEL_WEIGHTS numbers. */
export const modelBodyLimit = (app: FastifyInstance) => (): number => ENVELOPE_BYTES + JSON_BYTES_PER_NUMBER * 2 * app.config.MAX_MODEL_WEIGHTS;
