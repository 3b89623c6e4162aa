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
 *   npm run load -- --registry postgres   the same mix on the PostgreSQL registry (REGISTRY_URL, or a
 *                                         throwaway cluster), after one-point /gradient throughput on
 *                                         it and on the in-memory registry side by side, in one run:
 *                                         the PostgreSQL one must reach 0.95× (compute never waits on
 *                                         the database)
 */
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from './free-port.js';
import { havePostgres, startCluster, type Cluster } from './postgres-cluster.js';

const { values: options } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    'rss-bound': { type: 'string', default: '64' },
    json: { type: 'boolean', default: false },
    registry: { type: 'string', default: 'memory' },
    'compare-seconds': { type: 'string', default: '2' },
    'compare-rounds': { type: 'string', default: '15' },
  },
});
if (options.registry !== 'memory' && options.registry !== 'postgres') throw new Error(`--registry is memory or postgres, not ${options.registry}`);
const duration = Number(options.duration);
const warmup = Number(options.warmup);
const connections = Number(options.connections);
const rssBoundMiB = Number(options['rss-bound']);
const MiB = 1024 * 1024;

const root = fileURLToPath(new URL('../', import.meta.url));

interface Service {
  readonly url: string;
  readonly rss: () => number;
  stop(): Promise<void>;
}

/** Starts the service as its own process and waits until it is ready. */
async function startService(env: Record<string, string>): Promise<Service> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const stop = async () => {
    if (server.exitCode !== null || server.signalCode !== null) return;
    server.kill('SIGTERM');
    await once(server, 'exit');
  };
  for (let attempt = 0; ; attempt++) {
    const ready = await fetch(`${url}/health/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (attempt > 300) {
      await stop();
      throw new Error('the service did not become ready');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))![1]) * 1024, stop };
}

let cluster: Cluster | undefined;
let registryUrl = process.env.REGISTRY_URL;
if (options.registry === 'postgres' && registryUrl === undefined) {
  if (!havePostgres) throw new Error('--registry postgres needs REGISTRY_URL or the PostgreSQL server binaries (apt-get install postgresql)');
  cluster = await startCluster();
  registryUrl = await cluster.createDatabase();
}
const registryEnv: Record<string, string> = options.registry === 'postgres' ? { REGISTRY_URL: registryUrl! } : {};
const services: Service[] = [];
// The in-memory service to compare with starts first: neither comparison side is the later-started process.
const memoryService = options.registry === 'postgres' ? await startService({}) : undefined;
if (memoryService) services.push(memoryService);
const service = await startService(registryEnv);
services.push(service);
const { url, rss } = service;

try {
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

  // The comparison runs first, before the mix's creates and deletes leave the database work to do (autovacuum).
  const compared = options.registry === 'postgres' ? await compareRegistries() : [];
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
    registry: options.registry,
  };
  if (options.json) console.log(JSON.stringify(figures));
  else {
    console.log(`loopback load, ${duration} s after ${warmup} s of warm-up, ${connections} connections, Node ${process.version}, registry ${options.registry}`);
    console.log('mix per connection: one-point /gradient ×2, 16-point /evaluate, 64-point /gradient (K=20, d=4), create and delete a model');
    console.table(figures);
  }
  const failures = [
    ...(result.non2xx > 0 ? [`${result.non2xx} valid requests got a non-2xx answer`] : []),
    ...(result.errors + result.timeouts > 0 ? [`${result.errors} errors and ${result.timeouts} timeouts`] : []),
    ...(rssAtEnd - rssAfterWarmup > rssBoundMiB * MiB ? [`RSS grew by more than ${rssBoundMiB} MiB after warm-up`] : []),
  ];
  failures.push(...compared);
  if (failures.length > 0) {
    console.error(`load: ${failures.join('; ')}`);
    process.exitCode = 1;
  }
} finally {
  for (const running of services) await running.stop();
  cluster?.destroy();
}

/**
 * One-point /gradient on the demo model against the PostgreSQL registry's service and a service
 * on the in-memory registry at the same time, half the connections each, so that the machine's
 * load falls on both alike; the median over the rounds of the ratio of their throughputs.
 */
async function compareRegistries(): Promise<string[]> {
  const memory = memoryService!;
  const seconds = Number(options['compare-seconds']);
  const rounds = Number(options['compare-rounds']);
  const onePoint: autocannon.Request[] = [
    { method: 'POST', path: '/gradient', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ modelId: 'demo', points: [[0.5, -0.25]] }) },
  ];
  const both = (duration: number) =>
    Promise.all([memory, service].map((target) => autocannon({ url: target.url, connections: Math.max(1, connections / 2), duration, requests: onePoint })));
  // Both warm (compiled, caches filled) before anything counts: throughput still climbs for a
  // few seconds after start-up.
  await both(6);
  const throughput = { memory: [] as number[], postgres: [] as number[] };
  const ratios: number[] = [];
  let failed = 0;
  for (let round = 0; round < rounds; round++) {
    const [onMemory, onPostgres] = await both(seconds);
    failed += onMemory.non2xx + onMemory.errors + onMemory.timeouts + onPostgres.non2xx + onPostgres.errors + onPostgres.timeouts;
    throughput.memory.push(onMemory.requests.average);
    throughput.postgres.push(onPostgres.requests.average);
    ratios.push(onPostgres.requests.average / onMemory.requests.average);
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  const ratio = Number.isInteger(middle) ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[Math.floor(middle)];
  const figures = {
    rounds: `${rounds} × ${seconds} s, ${Math.max(1, connections / 2)} connections to each`,
    memoryRequestsPerSecond: throughput.memory.map(Math.round).join(', '),
    postgresRequestsPerSecond: throughput.postgres.map(Math.round).join(', '),
    ratios: ratios.map((r) => r.toFixed(3)).join(', '),
    medianRatio: Number(ratio.toFixed(3)),
  };
  if (options.json) console.log(JSON.stringify(figures));
  else {
    console.log('one-point /gradient on the demo model, PostgreSQL registry ÷ in-memory registry, side by side:');
    console.table(figures);
  }
  return [
    ...(ratio < 0.95 ? [`one-point /gradient on the PostgreSQL registry reached ${ratio.toFixed(3)}× the in-memory throughput, under 0.95×`] : []),
    ...(failed > 0 ? [`${failed} one-point requests failed`] : []),
  ];
}
