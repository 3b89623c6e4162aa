/**
 * End-to-end benchmark of the service over loopback HTTP (npm run bench:http). Every figure is
 * taken in this one run, against servers started here as their own processes: the service as
 * `npm start` runs it (the compiled dist/server.js, built by prebench:http), and the baseline.
 *
 *  1. one-point /gradient throughput (K = 20, d = 4, autocannon, 16 connections) against a bare
 *     Fastify POST route answering the same body, at LOG_LEVEL=warn and at the default info, and
 *     against bare Fastify doing only what the route must (pino, hooks, schemas, the kernel,
 *     JSON.stringify); and the servers' CPU time per request, from bare Fastify up to the service
 *     layer by layer;
 *  2. a 100,000-point /gradient (K = 20, d = 4) with binary and with JSON payloads, against the
 *     kernels' own time for the same batch on one thread, in this process; and the same points
 *     through the Open Inference Protocol's /v2/models/…/infer with binary tensor data;
 *  3. the event loop while a 1,000,000-point binary /gradient runs: GET /health/live latencies,
 *     probed from a process of its own;
 *  4. that request with WORKERS=1 and WORKERS=2, in alternating rounds;
 *  5. where the worker pool starts to pay: small batches on the main thread against the pool;
 *  6. Hamiltonian flows: 10,000 Størmer–Verlet steps by POST /flows against a client calling
 *     /gradient twice a step, and an ensemble against the kernels alone (this build only: a
 *     baseline may not have /flows).
 *
 * Rounds alternate between the servers, and figures are medians, because the machine is shared.
 *
 * With --baseline, every figure of the service is also taken for another build of it (another
 * checkout, built: its dist/server.js), in the same rounds, and a side-by-side table gives each
 * figure for both and their ratio.
 *
 *   npm run bench:http                     all of it (a few minutes)
 *   npm run bench:http -- --baseline ../old  the same for ../old too, side by side
 *   npm run bench:http -- --seconds 3      autocannon seconds per round (default 5)
 *   npm run bench:http -- --json           one JSON object
 *   npm run bench:http -- --only one,large  some of: one, cpu, large, loop, scaling, threshold
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createModel, evaluateInto, normalGenerator, randomParameters, valueAndGradientInto } from '../src/kernels/index.js';
import { pendulumKinetic, pendulumPotential } from '../src/registry/pendulum.js';
import { freePort } from '../scripts/free-port.js';

const { values: options } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    only: { type: 'string', default: 'one,cpu,large,loop,scaling,threshold,flows' },
    baseline: { type: 'string' },
  },
});
const seconds = Number(options.seconds);
const rounds = Number(options.rounds);
const sections = new Set(options.only.split(','));
const root = fileURLToPath(new URL('../', import.meta.url));

/** The builds of the service measured: this checkout's, and the baseline's when given. */
interface Build {
  readonly label: string;
  readonly root: string;
}
const builds: Build[] = [{ label: 'this build', root }, ...(options.baseline ? [{ label: 'baseline', root: resolve(options.baseline) }] : [])];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const percentile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

