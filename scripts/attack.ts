/**
 * The attacks of a hostile client, replayed against the built service (npm run attack): each
 * starts from the same bytes as the attack that found the defect, runs for a bounded count and
 * time, and is reported with the answer it got, how long it took, the service's peak RSS, and the
 * worst /health/live latency meanwhile. A prober in a process of its own asks /health/live every
 * 50 ms (5 s timeout) and reads the service's RSS from /proc, so that the attacks' own work does
 * not colour the figures. The script fails if an attack gets an answer other than the one the
 * service should give, if a probe takes 100 ms or more, if the RSS passes 1.5 GB, or if the
 * service does not exit 0 within its grace period when stopped during the attacks.
 *
 *   npm run attack                  every attack (about three minutes)
 *   npm run attack -- --json        the table as JSON lines
 *   npm run attack -- --only bodies,rate   some groups: bodies, time, work, rate, misc, disk, shutdown
 *   npm run attack -- --verbose     also every probe that took half the target or more, and when
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { freePort } from './free-port.js';

const { values: options } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    only: { type: 'string', default: 'bodies,time,work,rate,misc,disk,shutdown' },
  },
});
const groups = new Set(options.only.split(','));
const root = fileURLToPath(new URL('../', import.meta.url));
const MiB = 1024 * 1024;
const KEY = 'attack-key';
const HEALTH_TARGET_MS = 100;
const RSS_TARGET_BYTES = 1.5e9;

// ---- the service, and the prober ---------------------------------------------------------------

interface Service {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

async function startService(env: Record<string, string>): Promise<Service> {
  const port = await freePort();
  const child = spawn(process.execPath, ['dist/server.js'], {
    cwd: root,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    if ((await fetch(`${url}/health/ready`).then((r) => r.ok, () => false)) === true) break;
    if (attempt > 300) throw new Error(`the service did not become ready (${JSON.stringify(env)})`);
    await sleep(50);
  }
  return { url, port, child, exited };
}

async function stopService(service: Service): Promise<void> {
  if (service.child.exitCode !== null) return;
  service.child.kill('SIGTERM');
  await Promise.race([service.exited, sleep(15_000)]);
  if (service.child.exitCode === null) service.child.kill('SIGKILL');
}

/** Probes /health/live every 50 ms and samples the service's RSS, from a process of its own. */
const PROBER = `
const http = require('node:http');
const fs = require('node:fs');
const [port, pid] = process.argv.slice(1).map(Number);
const rss = () => { try { return Number(/VmRSS:\\s+(\\d+) kB/.exec(fs.readFileSync('/proc/' + pid + '/status', 'utf8'))[1]) * 1024; } catch { return 0; } };
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const probe = () => new Promise((resolve) => {
  const started = performance.now();
  const request = http.get({ host: '127.0.0.1', port, path: '/health/live', agent, timeout: 5000 }, (response) => {
    response.resume();
    response.on('end', () => resolve(performance.now() - started));
  });
  request.on('timeout', () => { request.destroy(); resolve(5000); });
  request.on('error', () => resolve(5000));
});
(async () => {
  for (;;) {
    const at = Date.now();
    const latency = await probe();
    process.stdout.write(JSON.stringify({ at, latency, rss: rss() }) + '\\n');
    await new Promise((r) => setTimeout(r, Math.max(0, 50 - (Date.now() - at))));
  }
})();
`;

interface Sample {
  readonly at: number;
  readonly latency: number;
  readonly rss: number;
}

function startProber(service: Service) {
  const samples: Sample[] = [];
  const child = spawn(process.execPath, ['-e', PROBER, String(service.port), String(service.child.pid)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buffered = '';
  child.stdout!.on('data', (chunk) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      samples.push(JSON.parse(buffered.slice(0, newline)) as Sample);
      buffered = buffered.slice(newline + 1);
    }
  });
  return {
    /** The worst probe latency and the peak RSS from `from` to `to` (ms since the epoch). */
    window(from: number, to: number): { worstMs: number; peakRss: number } {
      const inside = samples.filter((s) => s.at >= from - 50 && s.at <= to + 50);
      if (options.verbose) for (const s of inside) if (s.latency >= HEALTH_TARGET_MS / 2) console.error(`  a probe ${s.at - from} ms into the attack took ${s.latency.toFixed(1)} ms`);
      return { worstMs: Math.max(0, ...inside.map((s) => s.latency)), peakRss: Math.max(0, ...inside.map((s) => s.rss)) };
    },
    stop: () => child.kill(),
  };
}

