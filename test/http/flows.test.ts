/**
 * /flows and /flows/vector-field over real HTTP, on the learned pendulum models registered at
 * start-up: one step of each method against the same step done by hand from /gradient; the
 * structure the symplectic methods keep (bounded energy error of order 2, MᵀJM = J) and the
 * baselines do not; the answer's forms (JSON, raw float64s, NDJSON as the run goes); early ends;
 * and long runs on the pool, which stop when their client goes away.
 */
import { describe, expect, it } from 'vitest';
import { flowExample, vectorFieldExample } from '../../src/http/schemas/flows.js';
import { startApp, problemType } from '../helpers/app.js';

const { http, app } = await startApp();
const separable = { kinetic: 'demo-pendulum-T', potential: 'demo-pendulum-V' };
const general = { model: 'demo-pendulum-H' };

interface FlowAnswer {
  times: number[];
  states: number[][][];
  energy: number[][];
  maxEnergyError: number[];
  ended: ({ step: number; reason: string; detail: string } | null)[];
}

async function flow(body: Record<string, unknown>): Promise<FlowAnswer> {
  const response = await http.post('/flows').send(body);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body as FlowAnswer;
}

/** F and ∇F of a model at points, through /gradient. */
async function gradient(modelId: string, points: number[][]): Promise<{ values: number[]; gradients: number[][] }> {
  const { body } = await http.post('/gradient').send({ modelId, points }).expect(200);
  return body;
}

const close = (got: number, want: number, rtol: number) => Math.abs(got - want) <= rtol * Math.max(Math.abs(want), 1e-300);
const expectClose = (got: number[], want: number[], rtol: number) => {
  for (let i = 0; i < want.length; i++) expect(close(got[i], want[i], rtol), `${got[i]} against ${want[i]} at ${i}`).toBe(true);
};

describe('one step, against the same step by hand from /gradient', () => {
  const h = 0.1;
  const q = 0.7;
  const p = -0.4;
  const dT = async (x: number) => (await gradient('demo-pendulum-T', [[x]])).gradients[0][0];
  const dV = async (x: number) => (await gradient('demo-pendulum-V', [[x]])).gradients[0][0];
  const energy = async (x: number, y: number) => (await gradient('demo-pendulum-T', [[y]])).values[0] + (await gradient('demo-pendulum-V', [[x]])).values[0];
  const oneStep = async (method: string, hamiltonian: object = separable) => (await flow({ hamiltonian, method, h, steps: 1, every: 1, initial: [[q, p]] })).states[0][1];

  it('stormer-verlet: p½ = p − h/2 ∇V(q), q′ = q + h ∇T(p½), p′ = p½ − h/2 ∇V(q′)', async () => {
    const half = p - (h / 2) * (await dV(q));
    const q1 = q + h * (await dT(half));
    const p1 = half - (h / 2) * (await dV(q1));
    expectClose(await oneStep('stormer-verlet'), [q1, p1], 1e-14);
  });

  it('symplectic-euler-p: p′ = p − h ∇V(q), then q′ = q + h ∇T(p′)', async () => {
    const p1 = p - h * (await dV(q));
    expectClose(await oneStep('symplectic-euler-p'), [q + h * (await dT(p1)), p1], 1e-14);
  });

  it('symplectic-euler-q: q′ = q + h ∇T(p), then p′ = p − h ∇V(q′)', async () => {
    const q1 = q + h * (await dT(p));
    expectClose(await oneStep('symplectic-euler-q'), [q1, p - h * (await dV(q1))], 1e-14);
  });

  it('euler and rk4 on T + V', async () => {
    const f = async (x: number, y: number) => [await dT(y), -(await dV(x))];
    const k1 = await f(q, p);
    expectClose(await oneStep('euler'), [q + h * k1[0], p + h * k1[1]], 1e-14);
    const k2 = await f(q + (h / 2) * k1[0], p + (h / 2) * k1[1]);
    const k3 = await f(q + (h / 2) * k2[0], p + (h / 2) * k2[1]);
    const k4 = await f(q + h * k3[0], p + h * k3[1]);
    const rk4 = [0, 1].map((i) => [q, p][i] + (h / 6) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]));
    expectClose(await oneStep('rk4'), rk4, 1e-14);
  });

  it('euler on a general H(q, p): q′ = q + h ∂H/∂p, p′ = p − h ∂H/∂q', async () => {
    const [g] = (await gradient('demo-pendulum-H', [[q, p]])).gradients;
    expectClose(await oneStep('euler', general), [q + h * g[1], p - h * g[0]], 1e-14);
  });

  it('implicit-midpoint: y′ = y + h f((y + y′)/2), its residual from /gradient at the midpoint', async () => {
    for (const hamiltonian of [general, separable]) {
      const [q1, p1] = await oneStep('implicit-midpoint', hamiltonian);
      const middle = [(q + q1) / 2, (p + p1) / 2];
      const field =
        hamiltonian === general
          ? await gradient('demo-pendulum-H', [middle]).then(({ gradients: [g] }) => [g[1], -g[0]])
          : [await dT(middle[1]), -(await dV(middle[0]))];
      expectClose([q1, p1], [q + h * field[0], p + h * field[1]], 1e-14);
    }
  });

  it('the energies it answers are H = T(p) + V(q) at the saved states', async () => {
    const answer = await flow({ hamiltonian: separable, method: 'stormer-verlet', h, steps: 3, every: 1, initial: [[q, p]] });
    for (let k = 0; k < answer.states[0].length; k++) {
      const [x, y] = answer.states[0][k];
      expect(close(answer.energy[0][k], await energy(x, y), 1e-14)).toBe(true);
    }
  });
});

