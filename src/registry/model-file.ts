/**
 * The file format of one registered model: every float64 stored as its 8 bytes, so that a model
 * loads bit for bit as it was registered, and a checksum over the whole file, so that a corrupt
 * or partial file is recognised rather than loaded.
 *
 *   "RNGM" · format version (u32 LE) · header length (u32 LE) · header (UTF-8 JSON) · zero padding
 *   to a multiple of 8 · h, μ, W, b, w (f64 LE) · SHA-256 of everything before it (32 bytes)
 */
import { createHash } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { exactJson } from '../codecs/json/exact.js';
import { createModel, type InputScaling, type OutputScaling, type ResNetModel } from '../kernels/index.js';
import { contentTag, type ModelListing, type ModelRecord } from './registry.js';

const MAGIC = 'RNGM';
/** Bytes a model file holds besides its parameters, at most: the frame, the header (its name is at most 200 characters; its scaling, at most 4·d₀ + 6 numbers, fits in the room that counting 2·K·d² parameters leaves), the digest. */
export const MODEL_FILE_OVERHEAD = 4096;
const VERSION = 1;
const DIGEST_BYTES = 32;

interface Header {
  readonly id: string;
  readonly name: string;
  /** Absent in files written before versions: version 1. */
  readonly version?: number;
  readonly etag?: string;
  readonly createdAt: string;
  /** A copy of the step size, so that a listing can show it without the parameter block. */
  readonly h?: number;
  readonly layers: number;
  readonly dim: number;
  readonly inputDim: number;
  readonly activation: string;
  readonly output: string;
  readonly inputScaling?: InputScaling;
  readonly outputScaling?: OutputScaling;
}

/** Bytes hashed between turns of the event loop: a large model's file is hashed a piece at a time. */
const HASHED_PER_TURN = 1024 * 1024;

/** The header of a version: everything but its parameters, as exact JSON (−0 kept). */
export function modelHeader({ id, name, version, etag, createdAt, model }: ModelRecord): string {
  const header: Header = {
    id,
    name,
    version,
    etag,
    createdAt,
    h: model.h,
    layers: model.layers,
    dim: model.dim,
    inputDim: model.inputDim,
    activation: model.activation,
    output: model.output,
    inputScaling: model.inputScaling,
    outputScaling: model.outputScaling,
  };
  // exactJson keeps −0 (JSON.stringify writes 0); JSON.parse reads it back as −0.
  return exactJson(header);
}

/** The number of float64s of a model's parameter block: h, μ, W, b, w. */
const parameterBlockLength = (layers: number, dim: number) => 2 + layers * dim * dim + layers * dim + dim;

/** Writes h, μ, W, b, w as float64s into `numbers`. */
function writeParameters(model: ResNetModel, numbers: Float64Array): void {
  numbers[0] = model.h;
  numbers[1] = model.mu;
  numbers.set(model.W, 2);
  numbers.set(model.b, 2 + model.W.length);
  numbers.set(model.w, 2 + model.W.length + model.b.length);
}

/** A model's parameters, h, μ, W, b, w, as little-endian float64s. */
export function encodeParameters(model: ResNetModel): Buffer {
  const file = Buffer.alloc(8 * parameterBlockLength(model.layers, model.dim));
  // Typed arrays use the platform's byte order; every platform Node supports is little-endian.
  writeParameters(model, new Float64Array(file.buffer, file.byteOffset, file.length / 8));
  return file;
}

/** The file of a model; a large one is hashed a piece at a time, letting other work run between. */
export async function encodeModelFile(record: ModelRecord): Promise<Buffer> {
  const headerBytes = Buffer.from(modelHeader(record), 'utf8');
  const numbersAt = Math.ceil((12 + headerBytes.length) / 8) * 8;
  const count = parameterBlockLength(record.model.layers, record.model.dim);
  // Buffer.alloc is never a slice of the shared pool: its float64s are aligned.
  const file = Buffer.alloc(numbersAt + 8 * count + DIGEST_BYTES);
  file.write(MAGIC, 0, 'latin1');
  file.writeUInt32LE(VERSION, 4);
  file.writeUInt32LE(headerBytes.length, 8);
  headerBytes.copy(file, 12);
  writeParameters(record.model, new Float64Array(file.buffer, file.byteOffset + numbersAt, count));
  const hash = createHash('sha256');
  const hashed = file.length - DIGEST_BYTES;
  for (let at = 0; at < hashed; at += HASHED_PER_TURN) {
    if (at > 0) await nextTurn();
    hash.update(file.subarray(at, Math.min(hashed, at + HASHED_PER_TURN)));
  }
  hash.digest().copy(file, hashed);
  return file;
}

/** Reads a model file; throws an Error saying what is wrong when it is corrupt or partial. */
export async function decodeModelFile(file: Buffer): Promise<ModelRecord> {
  if (file.length < 12 + DIGEST_BYTES || file.toString('latin1', 0, 4) !== MAGIC) throw new Error('not a model file');
  if (file.readUInt32LE(4) !== VERSION) throw new Error(`unknown format version ${file.readUInt32LE(4)}`);
  const digest = createHash('sha256').update(file.subarray(0, file.length - DIGEST_BYTES)).digest();
  if (!digest.equals(file.subarray(file.length - DIGEST_BYTES))) throw new Error('checksum mismatch (corrupt or partial file)');
  const headerLength = file.readUInt32LE(8);
  const numbersAt = Math.ceil((12 + headerLength) / 8) * 8;
  return decodeModel(file.toString('utf8', 12, 12 + headerLength), file.subarray(numbersAt, file.length - DIGEST_BYTES));
}

/** What a listing shows of a version, from its header alone. */
export function listingFromHeader(headerText: string): ModelListing {
  const header = JSON.parse(headerText) as Header & { readonly version: number; readonly etag: string; readonly h: number };
  const { id, name, version, etag, createdAt, h, layers, dim, inputDim, activation, output, inputScaling, outputScaling } = header;
  return { id, name, version, etag, createdAt, model: { h, layers, dim, inputDim, activation: activation as ResNetModel['activation'], output: output as ResNetModel['output'], inputScaling, outputScaling } };
}

/** A version from its header (modelHeader) and its parameters (encodeParameters); throws when they do not fit together. */
export async function decodeModel(headerText: string, bytes: Uint8Array): Promise<ModelRecord> {
  const header = JSON.parse(headerText) as Header;
  const { layers, dim } = header;
  const weights = layers * dim * dim;
  if (bytes.length !== 8 * parameterBlockLength(layers, dim)) throw new Error('parameter block has the wrong length');
  // Copy into an aligned buffer: the numbers' offset within a pooled Buffer need not be a multiple of 8.
  const numbers = new Float64Array(new Uint8Array(bytes).buffer);
  const model = createModel({
    layers,
    dim,
    inputDim: header.inputDim,
    activation: header.activation,
    output: header.output,
    inputScaling: header.inputScaling,
    outputScaling: header.outputScaling,
    h: numbers[0],
    mu: numbers[1],
    W: numbers.subarray(2, 2 + weights),
    b: numbers.subarray(2 + weights, 2 + weights + layers * dim),
    w: numbers.subarray(2 + weights + layers * dim),
  });
  const version = header.version ?? 1;
  const etag = header.etag ?? (await contentTag(header.id, version, model));
  return Object.freeze({ id: header.id, name: header.name, version, createdAt: header.createdAt, etag, model });
}
