/**
 * Second derivatives: the Hessian and the Hessian–vector product beside the gradient, one
 * thread, and the Hessian beside PyTorch's batched vmap(jacfwd(jacrev(f))) (bench/anchors/
 * hessian_py.py) when /usr/bin/python3 has it, at the shapes (K, d, d₀, N) below. Ours and the
 * anchor are measured in the same run; only ratios mean anything on a shared machine.
 *
 *   npm run bench:hessian
 *   npm run bench:hessian -- --no-anchors
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createModel, hessianInto, hessianVectorInto, normalGenerator, randomParameters, valueAndGradientInto } from '../src/kernels/index.js';

const { values: options } = parseArgs({ options: { 'no-anchors': { type: 'boolean', default: false }, budget: { type: 'string', default: '2' } } });
const budgetMs = Number(options.budget) * 1000;

const SHAPES = [
  { K: 20, d: 4, d0: 2, N: 1 },
  { K: 20, d: 4, d0: 2, N: 100_000 },
  { K: 16, d: 32, d0: 8, N: 10_000 },
  { K: 8, d: 64, d0: 64, N: 512 },
] as const;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Median ms per call: at least 3 calls, then as many as the budget allows; fast calls grouped. */
function time(call: () => void): number {
  call();
  // Calls are grouped until a group takes a millisecond or more.
  let repeat = 1;
  for (;;) {
    const start = performance.now();
    for (let i = 0; i < repeat; i++) call();
    if (performance.now() - start >= 1) break;
    repeat *= 2;
  }
  const samples: number[] = [];
  const deadline = performance.now() + budgetMs;
  while (samples.length < 3 || (performance.now() < deadline && samples.length < 200)) {
    const start = performance.now();
    for (let i = 0; i < repeat; i++) call();
    samples.push((performance.now() - start) / repeat);
  }
  return median(samples);
}

const python = '/usr/bin/python3';
const haveTorch = !options['no-anchors'] && spawnSync(python, ['-c', 'import torch, functorch'], { stdio: 'ignore' }).status === 0;
const torchMs = new Map<string, number>();
if (haveTorch) {
  const script = fileURLToPath(new URL('anchors/hessian_py.py', import.meta.url));
  const output = execFileSync(python, [script, ...SHAPES.map(({ K, d, d0, N }) => `${K},${d},${d0},${N}`)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
  });
  for (const m of output.matchAll(/K=(\d+) d=(\d+) d0=(\d+) N=(\d+): ([\d.]+) ms\/call/g)) torchMs.set(`${m[1]},${m[2]},${m[3]},${m[4]}`, Number(m[5]));
}

const rows = SHAPES.map(({ K, d, d0, N }) => {
  const model = createModel({ ...randomParameters({ layers: K, dim: d, seed: 1 }), inputDim: d0 });
  const normal = normalGenerator(2);
  const points = Float64Array.from({ length: N * d0 }, () => normal());
  const vectors = Float64Array.from({ length: N * d0 }, () => normal());
  const values = new Float64Array(N);
  const gradients = new Float64Array(N * d0);
  const hessians = new Float64Array(N * d0 * d0);
  const products = new Float64Array(N * d0);
  const gradientMs = time(() => valueAndGradientInto(model, points, values, gradients));
  const hessianMs = time(() => hessianInto(model, points, values, gradients, hessians));
  const hvpMs = time(() => hessianVectorInto(model, points, vectors, values, gradients, products));
  const torch = torchMs.get(`${K},${d},${d0},${N}`);
  return {
    case: `K${K}-d${d}-d0${d0}-N${N}`,
    gradientMs: Number(gradientMs.toPrecision(4)),
    hessianMs: Number(hessianMs.toPrecision(4)),
    hvpMs: Number(hvpMs.toPrecision(4)),
    hessianOverGradient: Number((hessianMs / gradientMs).toFixed(2)),
    hvpOverGradient: Number((hvpMs / gradientMs).toFixed(2)),
    ...(torch === undefined ? {} : { torchHessianMs: Number(torch.toPrecision(4)), torchOverOurHessian: Number((torch / hessianMs).toFixed(2)) }),
  };
});
console.log(`second derivatives, one thread, Node ${process.version}; medians; torch: vmap(jacfwd(jacrev(f))), float64, one thread`);
console.table(rows);