/** The largest |H − H₀| over the saves of [from, to) of a trajectory. */
const drift = (energy: number[], from = 0, to = energy.length) => Math.max(...energy.slice(from, to).map((e) => Math.abs(e - energy[0])));

describe('structure, over 100,000 steps', () => {
  const run = (method: string, h: number, steps = 100_000) => flow({ hamiltonian: separable, method, h, steps, every: steps / 100, initial: [[1, 0.5]] });

  it('Størmer–Verlet: the energy error stays bounded and is of order 2', async () => {
    const coarse = await run('stormer-verlet', 0.02);
    const fine = await run('stormer-verlet', 0.01);
    const [energy] = coarse.energy;
    // Bounded: the second half of the run strays no further than the first.
    expect(drift(energy, 50)).toBeLessThan(1.2 * drift(energy, 0, 51));
    const order = Math.log2(coarse.maxEnergyError[0] / fine.maxEnergyError[0]);
    expect(order).toBeGreaterThan(1.8);
    expect(order).toBeLessThan(2.2);
  }, 60_000);

  it('explicit Euler: the energy error grows; RK4: it drifts, slowly', async () => {
    const euler = (await run('euler', 0.01, 20_000)).energy[0];
    expect(drift(euler, 50)).toBeGreaterThan(1.5 * drift(euler, 0, 51));
    const rk4 = (await run('rk4', 0.05)).energy[0];
    const early = drift(rk4, 0, 11);
    const late = drift(rk4, 0);
    expect(late).toBeGreaterThan(3 * early);
    expect(late).toBeLessThan(1e-3);
  }, 60_000);
});

describe('symplecticity: the one-step map M satisfies MᵀJM = J', () => {
  /** M = ∂Φ/∂y by central differences of one-step runs, all in one request. */
  async function jacobian(method: string, hamiltonian: object, h: number, y: number[], epsilon = 1e-5): Promise<number[][]> {
    const initial = y.flatMap((_, j) => [1, -1].map((sign) => y.map((x, i) => (i === j ? x + sign * epsilon : x))));
    const { states } = await flow({ hamiltonian, method, h, steps: 1, every: 1, initial });
    // Column j from the runs 2j (+ε) and 2j + 1 (−ε).
    return y.map((_, i) => y.map((__, j) => (states[2 * j][1][i] - states[2 * j + 1][1][i]) / (2 * epsilon)));
  }

  /** max |MᵀJM − J| for n = 1, J = [[0, 1], [−1, 0]]. */
  const defect = (M: number[][]) => {
    const J = [[0, 1], [-1, 0]];
    let worst = 0;
    for (let r = 0; r < 2; r++) {
      for (let c = 0; c < 2; c++) {
        let sum = 0;
        for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) sum += M[a][r] * J[a][b] * M[b][c];
        worst = Math.max(worst, Math.abs(sum - J[r][c]));
      }
    }
    return worst;
  };

  it.each([
    ['stormer-verlet', separable],
    ['symplectic-euler-p', separable],
    ['symplectic-euler-q', separable],
    ['implicit-midpoint', separable],
    ['implicit-midpoint', general],
  ] as const)('%s holds it to 1e-6', async (method, hamiltonian) => {
    expect(defect(await jacobian(method, hamiltonian, 0.6, [1.1, -0.6]))).toBeLessThan(1e-6);
  });

  it.each([
    ['rk4', separable],
    ['rk4', general],
    ['euler', separable],
    ['euler', general],
  ] as const)('%s visibly fails it', async (method, hamiltonian) => {
    expect(defect(await jacobian(method, hamiltonian, 0.6, [1.1, -0.6]))).toBeGreaterThan(1e-5);
  });
});