// ---- raw HTTP ------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface RawAnswer {
  readonly status: number;
  readonly head: string;
  readonly text: string;
  /** ms from the request's head being sent to the answer's head arriving. */
  readonly ms: number;
}

/**
 * Sends a request head and then `body` (as fast as the socket takes it, stopping when the
 * server answers or closes); resolves with the answer, or status 0 if the connection closed
 * without one within `timeoutMs`.
 */
function rawExchange(service: Service, head: string, body: (socket: Socket) => void | Promise<void>, timeoutMs = 60_000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(service.port, '127.0.0.1');
    socket.setNoDelay(true);
    let text = '';
    let sentAt = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const headEnd = text.indexOf('\r\n\r\n');
      const headText = headEnd >= 0 ? text.slice(0, headEnd) : '';
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headText)?.[1] ?? 0), head: headText, text: text.slice(headEnd + 4), ms: performance.now() - sentAt });
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(text.slice(0, headEnd))?.[1] ?? -1);
      if (length >= 0 && text.length >= headEnd + 4 + length) finish();
    });
    socket.on('close', finish);
    socket.on('error', () => {});
    setTimeout(finish, timeoutMs).unref();
    socket.on('connect', () => {
      sentAt = performance.now();
      socket.write(`${head}\r\n\r\n`);
      void Promise.resolve(body(socket)).catch(() => {});
    });
  });
}

/** Writes `bytes` in pieces while the connection is open and unanswered. */
async function pour(socket: Socket, bytes: Buffer, piece = 256 * 1024): Promise<void> {
  const writable = () =>
    new Promise<void>((resolve) => {
      const go = () => {
        socket.off('drain', go);
        socket.off('close', go);
        resolve();
      };
      socket.once('drain', go);
      socket.once('close', go);
    });
  for (let at = 0; at < bytes.length && !socket.destroyed; at += piece) {
    if (!socket.write(bytes.subarray(at, at + piece))) await writable();
  }
}

const request = (method: string, path: string, headers: Record<string, string | number>) =>
  `${method} ${path} HTTP/1.1\r\nhost: attack\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}`;

