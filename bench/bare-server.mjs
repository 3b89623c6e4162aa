/**
 * The baseline for npm run bench:http: a bare Fastify POST route that parses the same JSON body
 * as /gradient and answers with the same JSON text, with no validation, kernels or plugins.
 * Plain JavaScript, so that it runs as directly as the service's compiled dist/server.js.
 *
 * LAYERS (comma-separated) adds the service's per-request machinery one layer at a time, for the
 * CPU-per-request ladder: `logger` (pino at warn, a child logger per request), `hooks` (request
 * ids, an onSend hook setting two headers, an onResponse hook), `schemas` (the route's body and
 * querystring schemas from dist/, validated by Ajv), `compute` (the least a route must do to answer
 * for real: the points into a Float64Array, the kernels' valueAndGradient for the K = 20, d = 4
 * model of seed 0, and the answer by JSON.stringify; the same numbers and text as the service).
 */
import Fastify from 'fastify';

const answer = process.env.ANSWER ?? '{}';
const layers = new Set((process.env.LAYERS ?? '').split(',').filter(Boolean));
let requests = 0;
const app = Fastify({
  logger: layers.has('logger') ? { level: 'warn' } : false,
  ...(layers.has('hooks') ? { genReqId: () => `bench-${(++requests).toString(36)}` } : {}),
});
if (layers.has('hooks')) {
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
    done(null, payload);
  });
  app.addHook('onResponse', (_request, _reply, done) => done());
}
let options = {};
if (layers.has('schemas')) {
  const { ComputeBody, ComputeQuery } = await import('../dist/http/schemas/compute.js');
  options = { schema: { querystring: ComputeQuery, body: { content: { 'application/json': { schema: ComputeBody } } } } };
}
let handler = async (_request, reply) => reply.type('application/json; charset=utf-8').send(answer);
if (layers.has('compute')) {
  const { createModel, randomParameters, valueAndGradient } = await import('../dist/kernels/index.js');
  const model = createModel(randomParameters({ layers: 20, dim: 4, seed: 0 }));
  const d = model.inputDim;
  handler = async (request, reply) => {
    const { modelId, points } = request.body;
    const flat = new Float64Array(points.length * d);
    points.forEach((point, i) => flat.set(point, i * d));
    const { values, gradients } = valueAndGradient(model, flat);
    const rows = Array.from(values, (_, i) => Array.from(gradients.subarray(i * d, (i + 1) * d)));
    return reply.type('application/json; charset=utf-8').send(JSON.stringify({ modelId, modelVersion: 1, values: Array.from(values), gradients: rows }));
  };
}
app.post('/gradient', options, handler);
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