describe('the answer', () => {
  it('is the documented example', async () => {
    const { body } = await http.post('/flows').send(flowExample.request).expect(200);
    expect(body).toEqual(flowExample.answer);
    const field = await http.post('/flows/vector-field').send(vectorFieldExample.request).expect(200);
    expect(field.body).toEqual(vectorFieldExample.answer);
  });

  it('saves at steps 0, every, 2·every, … and the last step', async () => {
    const answer = await flow({ hamiltonian: separable, method: 'symplectic-euler-q', h: 0.5, steps: 7, every: 3, initial: [[1, 0]] });
    expect(answer.times).toEqual([0, 1.5, 3, 3.5]);
    expect(answer.states[0]).toHaveLength(4);
    expect(answer.states[0][0]).toEqual([1, 0]);
  });

  it('/flows/vector-field gives H, ∂H/∂q and ∂H/∂p from one gradient of each model', async () => {
    const states = [[0.3, -1.2], [2, 0.5]];
    const { body } = await http.post('/flows/vector-field').send({ hamiltonian: separable, states }).expect(200);
    const T = await gradient('demo-pendulum-T', states.map((s) => [s[1]]));
    const V = await gradient('demo-pendulum-V', states.map((s) => [s[0]]));
    expect(body.energy).toEqual(states.map((_, i) => T.values[i] + V.values[i]));
    expect(body.dHdq).toEqual(V.gradients);
    expect(body.dHdp).toEqual(T.gradients);
    const H = await http.post('/flows/vector-field').send({ hamiltonian: general, states }).expect(200);
    const G = await gradient('demo-pendulum-H', states);
    expect(H.body).toMatchObject({ energy: G.values, dHdq: G.gradients.map((g) => [g[0]]), dHdp: G.gradients.map((g) => [g[1]]) });
  });

  it('as raw float64s holds the same numbers, in the documented layout', async () => {
    const request = { hamiltonian: separable, method: 'rk4', h: 0.1, steps: 10, every: 5, initial: [[1, 0], [0.2, 0.3]] };
    const json = await flow(request);
    const response = await fetch(`${await url()}/flows`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/octet-stream' }, body: JSON.stringify(request) });
    expect(response.status).toBe(200);
    expect(response.headers.get('flow-trajectories')).toBe('2');
    expect(response.headers.get('flow-saves')).toBe('3');
    expect(response.headers.get('flow-state-size')).toBe('2');
    const numbers = Array.from(new Float64Array(await response.arrayBuffer()));
    expect(numbers).toEqual([...json.states.flat(2), ...json.energy.flat(), ...json.maxEnergyError, 10, 0, 10, 0]);
  });

  it('as NDJSON comes line by line while the run goes on', async () => {
    const started = performance.now();
    const response = await fetch(`${await url()}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
      body: JSON.stringify({ hamiltonian: separable, method: 'stormer-verlet', h: 0.001, steps: 600_000, every: 60_000, initial: [[1, 0]] }),
    });
    expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const arrivals: { line: Record<string, unknown>; at: number }[] = [];
    const decoder = new TextDecoder();
    let pending = '';
    for await (const chunk of response.body!) {
      pending += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = pending.indexOf('\n')) >= 0) {
        arrivals.push({ line: JSON.parse(pending.slice(0, end)), at: performance.now() - started });
        pending = pending.slice(end + 1);
      }
    }
    expect(arrivals.map((a) => a.line.type)).toEqual(['start', ...Array(11).fill('save'), 'end']);
    expect(arrivals.filter((a) => a.line.type === 'save').map((a) => a.line.step)).toEqual(Array.from({ length: 11 }, (_, k) => k * 60_000));
    // The middle save went out well before the end: the lines follow the run.
    const total = arrivals.at(-1)!.at - arrivals[0].at;
    expect(total).toBeGreaterThan(300);
    expect(arrivals[6].at - arrivals[0].at).toBeLessThan(0.8 * total);
  }, 60_000);

  it('as NDJSON is not cut off while the run produces nothing to send: only a client that leaves bytes unread stalls', async () => {
    const slow = await startApp({ ANSWER_STALL_TIMEOUT_MS: '100' });
    try {
      await slow.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = slow.app.server.address() as { port: number };
      // Saves about half a second apart, each gap five times the stall timeout.
      const response = await fetch(`http://127.0.0.1:${port}/flows`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
        body: JSON.stringify({ hamiltonian: separable, method: 'stormer-verlet', h: 0.001, steps: 450_000, every: 150_000, initial: [[1, 0]] }),
      });
      const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line) as { type: string });
      expect(lines.map((line) => line.type)).toEqual(['start', 'save', 'save', 'save', 'save', 'end']);
    } finally {
      await slow.app.close();
    }
  }, 60_000);

  it('says where a trajectory ended and why, and keeps the others going', async () => {
    // T(p) = p and V(q) = 1e300·q: V overflows once q passes about 1.8e8, which q = 1.75e8 does
    // after its first step of q′ = q + h with h = 1e7, and q = 0 does not in three.
    const T = await http.post('/models').send({ name: 'linear', h: 1, W: [[[0]]], b: [[0]], w: [1], mu: 0 }).expect(201);
    const V = await http.post('/models').send({ name: 'steep', h: 1, W: [[[0]]], b: [[0]], w: [1e300], mu: 0 }).expect(201);
    const answer = await flow({ hamiltonian: { kinetic: T.body.id, potential: V.body.id }, method: 'euler', h: 1e7, steps: 3, every: 1, initial: [[1.75e8, 0], [0, 0]] });
    expect(answer.ended[0]).toMatchObject({ step: 0, reason: 'non-finite' });
    expect(answer.ended[0]!.detail).toMatch(/^the state after step 0 \(or its energy\) is not a finite number/);
    expect(answer.states[0]).toEqual([[1.75e8, 0]]);
    expect(answer.energy[0]).toHaveLength(1);
    expect(answer.ended[1]).toBeNull();
    expect(answer.states[1]).toHaveLength(4);
  });

  it('reports a Newton iteration that does not converge for the trajectory, not as an error', async () => {
    // H = relu(q) + relu(p): its Hessian is 0, so Newton's method is the fixed-point iteration,
    // which from (−0.4, 0.4) with h = 1 cycles through four points; from (−5, −5), f = 0.
    const zero = [0, 0, 0, 0];
    const H = await http
      .post('/models')
      .send({ name: 'kinks', h: 1, inputDim: 2, activation: 'relu', W: [[zero, zero, [1, 0, 0, 0], [0, 1, 0, 0]]], b: [zero], w: [0, 0, 1, 1], mu: 0 })
      .expect(201);
    const answer = await flow({ hamiltonian: { model: H.body.id }, method: 'implicit-midpoint', h: 1, steps: 3, every: 1, initial: [[-0.4, 0.4], [-5, -5]] });
    expect(answer.ended[0]).toMatchObject({ step: 0, reason: 'newton-not-converged' });
    expect(answer.ended[0]!.detail).toMatch(/^Newton's method for step 1 did not converge/);
    expect(answer.states[0]).toEqual([[-0.4, 0.4]]);
    expect(answer.ended[1]).toBeNull();
    expect(answer.states[1]).toEqual(Array(4).fill([-5, -5]));
  });
});