async function json(service: Service, method: string, path: string, body?: unknown, key: string | null = KEY) {
  const response = await fetch(`${service.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** "400 ×8", "201 ×15, 409 ×25": the statuses of a set of answers, counted. */
const tally = (statuses: number[]): string => {
  const counts = new Map<number, number>();
  for (const status of statuses) counts.set(status, (counts.get(status) ?? 0) + 1);
  return [...counts].sort((a, b) => a[0] - b[0]).map(([status, n]) => (n === 1 ? `${status}` : `${status} ×${n}`)).join(', ');
};

// ---- the attacks ---------------------------------------------------------------------------------

interface Row {
  readonly group: string;
  readonly attack: string;
  readonly answer: string;
  readonly expected: string;
  readonly ok: boolean;
  readonly seconds: number;
  readonly peakRssMiB: number;
  readonly worstHealthMs: number;
}

const rows: Row[] = [];

interface Outcome {
  readonly answer: string;
  readonly ok: boolean;
  /** The end of the window the figures are taken over (ms since the epoch), when it ends before the attack. */
  readonly until?: number;
}

async function attack(group: string, name: string, expected: string, prober: ReturnType<typeof startProber> | null, run: () => Promise<Outcome>): Promise<void> {
  if (!groups.has(group)) return;
  const from = Date.now();
  let outcome: Outcome;
  try {
    outcome = await run();
  } catch (error) {
    outcome = { answer: `failed: ${(error as Error).message}`, ok: false };
  }
  const to = Date.now();
  // Let the prober see the moment after, too.
  await sleep(150);
  const { worstMs, peakRss } = prober ? prober.window(from, outcome.until ?? to) : { worstMs: 0, peakRss: 0 };
  const row = {
    group,
    attack: name,
    answer: outcome.answer,
    expected,
    ok: outcome.ok,
    seconds: Number(((to - from) / 1000).toFixed(2)),
    peakRssMiB: Math.round(peakRss / MiB),
    worstHealthMs: Number(worstMs.toFixed(1)),
  };
  rows.push(row);
  if (!options.json) console.error(`${row.ok ? 'ok  ' : 'FAIL'} ${name}: ${row.answer} (${row.seconds} s, ${row.peakRssMiB} MiB, health ≤ ${row.worstHealthMs} ms)`);
}

/** A gzip body of `prefix`, then `item` repeated to about `inflated` bytes, then `suffix`. */
const bomb = (prefix: string, item: string, inflated: number, suffix: string): Buffer =>
  gzipSync(Buffer.concat([Buffer.from(prefix), Buffer.from(item.repeat(Math.floor(inflated / item.length))), Buffer.from(suffix)]), { level: 9 });

const keyed = { authorization: `Bearer ${KEY}` };

async function bodyAttacks(service: Service, prober: ReturnType<typeof startProber>) {
  const objects = bomb('{"points":[', '{},', 60 * MiB, '{}]}');
  const postBomb = () =>
    rawExchange(service, request('POST', '/models', { ...keyed, 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': objects.length }), (s) => pour(s, objects));
  await attack('bodies', `gzip bomb: ${Math.round(objects.length / 1024)} KB inflating to 60 MiB of {} (POST /models)`, '400', prober, async () => {
    const answer = await postBomb();
    return { answer: `${answer.status} in ${answer.ms.toFixed(0)} ms`, ok: answer.status === 400 };
  });
  await attack('bodies', '8 such gzip bombs at once', '400 ×8', prober, async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, postBomb));
    return { answer: tally(answers.map((a) => a.status)), ok: answers.every((a) => a.status === 400) };
  });

  const points = Buffer.from(`{"modelId":"demo","points":[${'[0,0],'.repeat(Math.floor((60 * MiB) / 6))}[0,0]]}`);
  const postPoints = () =>
    rawExchange(service, request('POST', '/gradient', { ...keyed, 'content-type': 'application/json', 'content-length': points.length }), (s) => pour(s, points));
  await attack('bodies', 'one 60 MiB JSON body of [0,0] points (POST /gradient)', '413 (MAX_POINTS)', prober, async () => {
    const answer = await postPoints();
    return { answer: `${answer.status} in ${answer.ms.toFixed(0)} ms`, ok: answer.status === 413 };
  });
  await attack('bodies', '8 such bodies at once', '413 or 503 each; RSS < 1.5 GB', prober, async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, postPoints));
    return { answer: tally(answers.map((a) => a.status)), ok: answers.every((a) => a.status === 413 || a.status === 503) };
  });

  await attack('bodies', 'a 60 MiB body to an unknown path, API_KEY and PROTECT_READS set', '404, body not read', prober, async () => {
    const answer = await rawExchange(service, request('POST', '/unknown', { 'content-type': 'application/json', 'content-length': points.length }), (s) => pour(s, points));
    return { answer: `${answer.status} in ${answer.ms.toFixed(0)} ms`, ok: answer.status === 404 && answer.ms < 1000 };
  });
  await attack('bodies', 'the same body with a wrong key (POST /gradient)', '401, body not read', prober, async () => {
    const answer = await rawExchange(service, request('POST', '/gradient', { authorization: 'Bearer guess', 'content-type': 'application/json', 'content-length': points.length }), (s) => pour(s, points));
    return { answer: `${answer.status} in ${answer.ms.toFixed(0)} ms`, ok: answer.status === 401 && answer.ms < 1000 };
  });

  const deep = Buffer.alloc(31_000_000, '[');
  await attack('bodies', 'a 31-million-deep nested array (POST /gradient)', '400 at once', prober, async () => {
    const body = Buffer.concat([Buffer.from('{"modelId":"demo","points":'), deep]);
    const answer = await rawExchange(service, request('POST', '/gradient', { ...keyed, 'content-type': 'application/json', 'content-length': body.length }), (s) => pour(s, body));
    return { answer: `${answer.status} in ${answer.ms.toFixed(0)} ms`, ok: answer.status === 400 && answer.ms < 1000 };
  });

  // The Open Inference Protocol's route reads JSON with the same reader and limits.
  const inference = Buffer.from(`{"inputs":[{"name":"points","shape":[1,2],"datatype":"FP64","data":[${'[0,0],'.repeat(Math.floor((60 * MiB) / 6))}[0,0]]}]}`);
  await attack('bodies', 'a 60 MiB JSON inference request of [0,0] points (POST /v2/models/demo/infer)', '413 {"error"} (MAX_POINTS)', prober, async () => {
    const answer = await rawExchange(service, request('POST', '/v2/models/demo/infer', { ...keyed, 'content-type': 'application/json', 'content-length': inference.length }), (s) => pour(s, inference));
    return { answer: `${answer.status} in ${answer.ms.toFixed(0)} ms`, ok: answer.status === 413 && protocolError(answer) };
  });
  await attack('bodies', 'Inference-Header-Content-Length past the body (POST /v2/models/demo/infer)', '400 {"error"}', prober, async () => {
    const body = Buffer.from('{"inputs":[]}');
    const answer = await rawExchange(
      service,
      request('POST', '/v2/models/demo/infer', { ...keyed, 'content-type': 'application/octet-stream', 'content-length': body.length, 'inference-header-content-length': '4294967296' }),
      (s) => pour(s, body),
    );
    return { answer: `${answer.status} in ${answer.ms.toFixed(0)} ms`, ok: answer.status === 400 && protocolError(answer) };
  });
}

/** Whether an answer is the Open Inference Protocol's error object, and only that. */
function protocolError(answer: RawAnswer): boolean {
  try {
    const body = JSON.parse(answer.text) as Record<string, unknown>;
    return typeof body.error === 'string' && Object.keys(body).length === 1;
  } catch {
    return false;
  }
}

async function timeAttacks(service: Service, prober: ReturnType<typeof startProber>) {
  // Whitespace is valid JSON: these bodies are read, slowly, until a bound stops them.
  const start = Buffer.from('{"modelId":"demo","points":[[0,0]]');
  await attack('time', '40 sockets that send 60 of 64 MiB, then a byte a second (for 10 s)', '503 past BODY_BYTES_IN_FLIGHT, the rest held', prober, async () => {
    const statuses: number[] = [];
    const sockets: Socket[] = [];
    const spaces = Buffer.alloc(60 * MiB - start.length, 0x20);
    const exchanges = Array.from({ length: 40 }, () =>
      rawExchange(service, request('POST', '/gradient', { ...keyed, 'content-type': 'application/json', 'content-length': 64 * MiB }), async (socket) => {
        sockets.push(socket);
        socket.write(start);
        // A connection the service has already answered is left alone.
        await sleep(300);
        if (socket.destroyed || socket.bytesRead > 0) return;
        await pour(socket, spaces);
        while (!socket.destroyed) {
          socket.write(' ');
          await sleep(1000);
        }
      }, 10_000).then((answer) => statuses.push(answer.status)),
    );
    await Promise.all(exchanges);
    for (const socket of sockets) socket.destroy();
    const refused = statuses.filter((s) => s === 503).length;
    return { answer: `${tally(statuses)} (0: still being read when the attacker gave up)`, ok: refused >= 30 && statuses.every((s) => s === 503 || s === 0) };
  });

  // Both take ~30 s: run side by side, reported apart.
  const stalled = attack('time', 'a body that stops arriving', '408 after BODY_STALL_TIMEOUT_MS (30 s)', prober, async () => {
    const answer = await rawExchange(service, request('POST', '/gradient', { ...keyed, 'content-type': 'application/json', 'content-length': 1000 }), (s) => void s.write('{"modelId":"demo","points":[[0.5,'));
    return { answer: `${answer.status} after ${(answer.ms / 1000).toFixed(1)} s`, ok: answer.status === 408 };
  });
  const { body } = await json(service, 'POST', '/models', { layers: 1, dim: 2048, inputDim: 1, seed: 1 });
  const unread = attack('time', '8 clients that stop reading a 90 MB model document, for 35 s', 'cut off after ANSWER_STALL_TIMEOUT_MS (30 s)', prober, async () => {
    const received = await Promise.all(
      Array.from({ length: 8 }, () =>
        new Promise<number>((resolve) => {
          const socket = connect(service.port, '127.0.0.1');
          let bytes = 0;
          socket.on('connect', () => {
            socket.write(`${request('GET', `/models/${body.id}`, keyed)}\r\n\r\n`);
            setTimeout(() => socket.pause(), 50);
          });
          socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
          socket.on('error', () => {});
          // A paused socket sees nothing of the server's closing: read again after 35 s, and the
          // answer ends where the server cut it off.
          setTimeout(() => socket.resume(), 35_000);
          socket.on('close', () => resolve(bytes));
          setTimeout(() => socket.destroy(), 60_000);
        }),
      ),
    );
    const total = 89.5e6;
    return { answer: `cut off: ${(Math.max(...received) / 1e6).toFixed(1)} MB of ${(total / 1e6).toFixed(1)} at most`, ok: received.every((bytes) => bytes < total / 2) };
  });
  await Promise.all([stalled, unread]);
  await json(service, 'DELETE', `/models/${body.id}`);
}

async function workAttacks(service: Service, prober: ReturnType<typeof startProber>) {
  const created: string[] = [];
  await attack('work', '40 creates of a 33 MiB model from a 35-byte body', '201 until MAX_REGISTRY_BYTES, then 409', prober, async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const answer = await json(service, 'POST', '/models', `{"layers":1,"dim":2048,"inputDim":1,"seed":${i}}`);
      statuses.push(answer.status);
      if (answer.status === 201) created.push(String(answer.body.id));
    }
    return { answer: tally(statuses), ok: statuses.every((s) => s === 201 || s === 409) && statuses.includes(409) };
  });
  await attack('work', 'a GET of one such model (a 90 MB document)', '200, streamed', prober, async () => {
    const started = performance.now();
    const response = await fetch(`${service.url}/models/${created[0]}`, { headers: keyed });
    const bytes = (await response.arrayBuffer()).byteLength;
    return { answer: `${response.status}, ${(bytes / 1e6).toFixed(1)} MB in ${((performance.now() - started) / 1000).toFixed(1)} s`, ok: response.status === 200 };
  });
  await attack('work', 'a 10⁶-point /gradient on that model (d = 2048)', '413 (MAX_REQUEST_FLOPS)', prober, async () => {
    const body = Buffer.alloc(8 * 1_000_000);
    const answer = await rawExchange(service, request('POST', `/gradient?modelId=${created[0]}`, { ...keyed, 'content-type': 'application/octet-stream', 'content-length': body.length }), (s) => pour(s, body));
    return { answer: `${answer.status} in ${answer.ms.toFixed(0)} ms`, ok: answer.status === 413 };
  });
  await attack('work', '300 points on it, the client gone after 0.5 s; another client’s 100 points meanwhile', 'the work stops; the other answered', prober, async () => {
    const body = Buffer.alloc(8 * 300, 0);
    const leaving = rawExchange(service, request('POST', `/gradient?modelId=${created[0]}`, { ...keyed, 'content-type': 'application/octet-stream', accept: 'application/octet-stream', 'content-length': body.length }), (s) => void s.write(body), 500);
    await sleep(200);
    const started = performance.now();
    const other = await json(service, 'POST', '/gradient', { modelId: 'demo', points: Array.from({ length: 100 }, (_, i) => [i / 100, 0]) });
    const otherMs = performance.now() - started;
    await leaving;
    const cpu = () => {
      const fields = readFileSync(`/proc/${service.child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(fields[11]) + Number(fields[12])) * 10;
    };
    await sleep(300);
    const before = cpu();
    await sleep(1000);
    const busy = (cpu() - before) / 1000;
    return { answer: `other: ${other.status} in ${otherMs.toFixed(0)} ms; the service's CPU 0.3–1.3 s after the client left: ${(busy * 100).toFixed(0)} % of a core`, ok: other.status === 200 && busy < 0.5 };
  });
  for (const id of created) await json(service, 'DELETE', `/models/${id}`);
  await attack('work', 'a model with K = 4,194,304, d = 1; 1,000 points', '201, then 413 (MAX_REQUEST_FLOPS)', prober, async () => {
    const model = await json(service, 'POST', '/models', { layers: 4_194_304, dim: 1, seed: 1 });
    if (model.status !== 201) return { answer: `${model.status}: ${String(model.body.detail)}`, ok: false };
    const answer = await json(service, 'POST', '/gradient', { modelId: model.body.id, points: Array.from({ length: 1000 }, () => [0.5]) });
    await json(service, 'DELETE', `/models/${model.body.id}`);
    return { answer: `${model.status}, then ${answer.status}`, ok: model.status === 201 && answer.status === 413 };
  });
}

