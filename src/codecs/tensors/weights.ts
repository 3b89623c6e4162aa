/**
 * A model's weights as files: `.npz` (numpy) and safetensors (PyTorch), read into a model document
 * and written from a model.
 *
 * Two layouts are read, in either format:
 * - the course's: `W` (K×d×d), `b` (K×d, or K×d×1), `w` (d, or d×1), `mu` (a scalar, or 1 number);
 * - a PyTorch state_dict of K `nn.Linear(d, d)` and one `nn.Linear(d, 1)`: `layers.{k}.weight`
 *   (d×d), `layers.{k}.bias` (d), `out.weight` (1×d), `out.bias` (1).
 *
 * The rest of the model (h, σ, η, inputDim, scaling, name) comes with the upload as options: the
 * query string, or for safetensors its `__metadata__` (the same keys, as strings). Files are
 * written in the course's layout, every float64 bit for bit; a safetensors file carries the
 * options in its metadata, so that it uploads again as the same model.
 */
import type { ResNetModel } from '../../kernels/index.js';
import { ModelDataError } from '../../kernels/index.js';
import type { ExplicitModelDocument } from '../../registry/documents.js';
import { exactJson } from '../json/exact.js';
import type { NumericArray } from '../json/numbers.js';
import { readNpz, writeNpz } from './npy.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { TensorFileError, type Tensor, type TensorLimits } from './tensor.js';

export const NPZ_MEDIA_TYPE = 'application/x-npz';
export const SAFETENSORS_MEDIA_TYPE = 'application/x-safetensors';
export const WEIGHT_MEDIA_TYPES = [NPZ_MEDIA_TYPE, SAFETENSORS_MEDIA_TYPE] as const;
export type WeightMediaType = (typeof WEIGHT_MEDIA_TYPES)[number];

/** The options a weight file does not hold, as text (the query string, or safetensors metadata). */
export const OPTION_KEYS = ['name', 'h', 'activation', 'output', 'inputDim', 'inputScaling', 'outputScaling'] as const;
export type WeightOptions = Partial<Record<(typeof OPTION_KEYS)[number], string>>;

/** A tensor as the JSON reader would hand over the same nested array. */
const numericArray = ({ shape, data }: Tensor): NumericArray => ({
  numbers: data,
  rank: shape.length,
  depths: shape.map((first, depth) => ({ count: shape.slice(0, depth).reduce((n, s) => n * s, 1), first, other: null })),
});

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

function expectShape(name: string, tensor: Tensor | undefined, shapes: readonly (readonly number[])[], words: string): Tensor {
  if (tensor === undefined) throw new ModelDataError(name, `the file has no tensor ${name} (${words})`);
  if (!shapes.some((shape) => shape.length === tensor.shape.length && shape.every((n, i) => n < 0 || n === tensor.shape[i]))) {
    throw new ModelDataError(name, `${name} has shape ${shapeText(tensor.shape)}; expected ${words}`);
  }
  return tensor;
}

/** W, b, w and mu of the course's layout, or of a state_dict's layers, as the JSON document's arrays. */
function parameters(tensors: ReadonlyMap<string, Tensor>): Pick<ExplicitModelDocument, 'W' | 'b' | 'w' | 'mu'> {
  if (tensors.has('W')) {
    const extra = [...tensors.keys()].filter((name) => !['W', 'b', 'w', 'mu'].includes(name));
    if (extra.length > 0) throw new ModelDataError(extra[0], `${extra[0]} is not a tensor of the course's layout (W, b, w, mu)`);
    const W = expectShape('W', tensors.get('W'), [[-1, -1, -1]], 'K × d × d');
    const b = expectShape('b', tensors.get('b'), [[-1, -1], [-1, -1, 1]], 'K × d, or K × d × 1');
    const w = expectShape('w', tensors.get('w'), [[-1], [-1, 1]], 'd, or d × 1');
    const mu = expectShape('mu', tensors.get('mu'), [[], [1]], 'a scalar, or 1 number');
    return { W: numericArray(W), b: numericArray(b), w: numericArray(w), mu: mu.data[0] };
  }
  const layers: { weight: Tensor; bias: Tensor }[] = [];
  for (let k = 0; tensors.has(`layers.${k}.weight`); k++) {
    const weight = expectShape(`layers.${k}.weight`, tensors.get(`layers.${k}.weight`), [[-1, -1]], 'd × d (nn.Linear(d, d).weight)');
    const d = weight.shape[0];
    if (weight.shape[1] !== d) throw new ModelDataError(`layers.${k}.weight`, `layers.${k}.weight has shape ${shapeText(weight.shape)}; expected d × d`);
    layers.push({ weight, bias: expectShape(`layers.${k}.bias`, tensors.get(`layers.${k}.bias`), [[d]], `d = ${d} (nn.Linear(d, d).bias)`) });
  }
  if (layers.length === 0) throw new ModelDataError('W', "the file has neither the course's tensors (W, b, w, mu) nor a state_dict's (layers.0.weight, …, out.weight, out.bias)");
  const d = layers[0].weight.shape[0];
  layers.forEach(({ weight }, k) => {
    if (weight.shape[0] !== d) throw new ModelDataError(`layers.${k}.weight`, `layers.${k}.weight has shape ${shapeText(weight.shape)}; expected [${d}, ${d}], as layers.0.weight`);
  });
  const out = expectShape('out.weight', tensors.get('out.weight'), [[1, d]], `1 × d = [1, ${d}] (nn.Linear(d, 1).weight)`);
  const outBias = expectShape('out.bias', tensors.get('out.bias'), [[1]], '1 number (nn.Linear(d, 1).bias)');
  const known = new Set(['out.weight', 'out.bias', ...layers.flatMap((_, k) => [`layers.${k}.weight`, `layers.${k}.bias`])]);
  const extra = [...tensors.keys()].find((name) => !known.has(name));
  if (extra !== undefined) throw new ModelDataError(extra, `${extra} is not a tensor of the state_dict layout (layers.{k}.weight, layers.{k}.bias, out.weight, out.bias)`);
  const K = layers.length;
  const W = new Float64Array(K * d * d);
  const b = new Float64Array(K * d);
  layers.forEach(({ weight, bias }, k) => {
    W.set(weight.data, k * d * d);
    b.set(bias.data, k * d);
  });
  return {
    W: numericArray({ shape: [K, d, d], data: W }),
    b: numericArray({ shape: [K, d], data: b }),
    w: numericArray({ shape: [d], data: out.data }),
    mu: outBias.data[0],
  };
}

