/**
 * Kernel benchmark: value and gradient of a residual network, one thread, median of repeated
 * calls, beside the PyTorch and numpy anchors (bench/anchors) run in the same invocation when
 * /usr/bin/python3 can import them. The machines are shared and noisy, so ours and the anchors
 * are measured in alternating rounds and each figure is the median over the rounds; only the
 * ratios mean anything.
 *
 *   npm run bench                       table
 *   npm run bench -- --json             one JSON object per line
 *   npm run bench -- --no-anchors       our figures only
 *   npm run bench -- --rounds 3         alternating rounds (default 3)
 *   npm run bench -- --budget 1         seconds of sampling per case and round (default 1)
 *   npm run bench -- --baseline ../old  also the kernels of another checkout, in the same rounds
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { PerformanceObserver } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  createModel,
  normalGenerator,
  randomParameters,
  simdAvailable,
  valueAndGradientInto,
} from '../src/kernels/index.js';

const { values: options } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    'no-anchors': { type: 'boolean', default: false },
    budget: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    baseline: { type: 'string' },
  },
});
const budgetMs = Number(options.budget) * 1000;
const rounds = Number(options.rounds);

const SHAPES = [
  { K: 20, d: 4, N: 1 },
  { K: 20, d: 4, N: 100_000 },
  { K: 16, d: 32, N: 10_000 },
  { K: 8, d: 256, N: 2048 },
] as const;
type Shape = (typeof SHAPES)[number];

const caseName = ({ K, d, N }: { K: number; d: number; N: number }) => `K${K}-d${d}-N${N}`;

const median = (samples: number[]): number => {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Median seconds per call. Fast calls are grouped so that one sample lasts about a millisecond. */
function time(call: () => void): number {
  for (let i = 0; i < 3; i++) call();
  let repeat = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < repeat; i++) call();
    if (Number(process.hrtime.bigint() - start) >= 1e6 || repeat >= 1 << 20) break;
    repeat *= 2;
  }
  const samples: number[] = [];
  const end = performance.now() + budgetMs;
  while (performance.now() < end || samples.length < 5) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < repeat; i++) call();
    samples.push(Number(process.hrtime.bigint() - start) / 1e9 / repeat);
    if (samples.length >= 2000) break;
  }
  return median(samples);
}

type Kernels = Pick<typeof import('../src/kernels/index.js'), 'createModel' | 'normalGenerator' | 'randomParameters' | 'valueAndGradientInto'>;
const thisBuild: Kernels = { createModel, normalGenerator, randomParameters, valueAndGradientInto };
/** Another checkout's kernels (--baseline), measured beside these. */
const baseline: Kernels | null = options.baseline
  ? ((await import(pathToFileURL(resolve(options.baseline, 'src/kernels/index.ts')).href)) as Kernels)
  : null;

/** One shape's model, points and preallocated results: the call the service makes. */
function setUp({ K, d, N }: Shape, kernels: Kernels = thisBuild) {
  const model = kernels.createModel(kernels.randomParameters({ layers: K, dim: d, seed: 0 }));
  const points = Float64Array.from({ length: N * d }, kernels.normalGenerator(1));
  const values = new Float64Array(N);
  const gradients = new Float64Array(N * d);
  return () => kernels.valueAndGradientInto(model, points, values, gradients);
}

/** Bytes the heap grows by per call, over calls during which no garbage collection ran. */
function bytesPerCall(call: () => void): number {
  for (let i = 0; i < 20_000; i++) call();
  let collections = 0;
  const observer = new PerformanceObserver((list) => (collections += list.getEntries().length));
  observer.observe({ entryTypes: ['gc'] });
  for (let attempt = 0; attempt < 5; attempt++) {
    collections = 0;
    const calls = 1_000_000;
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < calls; i++) call();
    const grown = process.memoryUsage().heapUsed - before;
    if (collections === 0) {
      observer.disconnect();
      return Math.max(0, grown) / calls;
    }
  }
  observer.disconnect();
  return Number.NaN;
}

const anchorScript = fileURLToPath(new URL('anchors/bench_py.py', import.meta.url));
const python = '/usr/bin/python3';
const anchorNames = options['no-anchors']
  ? []
  : (['torch', 'numpy'] as const).filter((which) => spawnSync(python, ['-c', `import ${which}`], { stdio: 'ignore' }).status === 0);