async function rateAttacks() {
  const service = await startService({ RATE_LIMIT_MAX: '5', API_KEY: KEY, PROTECT_READS: 'false' });
  const prober = startProber(service);
  try {
    await attack('rate', '20 requests, each with another bogus Authorization (RATE_LIMIT_MAX = 5)', '200 ×5, 429 ×15', prober, async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) {
        const response = await fetch(`${service.url}/gradient`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `x${i}` }, body: '{"modelId":"demo","points":[[0,0]]}' });
        statuses.push(response.status);
        await response.arrayBuffer();
      }
      return { answer: tally(statuses), ok: tally(statuses) === '200 ×5, 429 ×15' };
    });
    await attack('rate', '200 wrong keys in a row (POST /models)', '401 ×20, then 429', prober, async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 200; i++) statuses.push((await json(service, 'POST', '/models', { layers: 1, dim: 2, seed: 1 }, `guess-${i}`)).status);
      return { answer: tally(statuses), ok: tally(statuses) === '401 ×20, 429 ×180' };
    });
  } finally {
    prober.stop();
    await stopService(service);
  }
}

async function miscAttacks(service: Service, prober: ReturnType<typeof startProber>) {
  await attack('misc', '"bearer" in lower case', '201', prober, async () => {
    const response = await fetch(`${service.url}/models`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `bearer ${KEY}` }, body: '{"layers":1,"dim":2,"seed":1}' });
    const body = (await response.json()) as { id: string };
    await json(service, 'DELETE', `/models/${body.id}`);
    return { answer: String(response.status), ok: response.status === 201 };
  });
  await attack('misc', 'h: -0 in a create', '201 with "h":-0, and in the list', prober, async () => {
    const created = await json(service, 'POST', '/models', '{"h":-0,"W":[[[1]]],"b":[[0]],"w":[1],"mu":0}');
    const list = await json(service, 'GET', '/models');
    await json(service, 'DELETE', `/models/${created.body.id}`);
    const ok = created.text.includes('"h":-0') && list.text.includes('"h":-0');
    return { answer: `${created.status}, ${ok ? '-0 kept in both' : '-0 lost'}`, ok: created.status === 201 && ok };
  });
  await attack('misc', 'a gzip body to an unknown route', '404 that does not echo the body', prober, async () => {
    const response = await fetch(`${service.url}/unknown`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync('{"secret":1}') });
    const text = await response.text();
    return { answer: `${response.status}: ${JSON.parse(text).detail}`, ok: response.status === 404 && !text.includes('secret') };
  });
}

