import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runServerToExit, startServer } from '../helpers/server.js';
import { BUILT_IN_MODEL_IDS } from '../../src/registry/demo.js';

const post = (url: string, path: string, body: unknown) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A model, and a binary batch heavy enough that each /gradient keeps a worker busy for a while. */
async function slowWork(url: string) {
  const created = await post(url, '/models', { layers: 50, dim: 32, seed: 9 });
  const { id } = (await created.json()) as { id: string };
  const points = Float64Array.from({ length: 15_000 * 32 }, (_, i) => Math.sin(i));
  // The answer is read as it arrives: an unread answer would hold its connection open.
  return async () => {
    const response = await fetch(`${url}/gradient?modelId=${id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' },
      body: Buffer.from(points.buffer),
    });
    return { status: response.status, bytes: (await response.arrayBuffer()).byteLength };
  };
}

/** True when a new TCP connection to the server's port is refused. */
function connectionRefused(url: string): Promise<boolean> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(true));
  });
}

describe('graceful shutdown of the real process', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s, a dozen in-flight /gradient requests all get 200 and the process exits 0 within SHUTDOWN_GRACE_MS',
    async (signal) => {
      const grace = 30_000;
      const server = await startServer({ SHUTDOWN_GRACE_MS: String(grace) });
      const request = await slowWork(server.url);
      let answered = 0;
      const requests = Array.from({ length: 12 }, () => request().finally(() => answered++));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const signalled = Date.now();
      server.child.kill(signal);
      // The work runs on worker threads, so the event loop takes the signal while requests are
      // still running: from then on the port refuses new connections, and readiness probes fail.
      while (!(await connectionRefused(server.url))) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(answered).toBeLessThan(12);
      const responses = await Promise.all(requests);
      const { code } = await server.exited;
      const elapsed = Date.now() - signalled;
      expect(responses.map((r) => r.status)).toEqual(Array(12).fill(200));
      for (const response of responses) expect(response.bytes).toBe(15_000 * 33 * 8);
      expect(code).toBe(0);
      expect(elapsed).toBeLessThan(grace);
      expect(server.logs.some((line) => line.msg === 'closing: finishing in-flight requests' && line.signal === signal)).toBe(true);
      expect(server.logs.at(-1)?.msg).toBe('closed');
    },
    60_000,
  );

  it('exits with code 1 when in-flight work outlasts SHUTDOWN_GRACE_MS', async () => {
    const server = await startServer({ SHUTDOWN_GRACE_MS: '100' });
    const request = await slowWork(server.url);
    const requests = Array.from({ length: 12 }, () => request().catch(() => null));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const signalled = Date.now();
    server.child.kill('SIGTERM');
    const { code } = await server.exited;
    expect(code).toBe(1);
    expect(Date.now() - signalled).toBeLessThan(2_000);
    await Promise.all(requests);
  }, 60_000);
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

  it('says in its first log line where the models live and whether they outlive the process', async () => {
    const inMemory = await startServer();
    inMemory.child.kill('SIGTERM');
    await inMemory.exited;
    expect(inMemory.logs[0]).toMatchObject({ registry: 'memory' });
    expect(inMemory.logs[0]!.msg).toMatch(/models are lost when the process stops \(set REGISTRY_DIR to keep them\)/);

    const dir = mkdtempSync(join(tmpdir(), 'registry-'));
    const onDisk = await startServer({ REGISTRY_DIR: dir });
    onDisk.child.kill('SIGTERM');
    await onDisk.exited;
    expect(onDisk.logs[0]).toMatchObject({ registry: 'files', dir });
    expect(onDisk.logs[0]!.msg).toContain('models survive restarts');
    expect(onDisk.logs.find((line) => line.msg === 'registry: models loaded')).toMatchObject({ models: BUILT_IN_MODEL_IDS.length });
  }, 30_000);
});

describe('the kernel threads', () => {
  const niceness = (pid: number): number[] =>
    readdirSync(`/proc/${pid}/task`).map((task) => {
      // Fields after the command name, which ends with ") "; niceness is field 19 of the line.
      const fields = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(fields[16]);
    });

  it.runIf(process.platform === 'linux')('run at a lower priority than the event loop, which keeps the normal one', async () => {
    const server = await startServer({ WORKERS: '2', WORKER_MIN_FLOPS: '0' });
    const response = await post(server.url, '/gradient', { modelId: 'demo', points: [[1, 2], [3, 4], [5, 6]] });
    expect(response.status).toBe(200);
    const pid = server.child.pid!;
    const levels = niceness(pid);
    expect(levels.filter((level) => level === 10)).toHaveLength(2);
    // The main thread's id is the process id.
    expect(Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[16])).toBe(0);
    server.child.kill('SIGTERM');
    await server.exited;
  }, 30_000);
});
