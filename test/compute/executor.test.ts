/**
 * The executor alone, without HTTP: the checks of points against the model and the budget, this
 * thread or the pool by the work, slices of the right size dispatched a few at a time and as
 * their points arrive, outcomes merged back in order, cancellation, and the same bits from every
 * path. A fake pool shows what is sent to the threads; a real one that the threads compute it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createExecutor, mergeOutcomes, SLICE_FLOPS, Slices, type RunContext } from '../../src/compute/executor.js';
import { evaluate, gradientOperation } from '../../src/compute/operations.js';
import type { IncomingPoints, PointSet } from '../../src/compute/points.js';
import { createPool, type Pool } from '../../src/compute/pool.js';
import { runSliceAndFollowUp, type SliceOutcome, type SliceTask } from '../../src/compute/slices.js';
import { CancelledError, LimitExceededError, MalformedPointsError, NonFiniteResultError, PointsShapeError } from '../../src/errors.js';
import { createModel, randomParameters, valueAndGradient } from '../../src/kernels/index.js';
import { sameBits } from '../helpers/bits.js';
import { calls } from '../helpers/follow-up.js';

const model = createModel(randomParameters({ layers: 20, dim: 4, inputDim: 2, seed: 7 }));
const flopsPerPoint = gradientOperation.flops(model);

const set = (data: Float64Array, width = 2, finite = true): PointSet => ({
  kind: 'set',
  name: 'points',
  count: data.length / width,
  data,
  width,
  irregular: null,
  finite,
});

const pointsOf = (n: number, seed = 1) => Float64Array.from({ length: 2 * n }, (_, i) => Math.sin(i * 0.37 + seed) * 1.5);

/** A pool that runs slices here and remembers each, possibly holding them until released. */
function fakePool(threads: number, options: { hold?: boolean } = {}) {
  const slices: { from: number; length: number }[] = [];
  const waiting: (() => void)[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  const pool: Pool = {
    threads,
    async slice(task) {
      slices.push({ from: -1, length: task.inputs[0].length / 2 });
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      if (options.hold) await new Promise<void>((resolve) => waiting.push(resolve));
      else await Promise.resolve();
      inFlight--;
      return runSliceAndFollowUp({ ...task, kind: 'slice', keys: [0] } as SliceTask);
    },
    close: async () => {},
  };
  return { pool, slices, waiting, mostInFlight: () => mostInFlight };
}

const executorWith = (pool: Pool | null, overrides: Partial<Parameters<typeof createExecutor>[0]> = {}) =>
  createExecutor({ pool, poolMinFlops: 5_000_000, maxPoints: 1_000_000, maxRequestFlops: 1e12, ...overrides });

describe('checks before any work', () => {
  const executor = executorWith(null, { maxPoints: 100, maxRequestFlops: 50 * flopsPerPoint });

  it.each([
    ['a point of the wrong width', { ...set(pointsOf(3)), width: 3 }, PointsShapeError, "points[0] has 3 coordinates, expected 2 (the model's inputDim)"],
    ['a later point of another width', { ...set(pointsOf(3)), irregular: { index: 2, length: 1 } }, PointsShapeError, "points[2] has 1 coordinates, expected 2 (the model's inputDim)"],
    ['more points than the limit', set(pointsOf(101)), LimitExceededError, 'points has 101 points, more than the limit of 100 (MAX_POINTS)'],
    ['no points', set(new Float64Array(0)), PointsShapeError, 'points must have at least 1 item'],
    ['more work than the budget', set(pointsOf(51)), LimitExceededError, /more than the limit of 64000 \(MAX_REQUEST_FLOPS\)/],
  ] as const)('%s', async (_name, points, kind, message) => {
    const run = executor.run(gradientOperation, model, { points: points as PointSet });
    await expect(run).rejects.toBeInstanceOf(kind);
    await expect(run).rejects.toThrow(message);
  });

  it('raw bytes that are not whole points, before reading them', async () => {
    let read = false;
    const incoming: IncomingPoints = { kind: 'incoming', name: 'points', byteLength: 24, fill: async () => void (read = true) };
    await expect(executor.run(gradientOperation, model, { points: incoming })).rejects.toThrow('the body has 24 bytes, not a positive multiple of 16');
    expect(read).toBe(false);
  });
});

describe('where the work runs', () => {
  it('a batch under WORKER_MIN_FLOPS stays on this thread; from it, goes to the pool in slices of about SLICE_FLOPS', async () => {
    const fake = fakePool(2);
    const executor = executorWith(fake.pool);
    const small = Math.floor(5_000_000 / flopsPerPoint) - 1;
    const onThisThread = await executor.run(gradientOperation, model, { points: set(pointsOf(small)) });
    expect([onThisThread.pooled, fake.slices.length]).toEqual([false, 0]);
    const n = 60_000;
    const pooled = await executor.run(gradientOperation, model, { points: set(pointsOf(n)) });
    expect(pooled.pooled).toBe(true);
    const size = Math.floor(SLICE_FLOPS / flopsPerPoint);
    expect(fake.slices.map((s) => s.length)).toEqual([...Array(Math.floor(n / size)).fill(size), n % size].filter((x) => x > 0));
    expect(fake.mostInFlight()).toBeLessThanOrEqual(2);
  });

  it('gives the same bits on this thread, on a fake pool, on a real pool, and from the kernels directly', async () => {
    const pool = createPool(2);
    afterAll(() => pool.close());
    const n = 9_001;
    const points = pointsOf(n, 3);
    const want = valueAndGradient(model, points);
    const wanted = Float64Array.from([...want.values, ...want.gradients]);
    for (const executor of [executorWith(null), executorWith(fakePool(2).pool, { poolMinFlops: 0 }), executorWith(pool, { poolMinFlops: 0 })]) {
      const result = await executor.run(gradientOperation, model, { points: set(points) });
      expect(sameBits(result.block, wanted)).toBe(true);
      expect(sameBits(result.outputs[0], want.values)).toBe(true);
    }
    const values = await executorWith(pool, { poolMinFlops: 0 }).run(evaluate, model, { points: set(points) });
    expect(sameBits(values.block, want.values)).toBe(true);
  });

  it('without a pool, a batch over SLICE_FLOPS runs in slices, letting timers run between them', async () => {
    const executor = executorWith(null);
    const n = 3 * Math.ceil(SLICE_FLOPS / flopsPerPoint);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const result = await executor.run(gradientOperation, model, { points: set(pointsOf(n)) });
    clearInterval(timer);
    expect(result.count).toBe(n);
    expect(ticks).toBeGreaterThan(0);
  });
});

describe('slice follow-ups', () => {
  const module = new URL('../helpers/follow-up.ts', import.meta.url).href;
  const followUp = (_model: unknown, _n: number, from: number) => ({ module, name: 'firstValue', argument: { from } });

  it('run on the thread after each slice, and come back in the order of the points, on a fake pool and a real one', async () => {
    const pool = createPool(2);
    afterAll(() => pool.close());
    const n = 3 * Math.ceil(SLICE_FLOPS / flopsPerPoint);
    const points = pointsOf(n, 2);
    const want = valueAndGradient(model, points);
    for (const executor of [executorWith(fakePool(2).pool, { poolMinFlops: 0 }), executorWith(pool, { poolMinFlops: 0 })]) {
      const result = await executor.run(gradientOperation, model, { points: set(points) }, { followUp });
      const followUps = result.followUps!;
      expect(followUps.map((f) => f.from)).toEqual([...followUps.map((f) => f.from)].sort((a, b) => a - b));
      expect(followUps[0].from).toBe(0);
      expect(followUps.at(-1)!.to).toBe(n);
      for (const { from, value } of followUps) expect(value).toEqual({ from, first: want.values[from] });
    }
  });

  it('are not run on this thread, nor for a slice whose results are not finite', async () => {
    const small = await executorWith(null).run(gradientOperation, model, { points: set(pointsOf(10)) }, { followUp });
    expect(small.followUps).toBeNull();
    const before = calls.count;
    await executorWith(fakePool(2).pool, { poolMinFlops: 0 }).run(gradientOperation, model, { points: set(pointsOf(4)) }, { followUp });
    expect(calls.count).toBe(before + 2);
    const overflowing = createModel({ layers: 1, dim: 2, h: 1, activation: 'relu', W: [1e300, 0, 0, 1], b: [0, 0], w: [1, 1], mu: 0 });
    const run = executorWith(fakePool(2).pool, { poolMinFlops: 0 }).run(gradientOperation, overflowing, { points: set(Float64Array.from([1e10, 1, 1, 1])) }, { followUp });
    await expect(run).rejects.toBeInstanceOf(NonFiniteResultError);
    expect(calls.count).toBe(before + 3);
  });
});

describe('points still arriving', () => {
  it('are sent to the pool a slice at a time as their bytes come in, and give the bits of a batch read whole', async () => {
    const fake = fakePool(2);
    const executor = executorWith(fake.pool, { poolMinFlops: 0 });
    const n = 20_000;
    const points = pointsOf(n, 5);
    const bytes = new Uint8Array(points.buffer);
    const sentBeforeTheEnd: number[] = [];
    const incoming: IncomingPoints = {
      kind: 'incoming',
      name: 'points',
      byteLength: bytes.length,
      async fill(into, arrived) {
        for (let at = 0; at < bytes.length; at += 64 * 1024) {
          const end = Math.min(bytes.length, at + 64 * 1024);
          into.set(bytes.subarray(at, end), at);
          arrived(end);
          await new Promise((resolve) => setImmediate(resolve));
          if (end < bytes.length) sentBeforeTheEnd.push(fake.slices.length);
        }
      },
    };
    const result = await executor.run(gradientOperation, model, { points: incoming });
    const want = valueAndGradient(model, points);
    expect(sameBits(result.block, Float64Array.from([...want.values, ...want.gradients]))).toBe(true);
    expect(Math.max(...sentBeforeTheEnd)).toBeGreaterThan(0);
  });

  it('a NaN among them is named by its place in the whole batch, whichever slice it is in', async () => {
    const executor = executorWith(fakePool(2).pool, { poolMinFlops: 0 });
    const points = pointsOf(30_000);
    points[2 * 17_123 + 1] = Number.NaN;
    const incoming: IncomingPoints = {
      kind: 'incoming',
      name: 'points',
      byteLength: points.byteLength,
      async fill(into, arrived) {
        into.set(new Uint8Array(points.buffer));
        arrived(points.byteLength);
      },
    };
    const run = executor.run(gradientOperation, model, { points: incoming });
    await expect(run).rejects.toBeInstanceOf(MalformedPointsError);
    await expect(run).rejects.toThrow('points[17123][1] is NaN, not a finite number');
  });
});

describe('cancellation', () => {
  it('stops dispatching when the signal aborts: slices not yet sent are never sent, and the run rejects with the reason', async () => {
    const fake = fakePool(2, { hold: true });
    const executor = executorWith(fake.pool, { poolMinFlops: 0 });
    const controller = new AbortController();
    const context: RunContext = { signal: controller.signal };
    const run = executor.run(gradientOperation, model, { points: set(pointsOf(200_000)) }, context);
    await new Promise((resolve) => setImmediate(resolve));
    expect(fake.slices).toHaveLength(2);
    controller.abort(new CancelledError('shutting-down'));
    for (const release of fake.waiting.splice(0)) release();
    await expect(run).rejects.toMatchObject({ name: 'CancelledError', reason: 'shutting-down' });
    expect(fake.slices).toHaveLength(2);
  });
});

describe('results that are not finite', () => {
  it('are listed by their index in the whole batch, at most ten, from every slice', async () => {
    const overflowing = createModel({ layers: 1, dim: 2, h: 1, activation: 'relu', W: [1e300, 0, 0, 1], b: [0, 0], w: [1, 1], mu: 0 });
    const points = Float64Array.from({ length: 2 * 40_000 }, (_, i) => (i % 2 === 0 ? 1e-3 : 0.5));
    const bad = [5, 9_999, 10_000, 25_001, 39_999];
    for (const p of bad) points[2 * p] = 1e10;
    for (const executor of [executorWith(null), executorWith(fakePool(2).pool, { poolMinFlops: 0 })]) {
      const run = executor.run(gradientOperation, overflowing, { points: set(points) });
      await expect(run).rejects.toBeInstanceOf(NonFiniteResultError);
      await expect(run).rejects.toMatchObject({ points: bad });
    }
  });
});

describe('mergeOutcomes', () => {
  const outcome = (nonFinitePoints: number[], nonFiniteInput: SliceOutcome['nonFiniteInput'] = null): SliceOutcome => ({ cancelled: false, nonFiniteInput, nonFinitePoints });

  it('puts slices back in order, makes indices the batch’s, keeps the first `report` points, and the first bad input', () => {
    const merged = mergeOutcomes(
      [
        { start: 300, end: 400, outcome: outcome([1, 2], { input: 0, element: 5 }) },
        { start: 0, end: 100, outcome: outcome([7]) },
        { start: 100, end: 300, outcome: outcome([0, 99], { input: 0, element: 3 }) },
      ],
      2,
      4,
    );
    expect(merged).toEqual({ nonFiniteInput: { input: 0, element: 203 }, nonFinitePoints: [7, 100, 199, 301], followUps: null });
  });
});

describe('Slices', () => {
  it('sends at most `parallel` at a time, in order, each once its points have arrived, and settles with every outcome', async () => {
    const started: [number, number][] = [];
    const finishers: (() => void)[] = [];
    const slices = new Slices(10, 3, 2, (from, to) => {
      started.push([from, to]);
      return new Promise((resolve) => finishers.push(() => resolve({ cancelled: false, nonFiniteInput: null, nonFinitePoints: [] })));
    });
    slices.arrive(4);
    expect(started).toEqual([[0, 3]]);
    slices.arrive(10);
    expect(started).toEqual([[0, 3], [3, 6]]);
    finishers.shift()!();
    await Promise.resolve();
    expect(started).toEqual([[0, 3], [3, 6], [6, 9]]);
    while (finishers.length > 0) {
      finishers.shift()!();
      await Promise.resolve();
      await Promise.resolve();
    }
    const outcomes = await slices.settled;
    expect(outcomes.map((o) => o.start).sort((a, b) => a - b)).toEqual([0, 3, 6, 9]);
  });

  it('stops sending after a slice finds a bad input, and rejects when a slice fails', async () => {
    const bad = new Slices(9, 3, 1, async (from) => ({ cancelled: false, nonFiniteInput: from === 3 ? { input: 0, element: 1 } : null, nonFinitePoints: [] }));
    bad.arrive(9);
    expect((await bad.settled).map((o) => o.start)).toEqual([0, 3]);
    const failing = new Slices(9, 3, 1, async () => {
      throw new Error('a thread died');
    });
    failing.arrive(9);
    await expect(failing.settled).rejects.toThrow('a thread died');
  });
});
