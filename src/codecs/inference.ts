/**
 * The Open Inference Protocol's inference request and response (the "V2" protocol of KServe and
 * Triton), for this service's models: one input, `points` [N, d₀], FP64 or FP32 (widened
 * exactly), and the outputs `value` [N], `gradient` [N, d₀] and `hessian` [N, d₀, d₀], all FP64.
 * Tensor data comes as JSON (flat or nested, row-major) or, by the binary tensor data extension,
 * as little-endian bytes after the JSON header, whose length Inference-Header-Content-Length gives.
 * Errors name the field, as the native codecs' do.
 */
import { LimitExceededError, MalformedPointsError } from '../errors.js';
import type { PointSet } from '../compute/points.js';
import { BodySchemaError } from './json/errors.js';
import { arrayJson } from './json/exact.js';
import type { NumericArray } from './json/numbers.js';
import { numericArrayOf } from './json/document.js';
import { widen } from './tensors/tensor.js';

/**
 * What the streaming JSON reader needs to know of an inference request: its inputs' data are
 * nested arrays of numbers (read into memory as they arrive, never as a JSON tree); the rest is
 * checked here, with messages that name the field.
 */
export const INFERENCE_READ_SCHEMA = {
  type: 'object',
  properties: {
    inputs: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          data: { anyOf: [{ type: 'array', items: { type: 'number' } }, { type: 'array', items: { type: 'array', items: { type: 'number' } } }] },
        },
      },
    },
  },
} as const;

/** The outputs a model gives, in the order a request without `outputs` gets them. */
export const OUTPUT_NAMES = ['value', 'gradient', 'hessian'] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];
export const INPUT_NAME = 'points';
export const EXTENSIONS = ['binary_tensor_data'] as const;

export interface InferenceRequest {
  readonly id?: string;
  readonly points: PointSet;
  /** The outputs asked for, in the order asked. */
  readonly outputs: readonly OutputName[];
  /** The outputs to send as binary data. */
  readonly binary: ReadonlySet<OutputName>;
}

const BYTES = { FP64: 8, FP32: 4 } as const;
type DataType = keyof typeof BYTES;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const describe = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'string' ? `"${value}"` : typeof value);

/** Checks a $parameters object: string, number or boolean values. */
function parametersOf(value: unknown, field: string): Record<string, string | number | boolean> {
  if (value === undefined) return {};
  if (!isObject(value)) throw new BodySchemaError(`${field} must be an object of parameters, not ${describe(value)}`);
  for (const [name, parameter] of Object.entries(value)) {
    if (!['string', 'number', 'boolean'].includes(typeof parameter)) throw new BodySchemaError(`${field}.${name} must be a string, a number or a boolean, not ${describe(parameter)}`);
  }
  return value as Record<string, string | number | boolean>;
}

function booleanParameter(parameters: Record<string, unknown>, name: string, field: string): boolean | undefined {
  const value = parameters[name];
  if (value === undefined || typeof value === 'boolean') return value;
  throw new BodySchemaError(`${field}.${name} must be a boolean`);
}

const isNumericArray = (value: unknown): value is NumericArray => isObject(value) && value.numbers instanceof Float64Array;

/** Tensor data the streaming reader already read: flat, or N rows of d numbers. */
function readData(data: NumericArray, count: number, width: number, widen: boolean, field: string): Float64Array {
  const { numbers, rank, depths } = data;
  if (numbers.length !== count * width) throw new BodySchemaError(`${field} has ${numbers.length} numbers; shape [${count}, ${width}] needs ${count * width}`);
  if (rank === 2 && (depths[0].first !== count || depths[1].other !== null || depths[1].first !== width)) {
    throw new BodySchemaError(`${field} nests its numbers in rows that are not ${count} rows of ${width}, as shape [${count}, ${width}] says`);
  }
  if (widen) for (let i = 0; i < numbers.length; i++) numbers[i] = Math.fround(numbers[i]);
  return numbers;
}

