/**
 * The fast path: the WebAssembly SIMD kernels of ./assembly, and the memory they work in.
 *
 * Memory: AssemblyScript's static data sits below HEAP_START. Above it, models are placed once
 * (each in the layouts both kernels read) and cached by identity, since models are immutable;
 * past the models, each call lays out its points, results and scratch. When the cached models
 * pass CACHE_BYTES the cache starts over. Everything here is synchronous, so one instance per
 * thread needs no locking.
 */
import type { ResNetModel } from '../model.js';
import { kernelsWasm } from './kernels.wasm.js';

interface Kernels {
  readonly memory: WebAssembly.Memory;
  scratchBytes(layers: number, d: number, B: number): number;
  run(
    layers: number, d: number, d0: number, h: number, mu: number, kind: number, logistic: number,
    W: number, b: number, w: number, input: number, n: number, values: number, grads: number, scratch: number, B: number,
  ): void;
  runOne(
    layers: number, d: number, dp: number, d0: number, h: number, mu: number, kind: number, logistic: number,
    WT: number, WR: number, b: number, w: number, input: number, value: number, grad: number, scratch: number,
  ): void;
  secondScratchBytes(layers: number, d: number, m: number, B: number, gram: number): number;
  runSecond(
    layers: number, d: number, d0: number, h: number, mu: number, kind: number, logistic: number,
    W: number, b: number, w: number, input: number, directions: number, m: number, gram: number, n: number,
    values: number, grads: number, products: number, scratch: number, B: number,
  ): void;
  runSecondOne(
    layers: number, d: number, dp: number, d0: number, h: number, mu: number, kind: number, logistic: number,
    WT: number, WR: number, b: number, w: number, input: number, directions: number, m: number, gram: number, value: number, grad: number, products: number, scratch: number,
  ): void;
  staticEnd(): number;
  tanhInPlace(at: number, n: number): void;
  expInPlace(at: number, n: number): void;
}

const ACTIVATION_CODE = { tanh: 0, sigmoid: 1, relu: 2 } as const;
const CACHE_BYTES = 256 * 1024 * 1024;
/** Points per call into `run`: bounds the memory a huge batch needs at once. */
const SLICE = 1 << 16;

function instantiate(): Kernels | null {
  try {
    const module = new WebAssembly.Module(Buffer.from(kernelsWasm, 'base64'));
    return new WebAssembly.Instance(module, {}).exports as unknown as Kernels;
  } catch {
    // No WebAssembly SIMD on this machine: callers fall back to the reference kernels.
    return null;
  }
}

const kernels = instantiate();
/** Models and scratch go above the module's static data. */
const HEAP_START = kernels ? Math.ceil(kernels.staticEnd() / 64) * 64 : 0;

/** True when the SIMD kernels run here. */
export const simdAvailable = kernels !== null;

/** Where a model's arrays sit in the kernels' memory, in bytes. */
interface Placement {
  readonly W: number;
  readonly b: number;
  readonly w: number;
  /** The single-point layouts, with the width padded to an even dp. */
  readonly dp: number;
  readonly WT: number;
  readonly WR: number;
  readonly bp: number;
  readonly wp: number;
}

let placements = new WeakMap<ResNetModel, Placement>();
let cacheEnd = HEAP_START;
let heap = new Float64Array(0);

const align = (bytes: number): number => Math.ceil(bytes / 64) * 64;

/**
 * Makes the memory at least `end` bytes long, and returns a current Float64Array view of it. Only
 * this module grows the memory, and growing detaches the old view (its length becomes 0), so the
 * view's length tells whether it is current without asking the memory for its buffer.
 */
function reserve(end: number): Float64Array {
  if (end <= heap.byteLength) return heap;
  const { memory } = kernels!;
  if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
  heap = new Float64Array(memory.buffer);
  return heap;
}

