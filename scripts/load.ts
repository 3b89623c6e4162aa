/**
 * A bounded loopback load test (npm run load): starts the service as its own process, warms it
 * up, then drives it with autocannon for --duration seconds with a mix of one-point /gradient
 * (the integrator's call), batched /evaluate and /gradient, and create/delete of models. Prints
 * req/s, p50/p99 latency, the non-2xx count (every request sent is valid, so it must be 0), and
 * the server's RSS after warm-up and at the end, whose growth must stay under --rss-bound MiB.
 *
 *   npm run load                          60 s
 *   npm run load -- --duration 10         the CI run
 *   npm run load -- --json                one JSON object
 */
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from './free-port.js';

const { values: options } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    'rss-bound': { type: 'string', default: '64' },
    json: { type: 'boolean', default: false },
  },
});
const duration = Number(options.duration);
const warmup = Number(options.warmup);
const connections = Number(options.connections);
const rssBoundMiB = Number(options['rss-bound']);
const MiB = 1024 * 1024;

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const root = fileURLToPath(new URL('../', import.meta.url));
const server = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
  cwd: root,
  env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const rss = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))![1]) * 1024;

try {
  for (let attempt = 0; ; attempt++) {
    const ready = await fetch(`${url}/health/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (attempt > 100) throw new Error('the service did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const json = { 'content-type': 'application/json' };
  const created = await fetch(`${url}/models`, { method: 'POST', headers: json, body: JSON.stringify({ layers: 20, dim: 4, inputDim: 2, seed: 1 }) });
  const { id: batchModel } = (await created.json()) as { id: string };
  const batch = Array.from({ length: 64 }, (_, i) => [Math.sin(i), Math.cos(i)]);
  type Context = { modelId?: string };
  const requests: autocannon.Request[] = [
    { method: 'POST', path: '/gradient', headers: json, body: JSON.stringify({ modelId: 'demo', points: [[0.5, -0.25]] }) },
    { method: 'POST', path: '/evaluate', headers: json, body: JSON.stringify({ modelId: batchModel, points: batch.slice(0, 16) }) },
    { method: 'POST', path: '/gradient', headers: json, body: JSON.stringify({ modelId: batchModel, points: batch }) },
    { method: 'POST', path: '/gradient', headers: json, body: JSON.stringify({ modelId: 'demo', points: [[1, 0]] }) },
    {
      method: 'POST',
      path: '/models',
      headers: json,
      body: JSON.stringify({ layers: 4, dim: 8, seed: 3 }),
      onResponse: (status: number, body: string, context: Context) => {
        if (status === 201) context.modelId = (JSON.parse(body) as { id: string }).id;
      },
    },
    {
      method: 'DELETE',
      path: '/models/placeholder',
      setupRequest: (request: autocannon.Request, context: Context) => ({ ...request, path: `/models/${context.modelId}` }),
    },
  ];
  const run = (seconds: number) => autocannon({ url, connections, duration: seconds, requests });

  await run(warmup);
  const rssAfterWarmup = rss();
  const result = await run(duration);
  const rssAtEnd = rss();

  const figures = {
    durationSeconds: duration,
    connections,
    requestsPerSecond: Math.round(result.requests.average),
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    rssAfterWarmupMiB: Number((rssAfterWarmup / MiB).toFixed(1)),
    rssAtEndMiB: Number((rssAtEnd / MiB).toFixed(1)),
    rssGrowthMiB: Number(((rssAtEnd - rssAfterWarmup) / MiB).toFixed(1)),
    rssBoundMiB,
  };
  if (options.json) console.log(JSON.stringify(figures));
  else {
    console.log(`loopback load, ${duration} s after ${warmup} s of warm-up, ${connections} connections, Node ${process.version}`);
    console.log('mix per connection: one-point /gradient ×2, 16-point /evaluate, 64-point /gradient (K=20, d=4), create and delete a model');
    console.table(figures);
  }
  const failures = [
    ...(result.non2xx > 0 ? [`${result.non2xx} valid requests got a non-2xx answer`] : []),
    ...(result.errors + result.timeouts > 0 ? [`${result.errors} errors and ${result.timeouts} timeouts`] : []),
    ...(rssAtEnd - rssAfterWarmup > rssBoundMiB * MiB ? [`RSS grew by more than ${rssBoundMiB} MiB after warm-up`] : []),
  ];
  if (failures.length > 0) {
    console.error(`load: ${failures.join('; ')}`);
    process.exitCode = 1;
  }
} finally {
  server.kill('SIGTERM');
  await once(server, 'exit');
}
