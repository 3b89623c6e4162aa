/**
 * Kernel benchmark: value and gradient of a residual network, one thread, median over repeated
 * calls, beside the PyTorch and numpy anchors (bench/anchors) run in the same invocation when
 * /usr/bin/python3 can import them. Only ratios from one run mean anything on a shared machine.
 *
 *   npm run bench                       table
 *   npm run bench -- --json             one JSON object per line
 *   npm run bench -- --no-anchors       our figures only
 *   npm run bench -- --budget 1         seconds of sampling per case (default 3)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createModel, normalGenerator, randomParameters, valueAndGradientInto } from '../src/kernels/index.js';

const { values: options } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    'no-anchors': { type: 'boolean', default: false },
    budget: { type: 'string', default: '3' },
  },
});
const budgetMs = Number(options.budget) * 1000;

export const SHAPES = [
  { K: 20, d: 4, N: 1 },
  { K: 20, d: 4, N: 100_000 },
  { K: 16, d: 32, N: 10_000 },
  { K: 8, d: 256, N: 2048 },
] as const;

interface Figure {
  case: string;
  K: number;
  d: number;
  N: number;
  msPerCall: number;
  pointsPerSecond: number;
  gflops: number;
}

const caseName = ({ K, d, N }: { K: number; d: number; N: number }) => `K${K}-d${d}-N${N}`;

const median = (samples: number[]): number => {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const figure = (shape: { K: number; d: number; N: number }, seconds: number): Figure => ({
  case: caseName(shape),
  ...shape,
  msPerCall: Number((seconds * 1e3).toPrecision(4)),
  pointsPerSecond: Math.round(shape.N / seconds),
  gflops: Number(((4 * shape.K * shape.d * shape.d * shape.N) / seconds / 1e9).toPrecision(4)),
});

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

function ours(): Figure[] {
  return SHAPES.map((shape) => {
    const model = createModel(randomParameters({ layers: shape.K, dim: shape.d, seed: 0 }));
    const points = Float64Array.from({ length: shape.N * shape.d }, normalGenerator(1));
    const values = new Float64Array(shape.N);
    const gradients = new Float64Array(shape.N * shape.d);
    return figure(shape, time(() => valueAndGradientInto(model, points, values, gradients)));
  });
}

const anchorScript = fileURLToPath(new URL('anchors/bench_py.py', import.meta.url));
const python = '/usr/bin/python3';

/** The anchor's figures, or null when its Python package is not installed. */
function anchor(which: 'torch' | 'numpy'): Map<string, number> | null {
  const probe = spawnSync(python, ['-c', `import ${which}`], { stdio: 'ignore' });
  if (probe.status !== 0) return null;
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

/** Rows as a Markdown table, so that a run can be pasted into the README as it is. */
function markdownTable(rows: Record<string, string>[]): string {
  const columns = [...new Set(rows.flatMap(Object.keys))];
  const width = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padStart(width[i])).join(' | ')} |`;
  return [line(columns), `|${width.map((w) => `${'-'.repeat(w + 1)}:`).join('|')}|`, ...rows.map((r) => line(columns.map((c) => r[c] ?? '')))].join('\n');
}

const figures = ours();
const anchors = options['no-anchors'] ? [] : (['torch', 'numpy'] as const).map((which) => [which, anchor(which)] as const);

if (options.json) {
  for (const f of figures) {
    const extra = Object.fromEntries(
      anchors.flatMap(([which, ms]) =>
        ms?.has(f.case) ? [[`${which}MsPerCall`, ms.get(f.case)], [`${which}Ratio`, Number((ms.get(f.case)! / f.msPerCall).toPrecision(3))]] : [],
      ),
    );
    console.log(JSON.stringify({ ...f, ...extra }));
  }
} else {
  const rows = figures.map((f) => {
    const row: Record<string, string> = {
      case: f.case,
      'ms/call': f.msPerCall.toPrecision(4),
      'points/s': f.pointsPerSecond.toLocaleString('en-US'),
      'GFLOP/s': f.gflops.toFixed(2),
    };
    for (const [which, ms] of anchors) {
      if (!ms?.has(f.case)) continue;
      row[`${which} ms/call`] = ms.get(f.case)!.toPrecision(4);
      row[`${which} ÷ ours`] = `${(ms.get(f.case)! / f.msPerCall).toPrecision(3)}×`;
    }
    return row;
  });
  console.log(`value and gradient, one thread, median of repeated calls, Node ${process.version}\n`);
  console.log(markdownTable(rows));
  for (const [which, ms] of anchors) if (ms === null) console.log(`(${which} is not installed for ${python}; its columns are left out)`);
}