/**
 * An inference request from its JSON header (read with INFERENCE_READ_SCHEMA: the inputs' data
 * already numbers in memory when the body was large), and the binary tensor data after it when
 * there is any. `allocate` gives memory for the points.
 */
export function readInferenceRequest(header: unknown, tail: Uint8Array, maxPoints: number, allocate: (length: number) => Float64Array): InferenceRequest {
  if (!isObject(header)) throw new BodySchemaError(`the inference request must be a JSON object, not ${describe(header)}`);
  for (const field of Object.keys(header)) {
    if (!['id', 'parameters', 'inputs', 'outputs', 'model_name', 'model_version'].includes(field)) throw new BodySchemaError(`${field} is not a field of an inference request`);
  }
  const { id, inputs, outputs } = header;
  if (id !== undefined && typeof id !== 'string') throw new BodySchemaError(`id must be a string, not ${describe(id)}`);
  const parameters = parametersOf(header.parameters, 'parameters');
  const allBinary = booleanParameter(parameters, 'binary_data_output', 'parameters') ?? false;

  if (!Array.isArray(inputs) || inputs.length !== 1) {
    throw new BodySchemaError(`inputs must be an array of one tensor, ${INPUT_NAME}; ${Array.isArray(inputs) ? `it has ${inputs.length}` : `not ${describe(inputs)}`}`);
  }
  const [input] = inputs as unknown[];
  if (!isObject(input)) throw new BodySchemaError(`inputs[0] must be a tensor object, not ${describe(input)}`);
  for (const field of Object.keys(input)) {
    if (!['name', 'shape', 'datatype', 'parameters', 'data'].includes(field)) throw new BodySchemaError(`inputs[0].${field} is not a field of an input tensor`);
  }
  if (input.name !== INPUT_NAME) throw new BodySchemaError(`inputs[0].name must be "${INPUT_NAME}", the model's one input, not ${describe(input.name)}`);
  if (input.datatype !== 'FP64' && input.datatype !== 'FP32') throw new BodySchemaError(`inputs[0].datatype must be FP64 or FP32, not ${describe(input.datatype)}`);
  const datatype = input.datatype as DataType;
  const shape = input.shape;
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((n) => Number.isSafeInteger(n) && n >= 1)) {
    throw new BodySchemaError(`inputs[0].shape must be [N, d₀]: two positive integers, the points and their coordinates; not ${JSON.stringify(shape ?? null)}`);
  }
  const [count, width] = shape as [number, number];
  if (count > maxPoints) throw new LimitExceededError('inputs[0].shape', `inputs[0].shape [${count}, ${width}] has ${count} points, more than the limit of ${maxPoints} (MAX_POINTS)`);
  const numbers = count * width;
  const inputParameters = parametersOf(input.parameters, 'inputs[0].parameters');
  const binarySize = inputParameters.binary_data_size;

  let data: Float64Array;
  if (binarySize !== undefined) {
    if (input.data !== undefined) throw new BodySchemaError('inputs[0] has both data and parameters.binary_data_size; send one');
    const expected = numbers * BYTES[datatype];
    if (binarySize !== expected) {
      throw new BodySchemaError(`inputs[0].parameters.binary_data_size is ${JSON.stringify(binarySize)}; shape [${count}, ${width}] of ${datatype} is ${expected} bytes`);
    }
    if (tail.length !== expected) {
      throw new MalformedPointsError(`the binary tensor data after the JSON header has ${tail.length} bytes; inputs[0].parameters.binary_data_size says ${expected}`);
    }
    data = datatype === 'FP64' ? float64s(tail, allocate(numbers)) : widen(tail, 4, numbers);
  } else {
    if (tail.length > 0) throw new MalformedPointsError(`the body has ${tail.length} bytes after the JSON header, and no input has parameters.binary_data_size`);
    if (input.data === undefined) throw new BodySchemaError('inputs[0] needs data, or parameters.binary_data_size with the bytes after the JSON header');
    // Read with INFERENCE_READ_SCHEMA: numbers already in memory (a large body), or checked arrays of numbers (a small one).
    const array = isNumericArray(input.data) ? input.data : numericArrayOf(input.data, allocate);
    data = readData(array, count, width, datatype === 'FP32', 'inputs[0].data');
  }

  const wanted: OutputName[] = [];
  const binary = new Set<OutputName>();
  if (outputs !== undefined) {
    if (!Array.isArray(outputs) || outputs.length === 0) throw new BodySchemaError(`outputs must be a non-empty array of {name}, not ${describe(outputs)}`);
    outputs.forEach((output: unknown, i) => {
      if (!isObject(output)) throw new BodySchemaError(`outputs[${i}] must be an object with a name, not ${describe(output)}`);
      const name = output.name as OutputName;
      if (!OUTPUT_NAMES.includes(name)) throw new BodySchemaError(`outputs[${i}].name must be one of ${OUTPUT_NAMES.join(', ')}, not ${describe(output.name)}`);
      if (wanted.includes(name)) throw new BodySchemaError(`outputs[${i}].name: ${name} is asked for twice`);
      wanted.push(name);
      if (booleanParameter(parametersOf(output.parameters, `outputs[${i}].parameters`), 'binary_data', `outputs[${i}].parameters`) ?? allBinary) binary.add(name);
    });
  } else {
    // Without `outputs`, every output the model gives (the specification's rule).
    for (const name of OUTPUT_NAMES) {
      wanted.push(name);
      if (allBinary) binary.add(name);
    }
  }
  const points: PointSet = { kind: 'set', name: 'inputs[0].data', count, data, width, irregular: null, finite: binarySize === undefined };
  return { ...(id === undefined ? {} : { id }), points, outputs: wanted, binary };
}

