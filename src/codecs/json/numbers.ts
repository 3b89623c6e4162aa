/**
 * The JSON number primitives: runs of float64s written as JSON text, and nested arrays of JSON
 * numbers read into float64s, by the WebAssembly module of ./assembly where it runs, and by plain
 * TypeScript (the same text and the same doubles) where it does not. They work on byte ranges and
 * know nothing of the documents around the numbers.
 *
 * Memory: the module's static data sits below its scratch area. Each call copies its input into
 * the scratch area, runs, and copies the output out; everything is synchronous, so one instance
 * per thread needs no locking.
 */
import { numbersWasm } from './numbers.wasm.js';
import { initialState, JSON_NUMBER, MAX_RANK, PENDING_VALUE_BYTE, SCAN, scanNumbersTwin, STATE_BYTES, STATE_WORDS, W } from './number-scan-twin.js';

interface NumbersModule {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  staticEnd(): number;
  numbersJson(input: number, n: number, width: number, group: number, out: number): number;
  scanNumbers(text: number, length: number, last: number, out: number): number;
  scanStateAddress(): number;
  readonly SCAN_STATE_WORDS: { readonly value: number };
}

function instantiate(): NumbersModule | null {
  try {
    const module = new WebAssembly.Module(Buffer.from(numbersWasm, 'base64'));
    const exports = new WebAssembly.Instance(module, {}).exports as unknown as NumbersModule;
    if (exports.SCAN_STATE_WORDS.value !== STATE_WORDS) throw new Error('the scanner state layouts differ');
    return exports;
  } catch {
    // No WebAssembly SIMD here: the TypeScript twins do the work.
    return null;
  }
}

const wasm = instantiate();

/** True when the WebAssembly primitives run here. */
export const numbersWasmAvailable = wasm !== null;

const align = (bytes: number): number => Math.ceil(bytes / 64) * 64;
const scratchStart = wasm ? align(wasm.staticEnd()) : 0;
let bytesView = new Uint8Array(0);
let floatView = new Float64Array(0);

/** Makes the module's memory at least `end` bytes long; the views are current afterwards. */
function reserve(end: number): void {
  if (end <= bytesView.length) return;
  const { memory } = wasm!;
  if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
  bytesView = new Uint8Array(memory.buffer);
  floatView = new Float64Array(memory.buffer);
}

// ---- writing ------------------------------------------------------------------------------------

/** The most bytes numbersJson writes for n numbers in rows of `width` (0: not in rows), grouped by `group` rows. */
export const numbersJsonBound = (n: number, width = 0, group = 0): number => {
  const rows = width === 0 ? 0 : Math.ceil(n / width);
  return 26 * n + 3 * rows + (group === 0 ? 0 : 3 * Math.ceil(rows / group));
};

const numberText = (x: number): string => (Object.is(x, -0) ? '-0' : String(x));

/** Numbers per call into the module: bounds its scratch memory. */
const WRITE_SLICE = 1 << 16;

/**
 * Finite `values` as JSON text, in bytes, into `into`: `x0,x1,…` when width is 0, else rows of
 * `width` numbers, `[x0,x1],[x2,x3],…`, and with group > 0 every `group` rows in brackets of
 * their own; no enclosing brackets. Returns the bytes written. Each number is written as
 * JSON.stringify writes it (the shortest digits that read back to the same double, and of those
 * the closest), except −0, which is "-0". Throws a RangeError for a number JSON cannot hold.
 */