async function diskAttacks() {
  if (process.getuid?.() !== 0) {
    rows.push({ group: 'disk', attack: 'full disk, FIFO (need root to mount a tmpfs)', answer: 'skipped: not root', expected: '', ok: true, seconds: 0, peakRssMiB: 0, worstHealthMs: 0 });
    return;
  }
  const small = mkdtempSync(join(tmpdir(), 'attack-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
  try {
    const service = await startService({ REGISTRY_DIR: small });
    const prober = startProber(service);
    await attack('disk', '40 creates into a 1 MiB tmpfs (REGISTRY_DIR)', '201, then 507; no .tmp- file left', prober, async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) statuses.push((await json(service, 'POST', '/models', { layers: 4, dim: 64, seed: i }, null)).status);
      const left = readdirSync(small).filter((file) => file.includes('.tmp-'));
      return { answer: `${tally(statuses)}; ${left.length} temporary files left`, ok: left.length === 0 && statuses.includes(507) && statuses.every((s) => s === 201 || s === 507) };
    });
    prober.stop();
    await stopService(service);
  } finally {
    spawnSync('umount', [small]);
    rmSync(small, { recursive: true, force: true });
  }
  const odd = mkdtempSync(join(tmpdir(), 'attack-fifo-'));
  try {
    execFileSync('mkfifo', [join(odd, 'fifo.model')]);
    execFileSync('ln', ['-s', '/dev/zero', join(odd, 'zero.model')]);
    await attack('disk', 'a FIFO and a link to /dev/zero named *.model in REGISTRY_DIR', 'skipped and logged; ready at once', null, async () => {
      const started = performance.now();
      const service = await startService({ REGISTRY_DIR: odd });
      const ms = performance.now() - started;
      await stopService(service);
      return { answer: `ready in ${ms.toFixed(0)} ms`, ok: ms < 10_000 };
    });
  } finally {
    rmSync(odd, { recursive: true, force: true });
  }
}