function place(model: ResNetModel): Placement {
  const known = placements.get(model);
  if (known) return known;
  const { layers: K, dim: d } = model;
  const dp = d + (d % 2);
  const sizes = [K * d * d, K * d, d, K * d * dp, K * d * dp, K * dp, dp].map((n) => align(n * 8));
  const total = sizes.reduce((a, b) => a + b, 0);
  if (cacheEnd + total > HEAP_START + CACHE_BYTES) {
    placements = new WeakMap();
    cacheEnd = HEAP_START;
  }
  const at: number[] = [];
  for (const size of sizes) {
    at.push(cacheEnd);
    cacheEnd += size;
  }
  const f = reserve(cacheEnd);
  const [W, b, w, WT, WR, bp, wp] = at;
  f.set(model.W, W / 8);
  f.set(model.b, b / 8);
  f.set(model.w, w / 8);
  f.fill(0, WT / 8, cacheEnd / 8);
  for (let k = 0; k < K; k++) {
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        const weight = model.W[(k * d + i) * d + j];
        f[WT / 8 + (k * d + j) * dp + i] = weight;
        f[WR / 8 + (k * d + i) * dp + j] = weight;
      }
      f[bp / 8 + k * dp + i] = model.b[k * d + i];
    }
  }
  f.set(model.w, wp / 8);
  const placement = { W, b, w, dp, WT, WR, bp, wp };
  placements.set(model, placement);
  return placement;
}

/** Points per chunk inside `run`: enough to fill the vectors, few enough to keep the chunk in cache. */
export function chunkSize(model: ResNetModel): number {
  const points = Math.floor(32768 / (model.dim * (model.layers + 4)) / 4) * 4;
  return Math.min(256, Math.max(4, points));
}

/**
 * F (and ∇F, when `gradients` is given) at every point, by the SIMD kernels. Arguments are
 * checked by the caller. One point goes through the single-point kernel, more in chunks.
 */
export function simdSweep(model: ResNetModel, points: Float64Array, values: Float64Array, gradients: Float64Array | null): void {
  const k = kernels!;
  const placement = place(model);
  const { layers: K, dim: d, inputDim: d0, h, mu } = model;
  const kind = ACTIVATION_CODE[model.activation];
  const logistic = model.output === 'logistic' ? 1 : 0;
  const n = values.length;
  if (n === 1) {
    // The integrator's call: plain loops, no views or arrays made per call.
    const input = cacheEnd;
    const value = input + align(d0 * 8);
    const grad = value + 64;
    const scratch = grad + align(d0 * 8);
    const f = reserve(scratch + (4 + K) * placement.dp * 8);
    for (let i = 0; i < d0; i++) f[input / 8 + i] = points[i];
    const { dp, WT, WR, bp, wp } = placement;
    k.runOne(K, d, dp, d0, h, mu, kind, logistic, WT, WR, bp, wp, input, value, gradients ? grad : 0, scratch);
    values[0] = f[value / 8];
    if (gradients) for (let i = 0; i < d0; i++) gradients[i] = f[grad / 8 + i];
    return;
  }
  const B = chunkSize(model);
  for (let start = 0; start < n; start += SLICE) {
    const count = Math.min(SLICE, n - start);
    const input = cacheEnd;
    const out = input + align(count * d0 * 8);
    const grads = out + align(count * 8);
    const scratch = grads + align(count * d0 * 8);
    reserve(scratch + k.scratchBytes(K, d, B));
    heap.set(points.subarray(start * d0, (start + count) * d0), input / 8);
    k.run(K, d, d0, h, mu, kind, logistic, placement.W, placement.b, placement.w, input, count, out, gradients ? grads : 0, scratch, B);
    values.set(heap.subarray(out / 8, out / 8 + count), start);
    if (gradients) gradients.set(heap.subarray(grads / 8, grads / 8 + count * d0), start * d0);
  }
}

/** The most scratch one chunk of the second-derivative kernel may use: its planes stay in cache. */
const SECOND_CHUNK_BYTES = 1 << 20;
/** Points per call into `runSecond`. */
const SECOND_SLICE = 4096;