/** Little-endian float64s, copied into `into` (the body's bytes after the header are seldom aligned). */
function float64s(bytes: Uint8Array, into: Float64Array): Float64Array {
  new Uint8Array(into.buffer, into.byteOffset, bytes.length).set(bytes);
  return into;
}


export interface InferenceAnswer {
  readonly modelName: string;
  readonly modelVersion: number;
  readonly id?: string;
  readonly count: number;
  readonly width: number;
  readonly request: InferenceRequest;
  /** Each output's numbers, row-major. */
  readonly tensors: Readonly<Partial<Record<OutputName, Float64Array>>>;
}

const shapeOf = (name: OutputName, count: number, width: number): number[] => (name === 'value' ? [count] : name === 'gradient' ? [count, width] : [count, width, width]);

/**
 * The inference response: JSON, or, when an output is asked for as binary data, the JSON header
 * followed by those outputs' little-endian bytes in the order of `outputs`.
 */
export function writeInferenceResponse(answer: InferenceAnswer): { readonly body: Buffer; readonly headerLength: number | null } {
  const { request, count, width } = answer;
  const binaries: Float64Array[] = [];
  const outputs = request.outputs.map((name) => {
    const tensor = answer.tensors[name]!;
    const head = `{"name":"${name}","datatype":"FP64","shape":${JSON.stringify(shapeOf(name, count, width))}`;
    if (!request.binary.has(name)) return `${head},"data":${arrayJson(tensor)}}`;
    binaries.push(tensor);
    return `${head},"parameters":{"binary_data_size":${tensor.byteLength}}}`;
  });
  const id = answer.id === undefined ? '' : `"id":${JSON.stringify(answer.id)},`;
  const header = Buffer.from(`{"model_name":${JSON.stringify(answer.modelName)},"model_version":"${answer.modelVersion}",${id}"outputs":[${outputs.join(',')}]}`);
  if (binaries.length === 0) return { body: header, headerLength: null };
  // Typed arrays use the platform's byte order; every platform Node supports is little-endian.
  const body = Buffer.concat([header, ...binaries.map((tensor) => Buffer.from(tensor.buffer, tensor.byteOffset, tensor.byteLength))]);
  return { body, headerLength: header.length };
}