export function numbersJson(values: Float64Array, into: Uint8Array, width = 0, group = 0): number {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new RangeError(`${values[i]} has no JSON form`);
  }
  if (width !== 0 && values.length % (width * Math.max(1, group)) !== 0) {
    throw new RangeError(`${values.length} numbers do not make rows of ${width}${group ? ` in groups of ${group}` : ''}`);
  }
  if (into.length < numbersJsonBound(values.length, width, group)) throw new RangeError(`${into.length} bytes may not hold the text`);
  if (!wasm) {
    const items = Array.from(values, numberText);
    let text: string[] = items;
    if (width !== 0) {
      text = [];
      for (let r = 0; r < items.length; r += width) text.push(`[${items.slice(r, r + width).join(',')}]`);
      if (group !== 0) {
        const rows = text;
        text = [];
        for (let g = 0; g < rows.length; g += group) text.push(`[${rows.slice(g, g + group).join(',')}]`);
      }
    }
    return new TextEncoder().encodeInto(text.join(','), into).written;
  }
  const per = width === 0 ? WRITE_SLICE : Math.max(1, Math.floor(WRITE_SLICE / (width * Math.max(1, group)))) * width * Math.max(1, group);
  let written = 0;
  for (let start = 0; start < values.length; start += per) {
    const count = Math.min(per, values.length - start);
    const input = scratchStart;
    const out = input + align(count * 8);
    reserve(out + numbersJsonBound(count, width, group));
    floatView.set(values.subarray(start, start + count), input / 8);
    if (start > 0) into[written++] = 0x2c;
    const bytes = wasm.numbersJson(input, count, width, group, out);
    into.set(bytesView.subarray(out, out + bytes), written);
    written += bytes;
  }
  return written;
}

// ---- reading ------------------------------------------------------------------------------------

/** What the scanner reports when the array is not one it takes; `path` indexes into the array. */
export type ScanProblem =
  | { readonly kind: 'syntax' }
  | { readonly kind: 'not-number' | 'not-array' | 'not-finite'; readonly path: readonly number[] }
  | { readonly kind: 'too-many-outer'; readonly path: readonly number[] }
  | { readonly kind: 'too-many-numbers'; readonly path: readonly number[] };

export class ScanError extends Error {
  constructor(readonly problem: ScanProblem) {
    super(problem.kind);
  }
}

/** The lengths of the arrays at one depth: the first, and the first that differs from it. */
export interface DepthLengths {
  /** Arrays closed at this depth. */
  readonly count: number;
  /** The first one's length; −1 when there was none. */
  readonly first: number;
  /** The first length that differs from `first`, with the index path of its array; null when all agree. */
  readonly other: { readonly length: number; readonly path: readonly number[] } | null;
}

/** A nested array of numbers as read: the numbers in order, and its shape as far as it is regular. */
export interface NumericArray {
  readonly numbers: Float64Array;
  /** The depth of the numbers: 1 for [x, …], 2 for [[x, …], …]. */
  readonly rank: number;
  /** The lengths at depth 1 (the outermost array) … rank. */
  readonly depths: readonly DepthLengths[];
}

export interface ScanLimits {
  /** The allowed depths of the numbers. */
  readonly minRank: number;
  readonly maxRank: number;
  /** Most items of the outermost array. */
  readonly maxOuter: number;
  /** Most numbers in all. */
  readonly maxNumbers: number;
}

