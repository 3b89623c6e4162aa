/**
 * The safetensors format, read and written by hand:
 *
 *   N (u64 LE) · N bytes of UTF-8 JSON: {"<name>": {"dtype": "F64", "shape": [...],
 *   "data_offsets": [begin, end]}, …, "__metadata__": {"<key>": "<string>"}} · the byte buffer
 *
 * Offsets are relative to the byte buffer, which the tensors must cover exactly, without overlap
 * or holes. Only F64 and F32 (little-endian, as the format is) are read. Every check is made on
 * the header, before any tensor's data is read.
 */
import { LimitExceededError } from '../../errors.js';
import { elementCount, float64Bytes, TensorFileError, widen, type Tensor, type TensorLimits } from './tensor.js';

/** Headers larger than this are refused (the format's reference implementation allows 100 MB; a model's needs a few KB). */
const MAX_HEADER_BYTES = 1 << 20;

export interface SafetensorsFile {
  readonly tensors: Map<string, Tensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

interface Entry {
  readonly dtype: unknown;
  readonly shape: unknown;
  readonly data_offsets: unknown;
}

export function readSafetensors(bytes: Uint8Array, limits: TensorLimits): SafetensorsFile {
  const fail = (tensor: string, why: string) => new TensorFileError(tensor, tensor === '(header)' ? `the safetensors header: ${why}` : `${tensor}: ${why}`);
  if (bytes.length < 8) throw fail('(header)', 'the file is shorter than its 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) throw fail('(header)', `${declared} bytes, more than ${MAX_HEADER_BYTES}`);
  const headerLength = Number(declared);
  if (8 + headerLength > bytes.length) throw fail('(header)', `${headerLength} bytes overrun the file of ${bytes.length}`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    throw fail('(header)', `not UTF-8 JSON (${(error as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw fail('(header)', 'not a JSON object');
  const buffer = bytes.subarray(8 + headerLength);
  const { __metadata__: rawMetadata = {}, ...entries } = header;
  if (rawMetadata === null || typeof rawMetadata !== 'object' || Array.isArray(rawMetadata) || Object.values(rawMetadata).some((v) => typeof v !== 'string')) {
    throw fail('__metadata__', 'must be an object of strings');
  }
  const names = Object.keys(entries);
  if (names.length > limits.maxTensors) throw fail('(header)', `${names.length} tensors, more than ${limits.maxTensors}`);
  const spans: { name: string; begin: number; end: number; itemSize: 4 | 8; shape: number[]; count: number }[] = [];
  for (const name of names) {
    const entry = entries[name] as Entry;
    if (entry === null || typeof entry !== 'object') throw fail(name, 'its entry is not an object');
    const itemSize = entry.dtype === 'F64' ? 8 : entry.dtype === 'F32' ? 4 : 0;
    if (itemSize === 0) throw fail(name, `dtype ${JSON.stringify(entry.dtype)} is not F64 or F32`);
    const shape = entry.shape;
    if (!Array.isArray(shape) || shape.length > 8 || !shape.every((n) => Number.isSafeInteger(n) && n >= 0)) throw fail(name, 'shape must be an array of at most 8 sizes');
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((n) => Number.isSafeInteger(n) && n >= 0)) throw fail(name, 'data_offsets must be [begin, end]');
    const [begin, end] = offsets as [number, number];
    const count = elementCount(shape);
    if (count > limits.maxElements) throw new LimitExceededError(name, `${name}: the shape [${shape.join(', ')}] holds ${count} numbers, more than a model within MAX_MODEL_WEIGHTS has`);
    if (begin > end || end > buffer.length) throw fail(name, `data_offsets [${begin}, ${end}] are out of the byte buffer of ${buffer.length} bytes`);
    if (end - begin !== count * itemSize) throw fail(name, `data_offsets [${begin}, ${end}] hold ${end - begin} bytes; the shape [${shape.join(', ')}] of ${entry.dtype} needs ${count * itemSize}`);
    spans.push({ name, begin, end, itemSize: itemSize as 4 | 8, shape, count });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const span of spans) {
    if (span.begin < covered) throw fail(span.name, `data_offsets [${span.begin}, ${span.end}] overlap another tensor's`);
    if (span.begin > covered) throw fail(span.name, `the byte buffer has a hole before data_offsets [${span.begin}, ${span.end}]`);
    covered = span.end;
  }
  if (covered !== buffer.length) throw fail('(header)', `the tensors cover ${covered} of the byte buffer's ${buffer.length} bytes`);
  const tensors = new Map<string, Tensor>();
  for (const span of spans) tensors.set(span.name, { shape: span.shape, data: widen(buffer.subarray(span.begin, span.end), span.itemSize, span.count) });
  return { tensors, metadata: rawMetadata as Record<string, string> };
}

/** A safetensors file of float64 tensors, in the order given, with `metadata`. */
export function writeSafetensors(tensors: ReadonlyMap<string, Tensor>, metadata: Readonly<Record<string, string>>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, tensor] of tensors) {
    header[name] = { dtype: 'F64', shape: tensor.shape, data_offsets: [offset, offset + 8 * tensor.data.length] };
    offset += 8 * tensor.data.length;
  }
  const text = new TextEncoder().encode(JSON.stringify(header));
  // Padded with spaces so that the data starts 8-byte aligned, as the format recommends.
  const headerBytes = new Uint8Array(text.length + ((8 - (text.length % 8)) % 8)).fill(0x20);
  headerBytes.set(text);
  const file = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(file.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  file.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const tensor of tensors.values()) {
    file.set(float64Bytes(tensor.data), at);
    at += 8 * tensor.data.length;
  }
  return file;
}
