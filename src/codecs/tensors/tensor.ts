/**
 * Named tensors as the weight file formats hold them (`.npz`, safetensors): a shape and float64s,
 * row-major. Each reader checks its container and headers before anything of the data's size is
 * allocated, and names the tensor in every error.
 */

export interface Tensor {
  readonly shape: readonly number[];
  /** Row-major; float32 data is widened exactly. */
  readonly data: Float64Array;
}

/** A header or container that cannot be read; the message names the tensor (or the file). */
export class TensorFileError extends Error {
  override readonly name = 'TensorFileError';
  constructor(
    readonly tensor: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a reader may allocate: every tensor's element count is checked against it first. */
export interface TensorLimits {
  /** Most elements of one tensor. */
  readonly maxElements: number;
  /** Most tensors in a file. */
  readonly maxTensors: number;
}

export const elementCount = (shape: readonly number[]): number => shape.reduce((n, size) => n * size, 1);

/** Float64s from little-endian bytes of float64 (8) or float32 (4) elements, copied into aligned memory. */
export function widen(bytes: Uint8Array, itemSize: 4 | 8, count: number): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float64Array(count);
  if (itemSize === 8) for (let i = 0; i < count; i++) data[i] = view.getFloat64(8 * i, true);
  else for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
  return data;
}

/** The little-endian bytes of float64s. */
export function float64Bytes(data: Float64Array): Uint8Array {
  const bytes = new Uint8Array(8 * data.length);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat64(8 * i, data[i], true);
  return bytes;
}

/** The most tensors a weight file may hold: a state_dict of 50,000 layers. */
export const MAX_MODEL_FILE_TENSORS = 100_002;
