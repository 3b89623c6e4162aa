/**
 * Second derivatives: the Hessian and the Hessian–vector product beside the gradient, one
 * thread, and the Hessian beside PyTorch's batched vmap(jacfwd(jacrev(f))) (bench/anchors/
 * hessian_py.py) when /usr/bin/python3 has it, at the shapes (K, d, d₀, N) below. Ours and the
 * anchor are measured in alternating rounds and each figure is the median over the rounds; only
 * ratios mean anything on a shared machine.
 *
 *   npm run bench:hessian
 *   npm run bench:hessian -- --no-anchors
 *   npm run bench:hessian -- --rounds 3         alternating rounds (default 3)
 *   npm run bench:hessian -- --budget 2         seconds of sampling per figure and round (default 2)
 *   npm run bench:hessian -- --baseline ../old  also the Hessian and gradient of another checkout, in the same rounds
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as thisBuild from '../src/kernels/index.js';

const { values: options } = parseArgs({
  options: {
    'no-anchors': { type: 'boolean', default: false },
    budget: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    baseline: { type: 'string' },
  },
});
const budgetMs = Number(options.budget) * 1000;
const rounds = Number(options.rounds);

type Kernels = Pick<typeof thisBuild, 'createModel' | 'hessianInto' | 'hessianVectorInto' | 'normalGenerator' | 'randomParameters' | 'valueAndGradientInto'>;
/** Another checkout's kernels (--baseline), measured beside these. */
const baseline: Kernels | null = options.baseline
  ? ((await import(pathToFileURL(resolve(options.baseline, 'src/kernels/index.ts')).href)) as Kernels)
  : null;

const SHAPES = [
  { K: 20, d: 4, d0: 2, N: 1 },
  { K: 20, d: 4, d0: 2, N: 100_000 },
  { K: 16, d: 32, d0: 8, N: 10_000 },
  { K: 8, d: 64, d0: 64, N: 512 },
] as const;
type Shape = (typeof SHAPES)[number];
const caseName = ({ K, d, d0, N }: Shape) => `K${K}-d${d}-d0${d0}-N${N}`;

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

/** One shape's model, points, directions and preallocated results: the calls the service makes. */
function setUp({ K, d, d0, N }: Shape, kernels: Kernels = thisBuild) {
  const model = kernels.createModel({ ...kernels.randomParameters({ layers: K, dim: d, seed: 1 }), inputDim: d0 });
  const normal = kernels.normalGenerator(2);
  const points = Float64Array.from({ length: N * d0 }, () => normal());
  const vectors = Float64Array.from({ length: N * d0 }, () => normal());
  const values = new Float64Array(N);
  const gradients = new Float64Array(N * d0);
  const hessians = new Float64Array(N * d0 * d0);
  const products = new Float64Array(N * d0);
  return {
    gradient: () => kernels.valueAndGradientInto(model, points, values, gradients),
    hessian: () => kernels.hessianInto(model, points, values, gradients, hessians),
    hvp: () => kernels.hessianVectorInto(model, points, vectors, values, gradients, products),
  };
}

const python = '/usr/bin/python3';
const haveTorch = !options['no-anchors'] && spawnSync(python, ['-c', 'import torch, functorch'], { stdio: 'ignore' }).status === 0;
/** One run of the PyTorch anchor over every shape: ms per call by case. */
function torchRound(): Map<string, number> {
  const script = fileURLToPath(new URL('anchors/hessian_py.py', import.meta.url));
  const output = execFileSync(python, [script, ...SHAPES.map(({ K, d, d0, N }) => `${K},${d},${d0},${N}`)], {
    encoding: 'utf8',
    // One BLAS thread, like our kernels.
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
  });
  const ms = new Map<string, number>();
  for (const m of output.matchAll(/K=(\d+) d=(\d+) d0=(\d+) N=(\d+): ([\d.]+) ms\/call/g)) {
    ms.set(caseName({ K: Number(m[1]), d: Number(m[2]), d0: Number(m[3]), N: Number(m[4]) } as Shape), Number(m[5]));
  }
  return ms;
}

const calls = SHAPES.map((shape) => setUp(shape));
const baselineCalls = baseline ? SHAPES.map((shape) => setUp(shape, baseline)) : [];
const samples = SHAPES.map(() => ({ gradient: [] as number[], hessian: [] as number[], hvp: [] as number[], torch: [] as number[], baselineGradient: [] as number[], baselineHessian: [] as number[] }));
for (let round = 0; round < rounds; round++) {
  SHAPES.forEach((_, i) => {
    const into = samples[i];
    into.gradient.push(time(calls[i].gradient));
    into.hessian.push(time(calls[i].hessian));
    into.hvp.push(time(calls[i].hvp));
    if (baseline) {
      into.baselineGradient.push(time(baselineCalls[i].gradient));
      into.baselineHessian.push(time(baselineCalls[i].hessian));
    }
  });
  if (haveTorch) {
    const ms = torchRound();
    SHAPES.forEach((shape, i) => samples[i].torch.push(ms.get(caseName(shape))!));
  }
}

const figure = (ms: number) => Number(ms.toPrecision(4));
const rows = SHAPES.map((shape, i) => {
  const s = samples[i];
  const [gradientMs, hessianMs, hvpMs] = [median(s.gradient), median(s.hessian), median(s.hvp)];
  return {
    case: caseName(shape),
    gradientMs: figure(gradientMs),
    hessianMs: figure(hessianMs),
    hvpMs: figure(hvpMs),
    hessianOverGradient: Number((hessianMs / gradientMs).toFixed(2)),
    hvpOverGradient: Number((hvpMs / gradientMs).toFixed(2)),
    ...(haveTorch ? { torchHessianMs: figure(median(s.torch)), torchOverOurHessian: Number((median(s.torch) / hessianMs).toFixed(2)) } : {}),
    ...(baseline
      ? {
          baselineGradientMs: figure(median(s.baselineGradient)),
          baselineHessianMs: figure(median(s.baselineHessian)),
          hessianOverBaseline: Number((hessianMs / median(s.baselineHessian)).toFixed(3)),
          gradientOverBaseline: Number((gradientMs / median(s.baselineGradient)).toFixed(3)),
        }
      : {}),
  };
});
console.log(`second derivatives, one thread, Node ${process.version}; ms per call, medians of ${rounds} alternating rounds; torch: vmap(jacfwd(jacrev(f))), float64, one thread`);
console.table(rows);
if (!options['no-anchors'] && !haveTorch) console.log(`(PyTorch with functorch is not installed for ${python}; its columns are left out)`);
