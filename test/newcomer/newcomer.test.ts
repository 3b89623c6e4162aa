/**
 * A newcomer's first hour, timed, on a clean clone of this repository: the README's commands in
 * order (`npm ci`, `npm start`), a model registered from arrays in the course's layout, one
 * gradient; then a restart with nothing changed, which must answer within 5 s. Slow (it installs
 * and builds everything), so `npm test` leaves it out: `npm run test:newcomer` runs it, and CI does.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'newcomer-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const seconds = (start: number) => Number(((performance.now() - start) / 1000).toFixed(1));

/** `npm start` in the clone, on `port`: resolves once the port answers, with the log lines so far. */
async function npmStart(port: number): Promise<{ child: ChildProcess; logs: Record<string, unknown>[] }> {
  const child = spawn('npm', ['start'], { cwd: dir, env: { ...process.env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const logs: Record<string, unknown>[] = [];
  let buffered = '';
  child.stdout!.on('data', (chunk) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      // npm's own lines come first; the service's are JSON.
      if (line.startsWith('{')) logs.push(JSON.parse(line));
    }
  });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}`);
    const ready = await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.ok, () => false);
    if (ready) return { child, logs };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The process ids below `pid`, from /proc. */
function descendants(pid: number): number[] {
  const parents = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => {
      try {
        return [Number(name), Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1].split(' ')[1])];
      } catch {
        return [Number(name), -1];
      }
    });
  const below = parents.filter(([, parent]) => parent === pid).map(([child]) => child);
  return below.flatMap((child) => [child, ...descendants(child)]);
}

/** Stops the service as an orchestrator does, SIGTERM to its process; npm then exits with its code. */
async function stop(child: ChildProcess): Promise<number | null> {
  // The node process itself, not the shell npm may start it through.
  const server = descendants(child.pid!).find((pid) => {
    const [program, ...args] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return /(^|\/)node$/.test(program!) && args.includes('dist/server.js');
  });
  expect(server).toBeDefined();
  process.kill(server!, 'SIGTERM');
  const [code] = await once(child, 'exit');
  return code as number | null;
}

it('clone, npm ci, npm start, a model from course arrays, one gradient; a restart is up within 5 s', async () => {
  const times: Record<string, number> = {};
  let start = performance.now();
  execFileSync('git', ['clone', '--quiet', root, dir]);
  times.clone = seconds(start);

  start = performance.now();
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'ignore' });
  times.npmCi = seconds(start);

  const port = 39_000 + Math.floor(Math.random() * 1000);
  start = performance.now();
  const first = await npmStart(port);
  times.firstStart = seconds(start);
  expect(first.logs[0]).toMatchObject({ registry: 'memory', msg: expect.stringContaining('lost when the process stops') });

  // The course's layout: W is K×d×d, b is K×d×1, w is d×1.
  start = performance.now();
  const [K, d] = [3, 2];
  const W = Array.from({ length: K }, (_, k) => Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => Math.sin(k + 2 * i + 3 * j))));
  const b = Array.from({ length: K }, (_, k) => Array.from({ length: d }, (_, i) => [0.1 * (k - i)]));
  const w = Array.from({ length: d }, (_, i) => [1 - i]);
  const created = await fetch(`http://127.0.0.1:${port}/models`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'pendulum-V', h: 0.1, W, b, w, mu: 0 }),
  });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };
  const answer = await fetch(`http://127.0.0.1:${port}/gradient`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ modelId: id, points: [[0.5, -0.25]] }),
  });
  expect(answer.status).toBe(200);
  const { gradients } = (await answer.json()) as { gradients: number[][] };
  expect(gradients[0]).toHaveLength(2);
  times.firstGradient = seconds(start);
  expect(await stop(first.child)).toBe(0);

  start = performance.now();
  const second = await npmStart(port);
  times.restart = seconds(start);
  expect(await stop(second.child)).toBe(0);

  console.log(`newcomer path, seconds: ${JSON.stringify(times)}`);
  expect(times.restart).toBeLessThan(5);
}, 600_000);