function parseJson(key: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new TensorFileError(key, `${key} must be JSON, got ${text.slice(0, 80)}`);
  }
}

/** The options as the JSON document's fields; each is checked by the model's own validation. */
function documentOptions(options: WeightOptions): Omit<ExplicitModelDocument, 'W' | 'b' | 'w' | 'mu'> {
  const number = (key: string, text: string) => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value)) throw new TensorFileError(key, `${key} must be a finite number, got ${JSON.stringify(text)}`);
    return value;
  };
  if (options.h === undefined) throw new TensorFileError('h', 'h is required: give it as ?h= (or, in a safetensors file, in __metadata__)');
  return {
    h: number('h', options.h),
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.activation === undefined ? {} : { activation: options.activation }),
    ...(options.output === undefined ? {} : { output: options.output }),
    ...(options.inputDim === undefined ? {} : { inputDim: number('inputDim', options.inputDim) }),
    ...(options.inputScaling === undefined ? {} : { inputScaling: parseJson('inputScaling', options.inputScaling) as ExplicitModelDocument['inputScaling'] }),
    ...(options.outputScaling === undefined ? {} : { outputScaling: parseJson('outputScaling', options.outputScaling) as ExplicitModelDocument['outputScaling'] }),
  };
}

/**
 * The model document a weight file and its options describe. The query's options and a
 * safetensors file's metadata may both give a key only when they agree.
 */
export function readWeights(type: WeightMediaType, bytes: Uint8Array, query: WeightOptions, limits: TensorLimits): ExplicitModelDocument {
  let tensors: Map<string, Tensor>;
  let options: WeightOptions = query;
  if (type === NPZ_MEDIA_TYPE) tensors = readNpz(bytes, limits);
  else {
    const file = readSafetensors(bytes, limits);
    tensors = file.tensors;
    const fromFile = Object.fromEntries(Object.entries(file.metadata).filter(([key]) => (OPTION_KEYS as readonly string[]).includes(key)));
    for (const [key, value] of Object.entries(fromFile)) {
      const asked = query[key as keyof WeightOptions];
      if (asked !== undefined && asked !== value) {
        throw new TensorFileError(key, `?${key}=${asked} and the file's __metadata__ ${key} = ${value} differ; give it once`);
      }
    }
    options = { ...fromFile, ...query };
  }
  return { ...documentOptions(options), ...parameters(tensors) };
}

/** The model's parameters in the course's layout, as tensors. */
function modelTensors(model: ResNetModel): Map<string, Tensor> {
  const { layers: K, dim: d } = model;
  return new Map<string, Tensor>([
    ['W', { shape: [K, d, d], data: model.W }],
    ['b', { shape: [K, d], data: model.b }],
    ['w', { shape: [d], data: model.w }],
    ['mu', { shape: [], data: Float64Array.of(model.mu) }],
  ]);
}

/** The options of a model, as metadata strings (numbers written to read back bit for bit). */
function modelOptions(name: string, model: ResNetModel): Record<string, string> {
  const exact = exactJson;
  return {
    name,
    h: exact(model.h),
    activation: model.activation,
    output: model.output,
    inputDim: String(model.inputDim),
    ...(model.inputScaling === undefined ? {} : { inputScaling: exact(model.inputScaling) }),
    ...(model.outputScaling === undefined ? {} : { outputScaling: exact(model.outputScaling) }),
  };
}

/** A model's weights as a file of the given type, every float64 bit for bit. */
export function writeWeights(type: WeightMediaType, name: string, model: ResNetModel): Uint8Array {
  const tensors = modelTensors(model);
  return type === NPZ_MEDIA_TYPE ? writeNpz(tensors) : writeSafetensors(tensors, modelOptions(name, model));
}