/** Bytes per call into the module: bounds its scratch memory. */
const SCAN_SLICE = 64 * 1024;
/** Shorter pieces are scanned by the twin, which needs no copies in and out of the module. */
const TWIN_BELOW = 256;
/** The bytes a JSON number may hold (digits, sign, point, exponent). */
const isNumberByte = (c: number): boolean => (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;

/** A number longer than this is refused: the text kept between chunks stays small. */
const MAX_NUMBER_TEXT = 4096;

/**
 * Reads one nested array of JSON numbers from text that arrives in pieces. Numbers go into memory
 * from `allocate`, grown by doubling. `push` takes the next piece and returns −1 while the array
 * goes on, or, once its closing bracket is read, the offset in the piece just after it.
 */
export class NumberScanner {
  private readonly state: ArrayBuffer;
  private readonly words: Int32Array;
  private numbers: Float64Array;
  private count = 0;
  /** The start of a number cut off at the end of the last piece. */
  private tail: Uint8Array = new Uint8Array(0);
  private twinOut = new Float64Array(0);

  constructor(
    limits: ScanLimits,
    private readonly allocate: (length: number) => Float64Array,
    /** 'twin' runs the TypeScript scanner even where the WebAssembly one runs (for tests). */
    private readonly engine: 'fastest' | 'twin' = 'fastest',
    /** How many numbers to make room for at first; the room doubles when they are more. */
    expectedNumbers = 16,
  ) {
    if (limits.maxRank > MAX_RANK || limits.minRank < 1 || limits.minRank > limits.maxRank) throw new RangeError('ranks out of range');
    this.state = initialState(limits.minRank, limits.maxRank, limits.maxOuter, limits.maxNumbers);
    this.words = new Int32Array(this.state, 0, STATE_WORDS);
    this.numbers = allocate(Math.max(1, expectedNumbers));
  }

  get done(): boolean {
    return this.words[W.STATUS] === SCAN.DONE;
  }

  push(piece: Uint8Array): number {
    if (this.tail.length === 0) return this.scan(piece, false, 0);
    // The number cut off at the end of the last piece, finished by this one's first bytes: the
    // rest of its digits and the byte after them, scanned apart from the rest of the piece.
    let rest = 0;
    while (rest < piece.length && isNumberByte(piece[rest])) rest++;
    const joinedLength = Math.min(piece.length, rest + 1);
    const held = this.tail.length;
    const joined = new Uint8Array(held + joinedLength);
    joined.set(this.tail);
    joined.set(piece.subarray(0, joinedLength), held);
    this.tail = new Uint8Array(0);
    const end = this.scan(joined, false, 0);
    if (end >= 0) return end - held;
    // The joined bytes left a number unfinished only if the piece ended inside it.
    if (this.tail.length > 0) return -1;
    return joinedLength === piece.length ? -1 : this.scan(piece, false, joinedLength);
  }

  /** The text has ended: reads a number left at its end, and throws unless the array was complete. */
  finish(): NumericArray {
    if (!this.done && this.tail.length > 0) {
      const tail = this.tail;
      this.tail = new Uint8Array(0);
      this.scan(tail, true, 0);
    }
    if (!this.done) throw new ScanError({ kind: 'syntax' });
    return this.result();
  }

  result(): NumericArray {
    const s = this.words;
    const rank = s[W.RANK] || Math.max(s[W.MIN_RANK], Math.min(s[W.DEEPEST], s[W.MAX_RANK]));
    const depths: DepthLengths[] = [];
    for (let d = 0; d < rank; d++) {
      const other = s[W.OTHER_LENGTH + d];
      depths.push({
        count: s[W.CLOSED + d],
        first: s[W.FIRST_LENGTH + d],
        other: other < 0 ? null : { length: other, path: Array.from(s.subarray(W.OTHER_PATH + d * MAX_RANK, W.OTHER_PATH + d * MAX_RANK + d)) },
      });
    }
    return { numbers: this.numbers.subarray(0, this.count), rank, depths };
  }

  /** Scans `text` from `from`; returns the offset after the array's end, or −1 having kept any cut-off number. */
  private scan(text: Uint8Array, last: boolean, from: number): number {
    let at = from;
    while (at < text.length) {
      const end = Math.min(text.length, at + SCAN_SLICE);
      const final = last && end === text.length;
      const consumed = this.step(text, at, end, final);
      at += consumed;
      const status = this.words[W.STATUS];
      if (status === SCAN.DONE) return at;
      if (status === SCAN.SLOW_NUMBER) {
        at += this.readSlowNumber(text, at, this.words[W.SLOW_END] - this.words[W.SLOW_START]);
        continue;
      }
      if (status < 0) throw this.error(status);
      if (end < text.length) {
        // A number that fills a whole slice is longer than any number needs to be.
        if (consumed === 0) throw new ScanError({ kind: 'syntax' });
        continue;
      }
      // The piece ended inside a number: keep its start for the next piece.
      if (at < text.length) {
        if (text.length - at > MAX_NUMBER_TEXT) throw new ScanError({ kind: 'syntax' });
        this.tail = text.slice(at);
      }
      return -1;
    }
    return -1;
  }

  /** A number of more than 19 significant digits at text[at, at + length): read exactly here. */
  private readSlowNumber(text: Uint8Array, at: number, length: number): number {
    const token = Buffer.from(text.buffer, text.byteOffset + at, length).toString('latin1');
    if (!JSON_NUMBER.test(token)) throw new ScanError({ kind: 'syntax' });
    const x = Number(token);
    if (!Number.isFinite(x)) throw this.error(SCAN.NOT_FINITE);
    new Float64Array(this.state, PENDING_VALUE_BYTE, 1)[0] = x;
    this.words[W.PENDING] = 1;
    // The number is stored by the next call, before the bytes after it.
    const before = this.count;
    this.step(text, at + length, at + length, false);
    if (this.words[W.STATUS] < 0) throw this.error(this.words[W.STATUS]);
    if (this.count !== before + 1) throw new ScanError({ kind: 'syntax' });
    return length;
  }

  /** One call of the scanner over text[start, end); appends the numbers it wrote. */
  private step(text: Uint8Array, start: number, end: number, last: boolean): number {
    const length = end - start;
    const room = (length >> 1) + 2;
    let consumed: number;
    let written: Float64Array;
    if (wasm && this.engine === 'fastest' && length >= TWIN_BELOW) {
      const address = wasm.scanStateAddress();
      const input = scratchStart;
      const out = input + align(length);
      reserve(out + room * 8);
      bytesView.set(new Uint8Array(this.state), address);
      bytesView.set(text.subarray(start, end), input);
      consumed = wasm.scanNumbers(input, length, last ? 1 : 0, out);
      new Uint8Array(this.state).set(bytesView.subarray(address, address + STATE_BYTES));
      written = floatView.subarray(out / 8, out / 8 + this.words[W.WRITTEN]);
    } else {
      if (this.twinOut.length < room) this.twinOut = new Float64Array(Math.max(room, 64));
      consumed = scanNumbersTwin(this.state, text, start, end, last, this.twinOut);
      written = this.twinOut.subarray(0, this.words[W.WRITTEN]);
    }
    if (written.length > 0) {
      if (this.count + written.length > this.numbers.length) {
        const grown = this.allocate(Math.max(2 * this.numbers.length, this.count + written.length));
        grown.set(this.numbers.subarray(0, this.count));
        this.numbers = grown;
      }
      this.numbers.set(written, this.count);
      this.count += written.length;
    }
    return consumed;
  }

  private error(status: number): ScanError {
    const s = this.words;
    const path = Array.from(s.subarray(W.ERROR_PATH, W.ERROR_PATH + s[W.ERROR_DEPTH]));
    switch (status) {
      case SCAN.NOT_NUMBER:
        return new ScanError({ kind: 'not-number', path });
      case SCAN.NOT_ARRAY:
        return new ScanError({ kind: 'not-array', path });
      case SCAN.NOT_FINITE:
        return new ScanError({ kind: 'not-finite', path });
      case SCAN.TOO_MANY_OUTER:
        return new ScanError({ kind: 'too-many-outer', path });
      case SCAN.TOO_MANY_NUMBERS:
        return new ScanError({ kind: 'too-many-numbers', path });
      default:
        return new ScanError({ kind: 'syntax' });
    }
  }
}

/** Scans a whole text that holds one array (and nothing else but whitespace). */
export function scanWhole(text: Uint8Array, limits: ScanLimits, engine: 'fastest' | 'twin' = 'fastest'): NumericArray {
  const scanner = new NumberScanner(limits, (length) => new Float64Array(length), engine);
  const end = scanner.push(text);
  if (end >= 0 && text.subarray(end).some((c) => c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09)) throw new ScanError({ kind: 'syntax' });
  return scanner.finish();
}