interface Server {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

async function start(script: string, env: Record<string, string>, cwd = root): Promise<Server> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, script.endsWith('.ts') ? ['--import', 'tsx', script] : [script], {
    cwd,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    const up = await fetch(`${url}/gradient`, { method: 'POST' }).then(() => true, () => false);
    if (up) break;
    if (attempt > 200) throw new Error(`${script} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** The service as npm start runs it. */
const SERVICE = 'dist/server.js';

const json = { 'content-type': 'application/json', 'accept-encoding': 'identity' };
const binary = { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' };

const agent = new http.Agent({ keepAlive: true });

/**
 * Time to the last byte of the answer, read as it streams in (not gathered into one buffer). The
 * client is node:http on a kept-alive connection: fetch's web streams spent ~450 ms of their own
 * moving the 72 MB of a 10⁶-point request, more than the service took to compute it.
 */
function post(url: string, path: string, body: string | Buffer, headers: Record<string, string>): Promise<{ ms: number; length: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const request = http.request(
      { host: hostname, port, path, method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
      (response) => {
        let length = 0;
        const failed = response.statusCode !== 200;
        const text: Buffer[] = [];
        response.on('data', (chunk: Buffer) => {
          length += chunk.length;
          if (failed) text.push(chunk);
        });
        response.on('end', () => {
          if (failed) reject(new Error(`${path} answered ${response.statusCode}: ${Buffer.concat(text).toString().slice(0, 300)}`));
          else resolve({ ms: performance.now() - start, length });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * GET /health/live every 5 ms from a process of its own (so that this process's handling of the
 * large transfer does not count), until it is killed; prints one latency in ms per line.
 */
const PROBE = `
const url = process.argv[1];
for (;;) {
  const start = performance.now();
  await fetch(url).then((r) => r.arrayBuffer());
  console.log(performance.now() - start);
  await new Promise((resolve) => setTimeout(resolve, 5));
}`;

async function createBatchModel(url: string): Promise<string | undefined> {
  const response = await fetch(`${url}/models`, { method: 'POST', headers: json, body: JSON.stringify({ layers: 20, dim: 4, seed: 0 }) });
  return ((await response.json()) as { id: string }).id;
}

const points = (n: number) => Float64Array.from({ length: n * 4 }, normalGenerator(1));

// ---- 1. one point ------------------------------------------------------------------------------

/** A K = 20, d = 4 model on the server, and a one-point /gradient body for it. */
async function onePointBody(url: string): Promise<string> {
  // The bare server makes no models; it gets a body of the same shape and length.
  const modelId = (await createBatchModel(url)) ?? '00000000-0000-4000-8000-000000000000';
  return JSON.stringify({ modelId, points: [[0.5, -0.25, 0.125, 1]] });
}

async function throughput(url: string): Promise<number> {
  const body = await onePointBody(url);
  const run = (duration: number) =>
    autocannon({ url: `${url}/gradient`, method: 'POST', headers: json, body, connections: 16, duration });
  await run(2);
  const result = await run(seconds);
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

async function onePointThroughput() {
  const sample = await start(SERVICE, {});
  const answer = await (await fetch(`${sample.url}/gradient`, { method: 'POST', headers: json, body: await onePointBody(sample.url) })).text();
  await sample.stop();
  const contenders: [string, string, Record<string, string>, string][] = [
    ['bare', 'bench/bare-server.mjs', { ANSWER: answer }, root],
    // Bare Fastify doing the least the route must: pino, hooks, schemas, the kernel, JSON.stringify.
    ['floor', 'bench/bare-server.mjs', { LAYERS: 'logger,hooks,schemas,compute' }, root],
    ...builds.flatMap((build): [string, string, Record<string, string>, string][] => [
      [`warn ${build.label}`, SERVICE, { LOG_LEVEL: 'warn' }, build.root],
      [`info ${build.label}`, SERVICE, { LOG_LEVEL: 'info' }, build.root],
    ]),
  ];
  const rates = new Map(contenders.map(([name]) => [name, [] as number[]]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, script, env, cwd] of contenders) {
      const server = await start(script, env, cwd);
      rates.get(name)!.push(await throughput(server.url));
      await server.stop();
    }
  }
  const rate = (name: string) => median(rates.get(name)!);
  const bare = rate('bare');
  return builds.map((build) => ({
    build: build.label,
    bareRequestsPerSecond: Math.round(bare),
    oursRequestsPerSecond: Math.round(rate(`warn ${build.label}`)),
    oursAtInfoRequestsPerSecond: Math.round(rate(`info ${build.label}`)),
    bareDoingTheWorkRequestsPerSecond: Math.round(rate('floor')),
    ratio: Number((rate(`warn ${build.label}`) / bare).toFixed(3)),
    ratioAtInfo: Number((rate(`info ${build.label}`) / bare).toFixed(3)),
    bareDoingTheWorkRatio: Number((rate('floor') / bare).toFixed(3)),
  }));
}

/** CPU time (user + system) the process has used so far, in µs, from /proc (Linux only). */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / 100) * 1e6;
}

/**
 * Server CPU per one-point request, layer by layer from bare Fastify up to the service: since
 * bare Fastify keeps its core busy, the throughput ratio follows these times. Each server gets
 * 20,000 requests of warm-up, then its CPU time over 40,000 more is divided among them.
 */
async function cpuLadder() {
  if (process.platform !== 'linux') return undefined;
  const sample = await start(SERVICE, {});
  const sampleBody = await onePointBody(sample.url);
  const answer = await (await fetch(`${sample.url}/gradient`, { method: 'POST', headers: json, body: sampleBody })).text();
  await sample.stop();
  const rungs: [string, string, Record<string, string>, string][] = [
    ['bare Fastify', 'bench/bare-server.mjs', { ANSWER: answer }, root],
    ['+ pino at warn', 'bench/bare-server.mjs', { ANSWER: answer, LAYERS: 'logger' }, root],
    ['+ request ids, onSend, onResponse', 'bench/bare-server.mjs', { ANSWER: answer, LAYERS: 'logger,hooks' }, root],
    ['+ the route schemas', 'bench/bare-server.mjs', { ANSWER: answer, LAYERS: 'logger,hooks,schemas' }, root],
    ['+ the kernel and JSON.stringify', 'bench/bare-server.mjs', { LAYERS: 'logger,hooks,schemas,compute' }, root],
    ...builds.map((build): [string, string, Record<string, string>, string] => [builds.length > 1 ? `the service (${build.label})` : 'the service', SERVICE, { LOG_LEVEL: 'warn' }, build.root]),
    // Not a rung: the work alone on bare Fastify, without logging, hooks or validation.
    ['bare Fastify with only the kernel and JSON.stringify', 'bench/bare-server.mjs', { LAYERS: 'compute' }, root],
  ];
  const micros = new Map<string, number[]>();
  for (let round = 0; round < Math.max(rounds, 4); round++) {
    for (const [name, script, env, cwd] of rungs) {
      const server = await start(script, env, cwd);
      if (env.LAYERS?.includes('compute')) {
        // The rung that computes must answer what the service answers, to the byte.
        const text = await (await fetch(`${server.url}/gradient`, { method: 'POST', headers: json, body: sampleBody })).text();
        if (text !== answer) throw new Error(`${name} answered ${text}, the service ${answer}`);
      }
      const body = await onePointBody(server.url);
      const run = (amount: number) =>
        autocannon({ url: `${server.url}/gradient`, method: 'POST', headers: json, body, connections: 16, amount });
      await run(20_000);
      const before = cpuMicros(server.pid);
      const result = await run(40_000);
      if (result.non2xx > 0) throw new Error(`${name}: ${result.non2xx} non-2xx`);
      const perRequest = (cpuMicros(server.pid) - before) / 40_000;
      micros.set(name, [...(micros.get(name) ?? []), perRequest]);
      await server.stop();
    }
  }
  return rungs.map(([name]) => ({ server: name, cpuMicrosecondsPerRequest: Number(median(micros.get(name)!).toFixed(1)) }));
}

// ---- 2. a large batch ----------------------------------------------------------------------------

function kernelMs(n: number): number {
  const model = createModel(randomParameters({ layers: 20, dim: 4, seed: 0 }));
  const input = points(n);
  const values = new Float64Array(n);
  const gradients = new Float64Array(n * 4);
  const times: number[] = [];
  for (let i = 0; i < 9; i++) {
    const start = performance.now();
    valueAndGradientInto(model, input, values, gradients);
    times.push(performance.now() - start);
  }
  return median(times.slice(2));
}

async function largeBatch() {
  const n = 100_000;
  const servers = await Promise.all(builds.map((build) => start(SERVICE, {}, build.root)));
  const input = points(n);
  const asBinary = Buffer.from(input.buffer);
  const requests = await Promise.all(
    servers.map(async (server) => {
      const modelId = await createBatchModel(server.url);
      // Bytes, as a client holding its body would send them: encoding an 8 MB string is the client's work.
      const asJson = Buffer.from(JSON.stringify({ modelId, points: Array.from({ length: n }, (_, p) => Array.from(input.subarray(p * 4, p * 4 + 4))) }));
      // The Open Inference Protocol's binary tensor data extension, where the build has it: the same points and outputs.
      const header = Buffer.from(
        JSON.stringify({
          inputs: [{ name: 'points', shape: [n, 4], datatype: 'FP64', parameters: { binary_data_size: asBinary.length } }],
          outputs: [{ name: 'value' }, { name: 'gradient' }],
          parameters: { binary_data_output: true },
        }),
      );
      const asInference = Buffer.concat([header, asBinary]);
      const speaksProtocol = (await fetch(`${server.url}/v2`)).ok;
      return {
        binary: () => post(server.url, `/gradient?modelId=${modelId}`, asBinary, binary),
        json: () => post(server.url, '/gradient', asJson, json),
        inference: speaksProtocol
          ? () => post(server.url, `/v2/models/${modelId}/infer`, asInference, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) })
          : undefined,
        jsonBodyMB: asJson.length / 1e6,
      };
    }),
  );
  // One of each first, untimed: the first requests of a kind fault in the server's recycled memory.
  for (const request of requests) {
    await request.binary();
    await request.json();
    await request.inference?.();
  }
  const kernel: number[] = [];
  const binaryMs = builds.map(() => [] as number[]);
  const jsonMs = builds.map(() => [] as number[]);
  const inferenceMs = builds.map(() => [] as number[]);
  for (let round = 0; round < 15; round++) {
    kernel.push(kernelMs(n));
    for (const [b, request] of requests.entries()) {
      binaryMs[b].push((await request.binary()).ms);
      jsonMs[b].push((await request.json()).ms);
      if (request.inference) inferenceMs[b].push((await request.inference()).ms);
    }
  }
  for (const server of servers) await server.stop();
  const k = median(kernel);
  return builds.map((build, b) => ({
    build: build.label,
    points: n,
    kernelMs: Number(k.toFixed(1)),
    binaryMs: Number(median(binaryMs[b]).toFixed(1)),
    jsonMs: Number(median(jsonMs[b]).toFixed(1)),
    binaryRatio: Number((median(binaryMs[b]) / k).toFixed(2)),
    jsonRatio: Number((median(jsonMs[b]) / k).toFixed(2)),
    jsonBodyMB: Number(requests[b].jsonBodyMB.toFixed(1)),
    // /v2/models/…/infer with binary tensor data, and its time over the native binary route's, in the same rounds.
    ...(inferenceMs[b].length > 0
      ? { inferenceBinaryMs: Number(median(inferenceMs[b]).toFixed(1)), inferenceOverBinary: Number((median(inferenceMs[b]) / median(binaryMs[b])).toFixed(3)) }
      : {}),
  }));
}

// ---- 3 and 4. a million points ---------------------------------------------------------------------

const MILLION = 1_000_000;

/** A server with the K = 20, d = 4 model, warmed up by one 10⁶-point request. */
async function millionPointServer(workers: number, body: Buffer, build: Build) {
  const server = await start(SERVICE, { WORKERS: String(workers) }, build.root);
  const modelId = await createBatchModel(server.url);
  const send = () => post(server.url, `/gradient?modelId=${modelId}`, body, binary);
  await send();
  return { server, send };
}

/** The 10⁶-point request, three times on each build, with /health/live probed while it runs. */
async function probedMillion() {
  const body = Buffer.from(points(MILLION).buffer);
  const figures = [];
  for (const build of builds) {
    const { server, send } = await millionPointServer(2, body, build);
    const times: number[] = [];
    const health: number[] = [];
    for (let round = 0; round < 3; round++) {
      const prober = spawn(process.execPath, ['--input-type=module', '-e', PROBE, `${server.url}/health/live`], { stdio: ['ignore', 'pipe', 'inherit'] });
      let output = '';
      prober.stdout!.on('data', (chunk) => (output += chunk));
      // Let the prober get going, then time the request while it probes.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const probedFrom = output.split('\n').filter(Boolean).length;
      times.push((await send()).ms);
      prober.kill();
      await once(prober, 'exit');
      health.push(...output.split('\n').filter(Boolean).slice(probedFrom).map(Number));
    }
    await server.stop();
    figures.push({
      build: build.label,
      points: MILLION,
      requestMs: Number(median(times).toFixed(0)),
      healthProbes: health.length,
      healthP50Ms: Number(percentile(health, 0.5).toFixed(2)),
      healthP99Ms: Number(percentile(health, 0.99).toFixed(2)),
      healthMaxMs: Number(Math.max(...health).toFixed(2)),
    });
  }
  return figures;
}

/**
 * The 10⁶-point request with WORKERS=1 and WORKERS=2, all servers up and the rounds alternating,
 * without a prober (which takes CPU of its own).
 */
async function scaling() {
  const body = Buffer.from(points(MILLION).buffer);
  const servers = [];
  for (const build of builds) servers.push({ build, one: await millionPointServer(1, body, build), two: await millionPointServer(2, body, build) });
  const times = servers.map(() => ({ one: [] as number[], two: [] as number[] }));
  for (let round = 0; round < Math.max(rounds, 5); round++) {
    for (const [b, { one, two }] of servers.entries()) {
      times[b].one.push((await one.send()).ms);
      times[b].two.push((await two.send()).ms);
    }
  }
  for (const { one, two } of servers) {
    await one.server.stop();
    await two.server.stop();
  }
  return servers.map(({ build }, b) => ({
    build: build.label,
    oneWorkerMs: Number(median(times[b].one).toFixed(0)),
    twoWorkersMs: Number(median(times[b].two).toFixed(0)),
    speedup: Number((median(times[b].one) / median(times[b].two)).toFixed(2)),
  }));
}

// ---- 5. the pool's threshold ----------------------------------------------------------------------

async function threshold() {
  const sizes = [1, 16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536];
  const servers = [];
  for (const build of builds) {
    const main = await start(SERVICE, { WORKERS: '0' }, build.root);
    const pool = await start(SERVICE, { WORKERS: '2', WORKER_MIN_FLOPS: '0' }, build.root);
    servers.push({ build, main, pool, models: [await createBatchModel(main.url), await createBatchModel(pool.url)] });
  }
  const rows = [];
  for (const n of sizes) {
    const points = Array.from({ length: n }, (_, p) => [Math.sin(p), Math.cos(p), 0.5, -0.5]);
    const samples = servers.map(() => ({ main: [] as number[], pool: [] as number[] }));
    const bodies = servers.map(({ models }) => models.map((modelId) => Buffer.from(JSON.stringify({ modelId, points }))));
    // Alternating, the first five of each left out as warm-up.
    for (let i = 0; i < 30; i++) {
      for (const [b, { main, pool }] of servers.entries()) {
        samples[b].main.push((await post(main.url, '/gradient', bodies[b][0], json)).ms);
        samples[b].pool.push((await post(pool.url, '/gradient', bodies[b][1], json)).ms);
      }
    }
    for (const [b, { build }] of servers.entries()) {
      rows.push({
        build: build.label,
        points: n,
        flops: 4 * 20 * 16 * n,
        mainThreadMs: Number(median(samples[b].main.slice(5)).toFixed(3)),
        poolMs: Number(median(samples[b].pool.slice(5)).toFixed(3)),
      });
    }
  }
  for (const { main, pool } of servers) {
    await main.stop();
    await pool.stop();
  }
  return rows;
}

// ---- 6. Hamiltonian flows ----------------------------------------------------------------------------

const pendulum = { kinetic: 'demo-pendulum-T', potential: 'demo-pendulum-V' };

/**
 * 10,000 Størmer–Verlet steps of one state of the learned pendulum (K = 8, d = 4, n = 1): by
 * POST /flows, and by a client that calls /gradient twice a step (∇T(p½), then ∇V(q′), reusing
 * ∇V(q) from the step before) over one kept-alive connection, as a user integrating by hand would.
 * And an ensemble of 1,000 states × 1,000 steps by /flows, against the kernels' own time for the
 * same network calls (∇T, ∇V and T at 1,000 points a step, one thread, no scaling).
 */
async function flows() {
  const measured = builds.slice(0, 1);
  const servers = [await start(SERVICE, {}, root)];
  const h = 0.01;
  const steps = 10_000;
  const oneState = JSON.stringify({ hamiltonian: pendulum, method: 'stormer-verlet', h, steps, every: 100, initial: [[1, 0]] });
  const ensemble = JSON.stringify({
    hamiltonian: pendulum,
    method: 'stormer-verlet',
    h,
    steps: 1000,
    every: 1000,
    initial: Array.from({ length: 1000 }, (_, i) => [Math.sin(i), Math.cos(i)]),
  });
  const byHand = async (url: string) => {
    const gradient = async (modelId: string, x: number) => {
      const { body } = await postJson(url, '/gradient', JSON.stringify({ modelId, points: [[x]] }));
      return (body as { gradients: number[][] }).gradients[0][0];
    };
    const start = performance.now();
    let q = 1;
    let p = 0;
    let dV = await gradient(pendulum.potential, q);
    for (let s = 0; s < steps; s++) {
      const half = p - (h / 2) * dV;
      q += h * (await gradient(pendulum.kinetic, half));
      dV = await gradient(pendulum.potential, q);
      p = half - (h / 2) * dV;
    }
    return { ms: performance.now() - start, q, p };
  };
  const T = createModel(pendulumKinetic);
  const V = createModel(pendulumPotential);
  const kernelEnsembleMs = () => {
    const x = Float64Array.from({ length: 1000 }, (_, i) => Math.sin(i) / 4);
    const values = new Float64Array(1000);
    const gradients = new Float64Array(1000);
    const start = performance.now();
    for (let s = 0; s < 1000; s++) {
      valueAndGradientInto(T, x, values, gradients);
      valueAndGradientInto(V, x, values, gradients);
      evaluateInto(T, x, values);
    }
    return performance.now() - start;
  };
  // Warm-up, untimed.
  for (const server of servers) {
    await post(server.url, '/flows', oneState, json);
    await post(server.url, '/flows', ensemble, json);
  }
  kernelEnsembleMs();
  const flowMs = measured.map(() => [] as number[]);
  const handMs = measured.map(() => [] as number[]);
  const ensembleMs = measured.map(() => [] as number[]);
  const kernel: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const [b, server] of servers.entries()) {
      for (let i = 0; i < 5; i++) flowMs[b].push((await post(server.url, '/flows', oneState, json)).ms);
      handMs[b].push((await byHand(server.url)).ms);
      for (let i = 0; i < 3; i++) ensembleMs[b].push((await post(server.url, '/flows', ensemble, json)).ms);
    }
    for (let i = 0; i < 3; i++) kernel.push(kernelEnsembleMs());
  }
  for (const server of servers) await server.stop();
  const k = median(kernel);
  return measured.map((build, b) => ({
    build: build.label,
    flowsMs: Number(median(flowMs[b]).toFixed(1)),
    byHandMs: Number(median(handMs[b]).toFixed(0)),
    speedup: Number((median(handMs[b]) / median(flowMs[b])).toFixed(0)),
    ensembleMs: Number(median(ensembleMs[b]).toFixed(1)),
    ensembleKernelMs: Number(k.toFixed(1)),
    ensembleRatio: Number((median(ensembleMs[b]) / k).toFixed(2)),
  }));
}

/** A JSON request on the kept-alive agent, its answer parsed. */
function postJson(url: string, path: string, body: string): Promise<{ body: unknown }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: hostname, port, path, method: 'POST', agent, headers: { ...json, 'content-length': Buffer.byteLength(body) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ body: JSON.parse(Buffer.concat(chunks).toString()) }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

// The large requests go first: after autocannon's runs, this process's own client took ~60 %
// longer over the same 100,000-point request (binary 90 against 56 ms), the kernels no longer.
const large = sections.has('large') ? await largeBatch() : undefined;
const loaded = sections.has('loop') ? await probedMillion() : undefined;
const scaled = sections.has('scaling') ? await scaling() : undefined;
const pool = sections.has('threshold') ? await threshold() : undefined;
const one = sections.has('one') ? await onePointThroughput() : undefined;
const ladder = sections.has('cpu') ? await cpuLadder() : undefined;
const flowRuns = sections.has('flows') ? await flows() : undefined;
const figures = { onePoint: one, cpuPerRequest: ladder, largeBatch: large, eventLoop: loaded, scaling: scaled, threshold: pool, flows: flowRuns };

/** Each figure of this build beside the baseline's, with their ratio (for times, lower is better). */
function sideBySide(): Record<string, string | number>[] {
  const rows: Record<string, string | number>[] = [];
  const pair = (section: string, list: Record<string, unknown>[] | undefined, keys: string[], by?: string) => {
    if (list === undefined) return;
    const groups = by === undefined ? [list] : [...new Set(list.map((row) => row[by]))].map((value) => list.filter((row) => row[by] === value));
    for (const group of groups) {
      const [ours, theirs] = [group.find((row) => row.build === 'this build'), group.find((row) => row.build === 'baseline')];
      if (!ours || !theirs) continue;
      for (const key of keys) {
        const a = Number(ours[key]);
        const b = Number(theirs[key]);
        rows.push({ figure: `${section}${by ? ` ${by}=${String(ours[by])}` : ''}: ${key}`, 'this build': a, baseline: b, 'this ÷ baseline': Number((a / b).toFixed(3)) });
      }
    }
  };
  pair('one point', figures.onePoint, ['oursRequestsPerSecond', 'oursAtInfoRequestsPerSecond', 'ratio', 'ratioAtInfo']);
  if (figures.cpuPerRequest) {
    const ours = figures.cpuPerRequest.find((row) => row.server === 'the service (this build)');
    const theirs = figures.cpuPerRequest.find((row) => row.server === 'the service (baseline)');
    if (ours && theirs) {
      const [a, b] = [ours.cpuMicrosecondsPerRequest, theirs.cpuMicrosecondsPerRequest];
      rows.push({ figure: 'one point: server CPU µs per request', 'this build': a, baseline: b, 'this ÷ baseline': Number((a / b).toFixed(3)) });
    }
  }
  pair('100,000 points', figures.largeBatch, ['binaryMs', 'jsonMs']);
  pair('1,000,000 points, probed', figures.eventLoop, ['requestMs', 'healthP50Ms', 'healthP99Ms']);
  pair('1,000,000 points', figures.scaling, ['oneWorkerMs', 'twoWorkersMs', 'speedup']);
  pair('small batches', figures.threshold, ['mainThreadMs', 'poolMs'], 'points');
  return rows;
}

if (options.json) console.log(JSON.stringify(builds.length > 1 ? { ...figures, sideBySide: sideBySide() } : figures));
else {
  console.log(`HTTP over loopback, Node ${process.version}, medians over alternating rounds\n`);
  const table = (title: string, rows: object | object[] | undefined) => {
    if (rows === undefined) return;
    console.log(title);
    console.table(Array.isArray(rows) ? rows : [rows]);
  };
  table('one-point /gradient (K = 20, d = 4), autocannon 16 connections:', figures.onePoint);
  table('server CPU per one-point request (user + system, µs), layer by layer:', figures.cpuPerRequest);
  table('100,000-point /gradient (K = 20, d = 4) against the kernels alone on one thread:', figures.largeBatch);
  table('GET /health/live while a 1,000,000-point binary /gradient runs (2 workers):', figures.eventLoop);
  table('1,000,000-point binary /gradient, WORKERS=1 against WORKERS=2:', figures.scaling);
  table('small batches (K = 20, d = 4, JSON), main thread against the pool:', figures.threshold);
  table(
    'flows (learned pendulum, K = 8, d = 4, n = 1), Størmer–Verlet: 10,000 steps of one state by POST /flows against a client calling /gradient twice a step; 1,000 states × 1,000 steps against the kernels alone (one thread):',
    figures.flows,
  );
  if (builds.length > 1) table(`this build against the baseline (${builds[1].root}), in the same rounds:`, sideBySide());
}
agent.destroy();
