import { describe, expect, it } from 'vitest';
import { runServerToExit, startServer } from '../helpers/server.js';

const post = (url: string, path: string, body: unknown) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A model and a batch heavy enough that each /gradient takes a noticeable time. */
async function slowWork(url: string) {
  const created = await post(url, '/models', { layers: 50, dim: 32, seed: 9 });
  const { id } = (await created.json()) as { id: string };
  const points = Array.from({ length: 1500 }, (_, p) => Array.from({ length: 32 }, (_, i) => Math.sin(p * 32 + i)));
  return { modelId: id, points };
}

describe('graceful shutdown of the real process', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s, a dozen in-flight /gradient requests all get 200 and the process exits 0 within SHUTDOWN_GRACE_MS',
    async (signal) => {
      const grace = 30_000;
      const server = await startServer({ SHUTDOWN_GRACE_MS: String(grace) });
      const body = await slowWork(server.url);
      const requests = Array.from({ length: 12 }, () => post(server.url, '/gradient', body));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const signalled = Date.now();
      server.child.kill(signal);
      const responses = await Promise.all(requests);
      const { code } = await server.exited;
      const elapsed = Date.now() - signalled;
      expect(responses.map((r) => r.status)).toEqual(Array(12).fill(200));
      for (const response of responses) expect(((await response.json()) as { values: number[] }).values).toHaveLength(1500);
      expect(code).toBe(0);
      expect(elapsed).toBeLessThan(grace);
      expect(server.logs.some((line) => line.msg === 'closing: finishing in-flight requests' && line.signal === signal)).toBe(true);
      expect(server.logs.at(-1)?.msg).toBe('closed');
    },
    60_000,
  );
});

describe('start-up', () => {
  it.each([
    [{ PORT: 'abc' }, /PORT must be integer \(got "abc"\)/],
    [{ MAX_POINTS: '-1' }, /MAX_POINTS must be >= 1/],
    [{ SHUTDOWN_GRACE_MS: 'soon' }, /SHUTDOWN_GRACE_MS must be integer/],
  ])('a bad value %j stops the process with a message naming the variable', async (env, message) => {
    const { code, stderr } = await runServerToExit(env);
    expect(code).toBe(1);
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('logs JSON lines when stdout is not a terminal', async () => {
    const server = await startServer();
    await fetch(`${server.url}/health/live`);
    server.child.kill('SIGTERM');
    await server.exited;
    expect(server.logs.find((line) => line.msg === 'request completed')).toMatchObject({ route: '/health/live', status: 200 });
  }, 30_000);
});