/** One run of an anchor: ms per call by case. */
function anchor(which: 'torch' | 'numpy'): Map<string, number> {
  const args = which === 'torch' ? [anchorScript, 'torch', '1'] : [anchorScript, 'numpy'];
  // One BLAS thread, like our kernels.
  const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  const output = execFileSync(python, args, { encoding: 'utf8', env });
  const ms = new Map<string, number>();
  for (const match of output.matchAll(/K=(\d+) d=(\d+) N=(\d+): ([\d.]+) ms\/call/g)) {
    ms.set(caseName({ K: Number(match[1]), d: Number(match[2]), N: Number(match[3]) }), Number(match[4]));
  }
  return ms;
}

const calls = SHAPES.map((shape) => setUp(shape));
const baselineCalls = baseline ? SHAPES.map((shape) => setUp(shape, baseline)) : [];
const ours = SHAPES.map(() => [] as number[]);
const theirs = SHAPES.map(() => [] as number[]);
const anchors = new Map(anchorNames.map((which) => [which, SHAPES.map(() => [] as number[])]));
for (let round = 0; round < rounds; round++) {
  calls.forEach((call, i) => {
    ours[i].push(time(call) * 1e3);
    if (baseline) theirs[i].push(time(baselineCalls[i]) * 1e3);
  });
  for (const [which, samples] of anchors) {
    const ms = anchor(which);
    SHAPES.forEach((shape, i) => samples[i].push(ms.get(caseName(shape))!));
  }
}
const allocation = bytesPerCall(calls[0]);

const figures = SHAPES.map((shape, i) => {
  const ms = median(ours[i]);
  const figure: Record<string, string | number> = {
    case: caseName(shape),
    ...shape,
    msPerCall: Number(ms.toPrecision(4)),
    pointsPerSecond: Math.round((shape.N / ms) * 1e3),
    gflops: Number(((4 * shape.K * shape.d * shape.d * shape.N) / ms / 1e6).toPrecision(4)),
  };
  if (baseline) {
    figure.baselineMsPerCall = Number(median(theirs[i]).toPrecision(4));
    figure.oursOverBaseline = Number((ms / median(theirs[i])).toPrecision(3));
  }
  for (const [which, samples] of anchors) {
    figure[`${which}MsPerCall`] = Number(median(samples[i]).toPrecision(4));
    figure[`${which}Ratio`] = Number((median(samples[i]) / ms).toPrecision(3));
  }
  return figure;
});

if (options.json) {
  for (const figure of figures) console.log(JSON.stringify(figure));
} else {
  const path = simdAvailable ? 'WebAssembly SIMD kernels' : 'reference kernels (no WebAssembly SIMD here)';
  console.log(`value and gradient, one thread, ${path}, Node ${process.version}; median of ${rounds} alternating rounds\n`);
  const rows = figures.map((f) => {
    const row: Record<string, string> = {
      case: String(f.case),
      'ms/call': Number(f.msPerCall).toPrecision(4),
      'points/s': Number(f.pointsPerSecond).toLocaleString('en-US'),
      'GFLOP/s': Number(f.gflops).toFixed(2),
    };
    if (baseline) {
      row['baseline ms/call'] = Number(f.baselineMsPerCall).toPrecision(4);
      row['ours ÷ baseline'] = Number(f.oursOverBaseline).toPrecision(3);
    }
    for (const which of anchors.keys()) {
      row[`${which} ms/call`] = Number(f[`${which}MsPerCall`]).toPrecision(4);
      row[`${which} ÷ ours`] = `${Number(f[`${which}Ratio`]).toPrecision(3)}×`;
    }
    return row;
  });
  console.log(markdownTable(rows));
  console.log(`\none point (K20-d4-N1): ${(Number(figures[0].msPerCall) * 1e3).toFixed(2)} µs per call, ${allocation.toFixed(1)} bytes allocated per call`);
  for (const which of ['torch', 'numpy'] as const) {
    if (!options['no-anchors'] && !anchors.has(which)) console.log(`(${which} is not installed for ${python}; its columns are left out)`);
  }
}

/** Rows as a Markdown table, so that a run can be pasted into the README as it is. */
function markdownTable(rows: Record<string, string>[]): string {
  const columns = [...new Set(rows.flatMap(Object.keys))];
  const width = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padStart(width[i])).join(' | ')} |`;
  return [line(columns), `|${width.map((w) => `${'-'.repeat(w + 1)}:`).join('|')}|`, ...rows.map((r) => line(columns.map((c) => r[c] ?? '')))].join('\n');
}