/** Points per chunk of `runSecond` for m directions: a multiple of 4, at most 256, and its scratch within SECOND_CHUNK_BYTES. */
export function secondChunkSize(model: ResNetModel, m: number, hessian = false): number {
  const perPoint = kernels!.secondScratchBytes(model.layers, model.dim, m, 1, hessian ? 1 : 0);
  return Math.min(256, Math.max(4, Math.floor(SECOND_CHUNK_BYTES / perPoint / 4) * 4));
}

/**
 * F, ∇F, and second derivatives by the SIMD kernels: with `directions` null, the Hessian
 * (m = d₀; d₀ × d₀ a point, row-major, by the layers' curvature sums); else ∇²F·v for one
 * direction per point (m = 1, forward over reverse). `products` gets d₀·m numbers a point.
 * Arguments are checked by the caller.
 */
export function simdSecond(model: ResNetModel, points: Float64Array, directions: Float64Array | null, m: number, values: Float64Array, gradients: Float64Array, products: Float64Array): void {
  const k = kernels!;
  const placement = place(model);
  const { layers: K, dim: d, inputDim: d0, h, mu } = model;
  const kind = ACTIVATION_CODE[model.activation];
  const logistic = model.output === 'logistic' ? 1 : 0;
  const n = values.length;
  if (n === 1) {
    // One point: its features in the lanes, as the gradient's single-point kernel has them.
    const { dp, WT, WR, bp, wp } = placement;
    const input = cacheEnd;
    const vector = input + align(d0 * 8);
    const value = vector + align(d0 * 8);
    const grad = value + 64;
    const prods = grad + align(d0 * 8);
    const scratch = prods + align(m * d0 * 8);
    const f = reserve(scratch + (4 + 2 * K + m * (2 + K)) * dp * 8);
    for (let i = 0; i < d0; i++) f[input / 8 + i] = points[i];
    if (directions) for (let i = 0; i < d0; i++) f[vector / 8 + i] = directions[i];
    k.runSecondOne(K, d, dp, d0, h, mu, kind, logistic, WT, WR, bp, wp, input, directions ? vector : 0, m, directions ? 0 : 1, value, grad, prods, scratch);
    values[0] = f[value / 8];
    for (let i = 0; i < d0; i++) gradients[i] = f[grad / 8 + i];
    for (let i = 0; i < m * d0; i++) products[i] = f[prods / 8 + i];
    return;
  }
  const hessian = directions === null;
  const B = secondChunkSize(model, m, hessian);
  for (let start = 0; start < n; start += SECOND_SLICE) {
    const count = Math.min(SECOND_SLICE, n - start);
    const input = cacheEnd;
    const vectors = input + align(count * d0 * 8);
    const out = vectors + (directions ? align(count * d0 * 8) : 0);
    const grads = out + align(count * 8);
    const prods = grads + align(count * d0 * 8);
    const scratch = prods + align(count * m * d0 * 8);
    reserve(scratch + k.secondScratchBytes(K, d, m, B, hessian ? 1 : 0));
    heap.set(points.subarray(start * d0, (start + count) * d0), input / 8);
    if (directions) heap.set(directions.subarray(start * d0, (start + count) * d0), vectors / 8);
    // The Hessian by the layers' curvature sums; a direction per point by forward over reverse.
    k.runSecond(K, d, d0, h, mu, kind, logistic, placement.W, placement.b, placement.w, input, hessian ? 0 : vectors, m, hessian ? 1 : 0, count, out, grads, prods, scratch, B);
    values.set(heap.subarray(out / 8, out / 8 + count), start);
    gradients.set(heap.subarray(grads / 8, grads / 8 + count * d0), start * d0);
    products.set(heap.subarray(prods / 8, prods / 8 + count * m * d0), start * m * d0);
  }
}

/** tanh and exp of the kernels, applied to copies of `x` (for the accuracy tests). */
export function simdElementwise(which: 'tanh' | 'exp', x: Float64Array): Float64Array {
  const k = kernels!;
  const at = cacheEnd;
  const n = x.length + (x.length % 2);
  const f = reserve(at + n * 8);
  f.set(x, at / 8);
  (which === 'tanh' ? k.tanhInPlace : k.expInPlace)(at, n);
  return heap.slice(at / 8, at / 8 + x.length);
}
