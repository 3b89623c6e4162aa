/**
 * Shutdown of the real process under what hostile or careless clients leave open: uploads that
 * stall, work that would outlast the grace period, and keep-alive clients hammering the service. Each time the process exits 0 within the grace period, and no answer
 * sent during shutdown invites a client to reuse its connection.
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { rawRequest, statusOf } from '../helpers/sockets.js';

const post = (url: string, path: string, body: unknown) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Sends SIGTERM and waits for the exit: its code, and how long it took. */
async function terminate(server: RunningServer): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  server.child.kill('SIGTERM');
  const { code } = await server.exited;
  return { code, ms: Date.now() - started };
}

describe('shutdown under hostile clients', () => {
  it('a stalled upload is cut off with 503: the process exits 0 at once, not after the grace period', async () => {
    const server = await startServer({ SHUTDOWN_GRACE_MS: '10000' });
    const stalled = await rawRequest(server.url, 'POST /gradient HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: 100000');
    stalled.socket.write('{"modelId":"demo","points":[[0.5,');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { code, ms } = await terminate(server);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(3000);
    await stalled.closed;
    expect(statusOf(stalled.received())).toBe(503);
  }, 30_000);

  it('work that would outlast the grace period is cancelled: its requests get 503 with Retry-After, and the process exits 0 in time', async () => {
    const grace = 2500;
    const server = await startServer({ SHUTDOWN_GRACE_MS: String(grace) });
    const { id } = (await (await post(server.url, '/models', { layers: 50, dim: 32, seed: 9 })).json()) as { id: string };
    const points = Buffer.from(Float64Array.from({ length: 15_000 * 32 }, (_, i) => Math.sin(i)).buffer);
    const requests = Array.from({ length: 12 }, async () => {
      const response = await fetch(`${server.url}/gradient?modelId=${id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' },
        body: points,
      });
      return { status: response.status, retryAfter: response.headers.get('retry-after'), bytes: (await response.arrayBuffer()).byteLength };
    });
    await new Promise((resolve) => setTimeout(resolve, 800));
    const { code, ms } = await terminate(server);
    const answers = await Promise.all(requests);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(grace);
    const statuses = new Set(answers.map((a) => a.status));
    expect([...statuses].every((status) => status === 200 || status === 503)).toBe(true);
    expect(statuses.has(503)).toBe(true);
    for (const answer of answers) {
      if (answer.status === 200) expect(answer.bytes).toBe(15_000 * 33 * 8);
      else expect(answer.retryAfter).toBe('1');
    }
  }, 60_000);

  it('a long flow is stopped between its steps: JSON gets 503, a stream ends with an error line, and the process exits 0 in time', async () => {
    const grace = 2000;
    const server = await startServer({ SHUTDOWN_GRACE_MS: String(grace) });
    // About 20 s of Størmer–Verlet steps each, far past the grace period.
    const body = { hamiltonian: { kinetic: 'demo-pendulum-T', potential: 'demo-pendulum-V' }, method: 'stormer-verlet', h: 0.001, steps: 6_000_000, every: 600_000, initial: [[1, 0]] };
    const json = post(server.url, '/flows', body).then(async (response) => ({ status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() }));
    const stream = fetch(`${server.url}/flows`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' }, body: JSON.stringify(body) }).then(
      async (response) => ({ status: response.status, lines: (await response.text()).trim().split('\n').map((line) => JSON.parse(line)) }),
    );
    await new Promise((resolve) => setTimeout(resolve, 700));
    const { code, ms } = await terminate(server);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(grace);
    const refused = await json;
    expect(refused).toMatchObject({ status: 503, retryAfter: '1', body: { type: '/problems/service-unavailable' } });
    const streamed = await stream;
    expect(streamed.status).toBe(200);
    expect(streamed.lines[0].type).toBe('start');
    expect(streamed.lines.at(-1)).toMatchObject({ type: 'error', problem: { status: 503, type: '/problems/service-unavailable' } });
  }, 60_000);

  it('every answer sent once shutdown has begun says Connection: close, and no client gets a reset', async () => {
    const server = await startServer({ SHUTDOWN_GRACE_MS: '10000' });
    const { port } = new URL(server.url);
    const body = JSON.stringify({ modelId: 'demo', points: [[0.5, -0.25]] });
    const seen: { at: number; connection: string }[] = [];
    const errors: string[] = [];
    let stop = false;
    const client = async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      while (!stop) {
        const outcome = await new Promise<'ok' | 'refused' | 'failed'>((resolve) => {
          const request = http.request({ host: '127.0.0.1', port, path: '/gradient', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (response) => {
            seen.push({ at: performance.now(), connection: String(response.headers.connection) });
            response.resume();
            response.on('end', () => resolve('ok'));
          });
          request.on('error', (error: NodeJS.ErrnoException) => {
            if (error.code === 'ECONNREFUSED') resolve('refused');
            else {
              errors.push(error.code ?? error.message);
              resolve('failed');
            }
          });
          request.end(body);
        });
        if (outcome === 'refused') break;
      }
      agent.destroy();
    };
    const clients = Array.from({ length: 8 }, client);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const { code } = await terminate(server);
    stop = true;
    await Promise.all(clients);
    expect(code).toBe(0);
    const firstClose = seen.find((answer) => answer.connection === "close");
    expect(firstClose).toBeDefined();
    // Answers already on their way when shutdown began may still arrive just after the first that closes.
    const late = seen.filter((answer) => answer.at > firstClose!.at + 50 && answer.connection !== 'close');
    expect(late).toEqual([]);
    expect(errors).toEqual([]);
  }, 30_000);
});