async function shutdownAttack() {
  const grace = 10_000;
  const service = await startService({ API_KEY: KEY, SHUTDOWN_GRACE_MS: String(grace) });
  const prober = startProber(service);
  await attack('shutdown', 'SIGTERM during stalled uploads, unread answers and heavy work', `exit 0 within ${grace / 1000} s`, prober, async () => {
    const open: Promise<RawAnswer>[] = [];
    for (let i = 0; i < 10; i++) {
      open.push(rawExchange(service, request('POST', '/gradient', { ...keyed, 'content-type': 'application/json', 'content-length': 100_000 }), (s) => void s.write('{"modelId":"demo","points":[[0.5,'), 20_000));
    }
    const points = Buffer.from(new Float64Array(2 * 1_000_000).fill(0.25).buffer);
    for (let i = 0; i < 4; i++) {
      open.push(
        rawExchange(service, request('POST', '/gradient?modelId=demo', { ...keyed, 'content-type': 'application/octet-stream', accept: 'application/octet-stream', 'content-length': points.length }), (s) => {
          s.write(points);
          setTimeout(() => s.pause(), 100);
        }, 20_000),
      );
    }
    await sleep(1000);
    const started = performance.now();
    // The service stops answering probes once it closes: the figures are taken up to the signal.
    const until = Date.now();
    service.child.kill('SIGTERM');
    const code = await service.exited;
    const seconds = (performance.now() - started) / 1000;
    await Promise.all(open);
    return { answer: `exit ${code} after ${seconds.toFixed(2)} s`, ok: code === 0 && seconds * 1000 < grace, until };
  });
  prober.stop();
}

