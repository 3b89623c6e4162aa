/**
 * The flow kernels against an independent implementation (numpy, scripts/fixtures/flow_models.py):
 * 1,000 steps of every method on the learned pendulum, separable and general, to 1e-10 relative
 * (each trajectory's largest difference over its largest number); and the implicit midpoint rule
 * solved by Newton's method here and by fixed-point iteration there.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createModel, integrateInto, saveCount, solveInPlace, FLOW_END, type FlowMethod, type HamiltonianModels, type ResNetModel } from '../../src/kernels/index.js';

interface Case {
  readonly hamiltonian: { kinetic?: string; potential?: string; model?: string };
  readonly method: FlowMethod;
  readonly h: number;
  readonly steps: number;
  readonly every: number;
  readonly initial: number[][];
  readonly states: number[][][];
  readonly energy: number[][];
  readonly maxEnergyError: number[];
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/flow-vectors.json', import.meta.url), 'utf8')) as { models: Record<string, Record<string, unknown>>; cases: Case[] };

const fixtureModel = (name: string): ResNetModel => {
  const m = fixture.models[name] as { W: number[][][]; b: number[][] } & Record<string, unknown>;
  return createModel({ ...(m as object), W: m.W.flat(2), b: m.b.flat() } as never);
};

const hamiltonianOf = (spec: Case['hamiltonian']): HamiltonianModels =>
  spec.model !== undefined ? { kind: 'general', model: fixtureModel(spec.model) } : { kind: 'separable', kinetic: fixtureModel(spec.kinetic!), potential: fixtureModel(spec.potential!) };

/** The largest |a − b| over the largest |b|. */
function relative(actual: ArrayLike<number>, expected: readonly number[]): number {
  let gap = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    gap = Math.max(gap, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return gap / scale;
}

function run(models: HamiltonianModels, spec: { method: FlowMethod; h: number; steps: number; every: number }, initial: number[][]) {
  const m = initial.length;
  const w = initial[0].length;
  const saves = saveCount(spec);
  const outputs = { states: new Float64Array(m * saves * w), energy: new Float64Array(m * saves), maxEnergyError: new Float64Array(m), end: new Float64Array(2 * m) };
  integrateInto(models, spec, Float64Array.from(initial.flat()), outputs);
  return { ...outputs, saves };
}

describe('flows against numpy', () => {
  it.each(fixture.cases.map((c) => [`${c.method} on ${c.hamiltonian.model ?? 'T + V'}`, c] as const))('%s: 1,000 steps to 1e-10', (_name, c) => {
    const result = run(hamiltonianOf(c.hamiltonian), c, c.initial);
    const w = c.initial[0].length;
    for (let i = 0; i < c.initial.length; i++) {
      const states = result.states.subarray(i * result.saves * w, (i + 1) * result.saves * w);
      expect(result.saves).toBe(c.states[i].length);
      expect(relative(states, c.states[i].flat())).toBeLessThan(1e-10);
      expect(relative(result.energy.subarray(i * result.saves, (i + 1) * result.saves), c.energy[i])).toBeLessThan(1e-10);
      expect(Math.abs(result.maxEnergyError[i] - c.maxEnergyError[i])).toBeLessThan(1e-10 * Math.max(...c.energy[i].map(Math.abs)));
      expect(result.end[2 * i]).toBe(c.steps);
      expect(result.end[2 * i + 1]).toBe(FLOW_END.completed);
    }
  });

  it('a trajectory gives the same numbers alone as in a batch', () => {
    const c = fixture.cases.find((x) => x.method === 'implicit-midpoint')!;
    const together = run(hamiltonianOf(c.hamiltonian), c, c.initial);
    const alone = run(hamiltonianOf(c.hamiltonian), c, [c.initial[1]]);
    const size = together.saves * 2;
    expect(Array.from(alone.states)).toEqual(Array.from(together.states.subarray(size, 2 * size)));
  });
});

describe('the linear solve of Newton steps', () => {
  it('pivots, and reports a singular matrix', () => {
    const A = Float64Array.from([0, 2, 1, 1]);
    const b = Float64Array.from([4, 3]);
    expect(solveInPlace(A, b, 2)).toBe(true);
    expect(Array.from(b)).toEqual([1, 2]);
    expect(solveInPlace(Float64Array.from([1, 2, 2, 4]), Float64Array.from([1, 1]), 2)).toBe(false);
  });
});