describe('bad input', () => {
  const base = { hamiltonian: separable, method: 'stormer-verlet', h: 0.01, steps: 10, initial: [[1, 0]] };
  it.each([
    ['h = 0', { ...base, h: 0 }, 400, /^h must not be 0/],
    ['an unknown method', { ...base, method: 'leapfrog' }, 400, /^method must be one of stormer-verlet/],
    ['a string for steps', { ...base, steps: '10' }, 400, /steps/],
    ['steps = 0', { ...base, steps: 0 }, 400, /steps/],
    ['no initial states', { ...base, initial: [] }, 400, /initial/],
    ['a state of 3 numbers', { ...base, initial: [[1, 0], [1, 0, 0]] }, 422, /^initial\[1\] has 3 coordinates, expected 2 \(2n: q, then p\)$/],
    ['an unknown model', { ...base, hamiltonian: { kinetic: 'nope', potential: 'demo-pendulum-V' } }, 404, /^hamiltonian\.kinetic: no model with id 'nope'$/],
    ['a version that does not exist', { ...base, hamiltonian: { kinetic: { modelId: 'demo-pendulum-T', modelVersion: 9 }, potential: 'demo-pendulum-V' } }, 404, /has no version 9/],
    ['T and V of different n', { ...base, hamiltonian: { kinetic: 'demo-pendulum-T', potential: 'demo' } }, 422, /need the same n$/],
    ['a general H with Størmer–Verlet', { ...base, hamiltonian: general }, 422, /needs a separable Hamiltonian/],
    ['a general H of odd inputDim', { ...base, method: 'rk4', hamiltonian: { model: 'demo-pendulum-T' } }, 422, /needs an even inputDim 2n/],
    ['too many saves', { ...base, steps: 2_000_000, every: 1 }, 413, /more than 1000000; save less often/],
    ['too much work', { ...base, steps: 10_000_000, every: 1_000_000, initial: Array.from({ length: 1000 }, () => [1, 0]) }, 413, /MAX_REQUEST_FLOPS/],
  ])('%s → %d problem+json naming it', async (_name, body, status, detail) => {
    const response = await http.post('/flows').send(body);
    expect(response.status).toBe(status);
    expect(response.headers['content-type']).toMatch(problemType);
    expect(response.body.detail).toMatch(detail);
  });

  it('Accept: text/html → 406 naming the media types', async () => {
    const response = await http.post('/flows').set('accept', 'text/html').send(base).expect(406);
    expect(response.body.detail).toBe("Accept 'text/html' allows none of application/json, application/octet-stream, application/x-ndjson, image/svg+xml");
  });
});

