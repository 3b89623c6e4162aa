/**
 * The figures of docs/flows.md, from the numeric core on the learned pendulum models: how the
 * energy error of each method grows with the number of steps, its order (from h and h/2), and
 * the example phase portrait (docs/flows-pendulum.svg).
 *
 *     node --import tsx scripts/flow-figures.ts
 */
import { writeFileSync } from 'node:fs';
import { flowSvg } from '../src/codecs/svg/flows.js';
import { createModel, integrateInto, saveCount, type FlowMethod, type HamiltonianModels } from '../src/kernels/index.js';
import { pendulumHamiltonian, pendulumKinetic, pendulumPotential } from '../src/registry/pendulum.js';

const separable: HamiltonianModels = { kind: 'separable', kinetic: createModel(pendulumKinetic), potential: createModel(pendulumPotential) };
const general: HamiltonianModels = { kind: 'general', model: createModel(pendulumHamiltonian) };
const initial = [1, 0.5];

function run(models: HamiltonianModels, method: FlowMethod, h: number, steps: number, every = steps, states = initial) {
  const spec = { method, h, steps, every };
  const m = states.length / 2;
  const saves = saveCount(spec);
  const outputs = { states: new Float64Array(m * saves * 2), energy: new Float64Array(m * saves), maxEnergyError: new Float64Array(m), end: new Float64Array(2 * m) };
  integrateInto(models, spec, Float64Array.from(states), outputs);
  return { spec, outputs };
}

const cases: [FlowMethod, HamiltonianModels, string][] = [
  ['stormer-verlet', separable, 'T + V'],
  ['symplectic-euler-p', separable, 'T + V'],
  ['symplectic-euler-q', separable, 'T + V'],
  ['implicit-midpoint', general, 'H'],
  ['rk4', separable, 'T + V'],
  ['euler', separable, 'T + V'],
];
const h = 0.01;
const lengths = [1_000, 10_000, 100_000];
console.log(`Largest |H − H₀| from (q, p) = (${initial.join(', ')}), h = ${h}:\n`);
console.log(`| method | H | ${lengths.map((n) => `${n.toLocaleString('en')} steps`).join(' | ')} | order (h = 0.02 → 0.01, 10,000 steps of 0.01) |`);
console.log(`| --- | --- | ${lengths.map(() => '---:').join(' | ')} | ---: |`);
for (const [method, models, label] of cases) {
  const errors = lengths.map((n) => run(models, method, h, n).outputs.maxEnergyError[0]);
  const coarse = run(models, method, 2 * h, 5_000).outputs.maxEnergyError[0];
  const fine = run(models, method, h, 10_000).outputs.maxEnergyError[0];
  console.log(`| ${method} | ${label} | ${errors.map((e) => e.toExponential(2)).join(' | ')} | ${Math.log2(coarse / fine).toFixed(2)} |`);
}

const picture = run(separable, 'stormer-verlet', 0.05, 2000, 5, [1, 0, 0.5, 0.5, 2.5, 0, 0, 1.8]);
const svg = flowSvg(
  { hamiltonian: { kinetic: { modelId: 'demo-pendulum-T', modelVersion: 1 }, potential: { modelId: 'demo-pendulum-V', modelVersion: 1 } }, method: 'stormer-verlet', h: 0.05, steps: 2000, every: 5 },
  { count: 4, width: 2, spec: picture.spec, ...picture.outputs },
);
writeFileSync(new URL('../docs/flows-pendulum.svg', import.meta.url), svg);
console.log('\nwrote docs/flows-pendulum.svg');
