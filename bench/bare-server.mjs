/**
 * The baseline for npm run bench:http: a bare Fastify POST route that parses the same JSON body
 * as /gradient and answers with the same JSON text, with no validation, kernels or plugins.
 * Plain JavaScript, so that it runs as directly as the service's compiled dist/server.js.
 */
import Fastify from 'fastify';

const answer = process.env.ANSWER ?? '{}';
const app = Fastify({ logger: false });
app.post('/gradient', async (_request, reply) => reply.type('application/json; charset=utf-8').send(answer));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