describe('long runs on the pool', async () => {
  const pooled = await startApp({ WORKERS: '2' });
  const address = await pooled.app.listen({ host: '127.0.0.1', port: 0 });
  const long = { hamiltonian: separable, method: 'stormer-verlet', h: 0.001, steps: 6_000_000, every: 600_000, initial: [[1, 0]] };
  const send = (body: object, signal?: AbortSignal) =>
    fetch(`${address}/flows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });

  it('keep /health/live answering at once, and stop when their clients go away', async () => {
    // Two runs of about 20 s each fill both threads.
    const aborts = [new AbortController(), new AbortController()];
    const runs = aborts.map((abort) => send(long, abort.signal).catch((error: Error) => error.name));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const probes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      expect((await fetch(`${address}/health/live`)).status).toBe(200);
      probes.push(performance.now() - started);
    }
    expect(Math.max(...probes)).toBeLessThan(100);
    for (const abort of aborts) abort.abort();
    expect(await Promise.all(runs)).toEqual(['AbortError', 'AbortError']);
    // A run that needs a thread gets one at once: the abandoned runs stopped between steps.
    const started = performance.now();
    const response = await send({ ...long, steps: 100_000, every: 100_000 });
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(3000);
    const metrics = await (await fetch(`${address}/metrics`)).text();
    expect(metrics).toMatch(/^resnet_flow_steps_total\{method="stormer-verlet"\} 100000$/m);
    expect(metrics).toMatch(/^resnet_flow_duration_seconds_count\{method="stormer-verlet"\} 1$/m);
  }, 60_000);

  it('give the same numbers on the pool as on the main thread', async () => {
    const body = { hamiltonian: general, method: 'implicit-midpoint', h: 0.05, steps: 20_000, every: 5000, initial: [[1, 0], [0.2, 0.9], [-1, 1]] };
    const onPool = await (await send(body)).json();
    const here = await startApp({ WORKERS: '0' });
    const { body: onMain } = await here.http.post('/flows').send(body).expect(200);
    expect(onPool).toEqual(onMain);
  }, 60_000);
});

let listening: Promise<string> | null = null;
/** The app's own address, for requests made with fetch (streams, raw bytes). */
function url(): Promise<string> {
  listening ??= app.listen({ host: '127.0.0.1', port: 0 }).then((address) => address);
  return listening;
}