// ---- the run -------------------------------------------------------------------------------------

const main = await startService({ API_KEY: KEY, PROTECT_READS: 'true' });
const prober = startProber(main);
try {
  if (groups.has('bodies')) await bodyAttacks(main, prober);
  if (groups.has('work')) await workAttacks(main, prober);
  if (groups.has('misc')) await miscAttacks(main, prober);
  if (groups.has('time')) await timeAttacks(main, prober);
} finally {
  prober.stop();
  await stopService(main);
}
if (groups.has('rate')) await rateAttacks();
if (groups.has('disk')) await diskAttacks();
if (groups.has('shutdown')) await shutdownAttack();

const healthy = rows.every((row) => row.worstHealthMs < HEALTH_TARGET_MS);
const small = rows.every((row) => row.peakRssMiB * MiB < RSS_TARGET_BYTES);
if (options.json) for (const row of rows) console.log(JSON.stringify(row));
else {
  console.log(`\nattacks on the built service, Node ${process.version}; /health/live probed every 50 ms from another process\n`);
  console.log('| attack | answer | expected | time (s) | peak RSS (MiB) | worst /health/live (ms) |');
  console.log('| --- | --- | --- | ---: | ---: | ---: |');
  for (const row of rows) console.log(`| ${row.attack} | ${row.answer} | ${row.expected} | ${row.seconds} | ${row.peakRssMiB || '–'} | ${row.worstHealthMs || '–'} |`);
}
const failures = [
  ...rows.filter((row) => !row.ok).map((row) => `${row.attack}: ${row.answer}`),
  ...(healthy ? [] : [`/health/live took ${HEALTH_TARGET_MS} ms or more`]),
  ...(small ? [] : ['the RSS passed 1.5 GB']),
];
if (failures.length > 0) {
  console.error(`\nattack: ${failures.join('; ')}`);
  process.exitCode = 1;
}
