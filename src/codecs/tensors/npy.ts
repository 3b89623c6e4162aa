/**
 * NumPy's `.npy` format, read and written by hand, and `.npz` archives of them (a zip, read and
 * written by fflate).
 *
 *   "\x93NUMPY" · major · minor · header length (u16 LE for 1.0, u32 LE for 2.0 and 3.0) ·
 *   header: a Python dict literal {'descr': '<f8', 'fortran_order': False, 'shape': (K, d, d), }
 *   padded with spaces and ended by '\n' · the data, shape-product × itemsize bytes
 *
 * Only little-endian float64 ('<f8') and float32 ('<f4') in C order are read; every other dtype,
 * byte order or layout is refused, naming the tensor. A header that overruns its file, data
 * that is not exactly the shape's size, or an archive entry whose declared size exceeds what the
 * limits allow, is refused before its data is allocated or inflated.
 */
import { unzipSync, zipSync } from 'fflate';
import { LimitExceededError } from '../../errors.js';
import { elementCount, float64Bytes, TensorFileError, widen, type Tensor, type TensorLimits } from './tensor.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
/** The header dict, as numpy writes it: three known keys in any order, a trailing comma allowed. */
const HEADER = /^\{\s*(?:'(descr|fortran_order|shape)'\s*:\s*('[^']*'|True|False|\((?:\s*\d+\s*,?)*\s*\))\s*,?\s*){3}\}\s*$/;
const ENTRY = /'(descr|fortran_order|shape)'\s*:\s*('[^']*'|True|False|\((?:\s*\d+\s*,?)*\s*\))/g;
/** Larger headers are refused (numpy's own limit for reading without allow_pickle is 10,000 bytes). */
const MAX_HEADER_BYTES = 10_000;
const MAX_RANK = 8;

/** Reads one `.npy` file; `name` is the tensor's name for errors. */
export function readNpy(name: string, bytes: Uint8Array, limits: TensorLimits): Tensor {
  const fail = (why: string) => new TensorFileError(name, `${name}: ${why}`);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw fail('not a .npy file (no \\x93NUMPY magic)');
  const major = bytes[6];
  if (major < 1 || major > 3) throw fail(`.npy format version ${major}.${bytes[7]} is not 1.0, 2.0 or 3.0`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw fail('the header is cut off');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lengthBytes;
  if (headerLength > MAX_HEADER_BYTES) throw fail(`the header is ${headerLength} bytes, more than ${MAX_HEADER_BYTES}`);
  if (start + headerLength > bytes.length) throw fail(`the header of ${headerLength} bytes overruns the file of ${bytes.length}`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLength));
  if (!HEADER.test(header)) throw fail(`the header is not a dict of descr, fortran_order and shape: ${header.trim().slice(0, 120)}`);
  const fields = new Map([...header.matchAll(ENTRY)].map((m) => [m[1], m[2]]));
  if (fields.size !== 3) throw fail('the header must give descr, fortran_order and shape once each');
  const descr = fields.get('descr')!.slice(1, -1);
  if (fields.get('fortran_order') !== 'False') throw fail('the array is in Fortran order; save it in C order (np.ascontiguousarray)');
  const itemSize = descr === '<f8' ? 8 : descr === '<f4' ? 4 : 0;
  if (itemSize === 0) {
    const hint = descr === '>f8' || descr === '>f4' ? ' (big-endian)' : '';
    throw fail(`dtype '${descr}'${hint} is not little-endian float64 ('<f8') or float32 ('<f4')`);
  }
  const shape = [...fields.get('shape')!.matchAll(/\d+/g)].map((m) => Number(m[0]));
  if (shape.length > MAX_RANK) throw fail(`the shape has ${shape.length} dimensions, more than ${MAX_RANK}`);
  const count = elementCount(shape);
  if (!Number.isSafeInteger(count) || count > limits.maxElements) {
    throw new LimitExceededError(name, `${name}: the shape (${shape.join(', ')}) holds ${count} numbers, more than a model within MAX_MODEL_WEIGHTS has`);
  }
  const dataLength = bytes.length - start - headerLength;
  if (dataLength !== count * itemSize) throw fail(`the shape (${shape.join(', ')}) of ${descr} needs ${count * itemSize} bytes of data; the file has ${dataLength}`);
  return { shape, data: widen(bytes.subarray(start + headerLength), itemSize as 4 | 8, count) };
}

/** A `.npy` file of float64s, version 1.0, as numpy writes it (the data aligned to 64 bytes). */
export function writeNpy(tensor: Tensor): Uint8Array {
  const shape = tensor.shape.length === 1 ? `(${tensor.shape[0]},)` : `(${tensor.shape.join(', ')})`;
  let header = `{'descr': '<f8', 'fortran_order': False, 'shape': ${shape}, }`;
  const unpadded = 10 + header.length + 1;
  header = header + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const file = new Uint8Array(10 + header.length + 8 * tensor.data.length);
  file.set(MAGIC);
  file[6] = 1;
  file[7] = 0;
  new DataView(file.buffer).setUint16(8, header.length, true);
  file.set(new TextEncoder().encode(header), 10);
  file.set(float64Bytes(tensor.data), 10 + header.length);
  return file;
}

/**
 * Reads an `.npz` archive (np.savez, np.savez_compressed): each `<name>.npy` entry as a tensor.
 * Entries are inflated only when their declared size is within what the limits allow, and each
 * inflated entry must be exactly as large as its header says.
 */
export function readNpz(bytes: Uint8Array, limits: TensorLimits): Map<string, Tensor> {
  // The largest .npy a tensor within the limits makes: its header and 8 bytes a number.
  const largestEntry = 16 + MAX_HEADER_BYTES + 8 * limits.maxElements;
  let entries = 0;
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, {
      filter: (file) => {
        if (++entries > limits.maxTensors) throw new TensorFileError('(archive)', `the archive holds more than ${limits.maxTensors} entries`);
        if (file.originalSize > largestEntry) {
          throw new LimitExceededError(file.name, `${file.name}: ${file.originalSize} bytes when inflated, more than any tensor within MAX_MODEL_WEIGHTS takes (${largestEntry})`);
        }
        if (file.compression !== 0 && file.compression !== 8) throw new TensorFileError(file.name, `${file.name}: compression method ${file.compression} is neither stored nor deflate`);
        return true;
      },
    });
  } catch (error) {
    if (error instanceof TensorFileError || error instanceof LimitExceededError) throw error;
    throw new TensorFileError('(archive)', `the body is not a readable .npz (zip) archive: ${(error as Error).message}`);
  }
  const tensors = new Map<string, Tensor>();
  for (const [file, contents] of Object.entries(files)) {
    if (!file.endsWith('.npy')) throw new TensorFileError(file, `${file}: an .npz holds only .npy files`);
    tensors.set(file.slice(0, -4), readNpy(file.slice(0, -4), contents, limits));
  }
  return tensors;
}

/** An `.npz` archive of float64 tensors, stored (as np.savez writes it). */
export function writeNpz(tensors: ReadonlyMap<string, Tensor>): Uint8Array {
  // A fixed time: the same model makes the same bytes.
  const files = Object.fromEntries([...tensors].map(([name, tensor]) => [`${name}.npy`, [writeNpy(tensor), { level: 0, mtime: new Date('1980-01-01T00:00:00Z') }] as const]));
  return zipSync(files as never);
}
