/**
 * A JSON document read as it arrives, piece by piece, guided by the shape the document must have
 * (./shape.ts derives it from the route's schema). Each piece costs time in proportion to its
 * length, so no body holds the event loop for long, and a body whose structure is wrong is refused
 * at the first byte that shows it, not after it has been read whole:
 *
 * - nested arrays of numbers (points, weights) go straight into float64s through NumberScanner,
 *   within the limits the caller gives for each, and come out as NumericArray;
 * - a container where a scalar belongs, an unknown member of a closed object, or a member given
 *   twice is refused at once;
 * - everything else (a name, an enum, small objects) becomes an ordinary value, within bounds on
 *   string length, nesting and the number of values.
 *
 * What is left to check (types of scalars, required members, ranges) is the schema validator's,
 * on the document with its numeric arrays in place.
 */
import { BodySchemaError, MalformedJsonError } from './errors.js';
import { JSON_NUMBER } from './number-scan-twin.js';
import { NumberScanner, ScanError, type NumericArray, type ScanLimits } from './numbers.js';

export type Shape =
  | { readonly kind: 'object'; readonly fields: ReadonlyMap<string, Shape>; readonly closed: boolean }
  | { readonly kind: 'numbers'; readonly minRank: number; readonly maxRank: number; readonly minItems: readonly number[] }
  | { readonly kind: 'scalar'; readonly expected: string }
  | { readonly kind: 'list'; readonly items: Shape }
  | { readonly kind: 'any' };

const ANY: Shape = { kind: 'any' };

/** Limits of one numeric array, and the errors for going past them. */
export interface NumbersLimits {
  readonly maxOuter: number;
  readonly maxNumbers: number;
  /** The error for more items in the outermost array than maxOuter. */
  tooManyOuter(): Error;
  /** The error for more numbers than maxNumbers. */
  tooManyNumbers(): Error;
}

export interface ReadOptions {
  /** The limits of the numeric array at `field` (its name without indices: `points`, `inputs.data`). */
  limits(field: string): NumbersLimits;
  /** Memory for the numbers read. */
  allocate(length: number): Float64Array;
  /** The document's length in bytes, when known before it arrives: sizes the first memory asked for. */
  readonly expectedBytes?: number | null;
}

/** Bounds on what is not a numeric array. */
export const MAX_STRING_BYTES = 64 * 1024;
export const MAX_DEPTH = 32;
export const MAX_VALUES = 10_000;

type Container =
  | { readonly kind: 'object'; readonly value: Record<string, unknown>; readonly shape: Shape; readonly name: string; key: string | null; state: 'key-or-end' | 'key' | 'colon' | 'value' | 'comma-or-end' }
  | { readonly kind: 'array'; readonly value: unknown[]; readonly shape: Shape; readonly name: string; state: 'value-or-end' | 'value' | 'comma-or-end' };

const SPACE = new Uint8Array(256);
for (const c of [0x20, 0x0a, 0x0d, 0x09]) SPACE[c] = 1;

/** `points`, `points[3]`, `inputScaling.scale`: a member's name as a client wrote it. */
const member = (parent: string, key: string): string => (parent === 'body' ? key : `${parent}.${key}`);
const indexed = (name: string, path: readonly number[]): string => `${name}${path.map((i) => `[${i}]`).join('')}`;
/** The field's name without indices, for limits: `inputs[0].data` → `inputs.data`. */
const fieldOf = (name: string): string => name.replace(/\[\d+\]/g, '');

const typeNames: Record<string, string> = { number: 'a finite number', integer: 'an integer', string: 'a string', boolean: 'a boolean' };

export class JsonDocumentReader {
  private readonly stack: Container[] = [];
  private root: unknown = undefined;
  private finished = false;
  private started = false;
  private values = 0;
  private offset = 0;
  /** A token being read: its bytes from earlier pieces (a token cut off at a piece's end), its kind. */
  private token: Uint8Array[] | null = null;
  private tokenLength = 0;
  private tokenKind: 'string' | 'number' | 'literal' = 'string';
  private escaped = false;
  /** The string token has neither an escape nor a byte past ASCII (its text is its bytes). */
  private plain = true;
  private scanner: NumberScanner | null = null;
  private scanning: { name: string; shape: Extract<Shape, { kind: 'numbers' }> } | null = null;

  constructor(
    private readonly shape: Shape,
    private readonly options: ReadOptions,
  ) {}

  /** Reads the next piece of the text; throws MalformedJsonError, BodySchemaError or a limit's error. */
  push(piece: Uint8Array): void {
    try {
      this.read(piece);
    } catch (error) {
      throw error instanceof ScanError ? this.scanError(error) : error;
    }
  }

  private read(piece: Uint8Array): void {
    let at = 0;
    const n = piece.length;
    while (at < n) {
      if (this.scanner !== null) {
        const end = this.scanner.push(at === 0 ? piece : piece.subarray(at));
        if (end < 0) break;
        at += end;
        this.endNumbers();
        continue;
      }
      if (this.token !== null) {
        at = this.continueToken(piece, at);
        continue;
      }
      const c = piece[at];
      if (SPACE[c]) {
        at++;
        continue;
      }
      this.step(piece, at, c);
      at = this.nextAt;
    }
    this.offset += n;
  }

  /** The text has ended: the document, or an error when it is incomplete. */
  end(): unknown {
    if (this.token !== null && this.tokenKind !== 'string') this.finishToken();
    if (this.scanner !== null) {
      try {
        this.scanner.finish();
      } catch (error) {
        throw error instanceof ScanError && error.problem.kind === 'syntax' ? new MalformedJsonError('the body is not valid JSON: it ends in the middle of a value') : this.scanError(error);
      }
    }
    if (!this.started) throw new MalformedJsonError('the body is empty; send a JSON object');
    if (!this.finished) throw new MalformedJsonError('the body is not valid JSON: it ends in the middle of a value');
    return this.root;
  }

  private nextAt = 0;

  private syntax(c: number, at: number): MalformedJsonError {
    const shown = c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
    return new MalformedJsonError(`the body is not valid JSON: unexpected ${shown} at byte ${this.offset + at}`);
  }

  /** The shape expected for the next value, and its name. */
  private expected(): { shape: Shape; name: string } {
    const top = this.stack.at(-1);
    if (top === undefined) return { shape: this.shape, name: 'body' };
    if (top.kind === 'object') {
      const key = top.key!;
      const shape = top.shape.kind === 'object' ? (top.shape.fields.get(key) ?? ANY) : ANY;
      return { shape, name: member(top.name, key) };
    }
    const shape = top.shape.kind === 'list' ? top.shape.items : ANY;
    return { shape, name: `${top.name}[${top.value.length}]` };
  }

  private countValue(): void {
    if (++this.values > MAX_VALUES) {
      throw new BodySchemaError(`the body has more than ${MAX_VALUES} values outside its numeric arrays`);
    }
  }

  /** One structural byte (or the start of a token) at piece[at]; sets nextAt. */
  private step(piece: Uint8Array, at: number, c: number): void {
    if (this.finished) throw this.syntax(c, at);
    this.started = true;
    const top = this.stack.at(-1);
    if (top !== undefined && top.kind === 'object' && top.state !== 'value') {
      switch (top.state) {
        case 'key-or-end':
        case 'key':
          if (c === 0x7d && top.state === 'key-or-end') {
            this.nextAt = at + 1;
            this.closeContainer();
            return;
          }
          if (c !== 0x22) throw this.syntax(c, at);
          this.beginToken('string');
          this.nextAt = this.continueToken(piece, at + 1);
          return;
        case 'colon':
          if (c !== 0x3a) throw this.syntax(c, at);
          top.state = 'value';
          this.nextAt = at + 1;
          return;
        case 'comma-or-end':
          if (c === 0x2c) top.state = 'key';
          else if (c === 0x7d) {
            this.nextAt = at + 1;
            this.closeContainer();
            return;
          } else throw this.syntax(c, at);
          this.nextAt = at + 1;
          return;
      }
    }
    if (top !== undefined && top.kind === 'array') {
      if (top.state === 'comma-or-end') {
        if (c === 0x2c) top.state = 'value';
        else if (c === 0x5d) {
          this.nextAt = at + 1;
          this.closeContainer();
          return;
        } else throw this.syntax(c, at);
        this.nextAt = at + 1;
        return;
      }
      if (c === 0x5d && top.state === 'value-or-end') {
        this.nextAt = at + 1;
        this.closeContainer();
        return;
      }
    }
    this.beginValue(piece, at, c);
  }

  private beginValue(piece: Uint8Array, at: number, c: number): void {
    const { shape, name } = this.expected();
    if (shape.kind === 'numbers') {
      this.scanning = { name, shape };
      const limits = this.scanLimits(name, shape);
      // Room for a number per 8 bytes still to come: rarely grown, never over the limit.
      const remaining = (this.options.expectedBytes ?? 0) - (this.offset + at);
      this.scanner = new NumberScanner(limits, this.options.allocate, 'fastest', Math.min(limits.maxNumbers, Math.max(16, Math.floor(remaining / 8))));
      this.nextAt = at;
      return;
    }
    const opens = c === 0x7b || c === 0x5b;
    if (opens && shape.kind === 'scalar') throw new BodySchemaError(`${name} must be ${typeNames[shape.expected] ?? shape.expected}`);
    if (c === 0x7b) {
      if (shape.kind === 'list') throw new BodySchemaError(`${name} must be an array`);
      this.open({ kind: 'object', value: {}, shape, name, key: null, state: 'key-or-end' });
      this.nextAt = at + 1;
      return;
    }
    if (c === 0x5b) {
      if (shape.kind === 'object') throw new BodySchemaError(`${name} must be an object`);
      this.open({ kind: 'array', value: [], shape, name, state: 'value-or-end' });
      this.nextAt = at + 1;
      return;
    }
    if (shape.kind === 'object' && this.stack.length === 0) throw new BodySchemaError(`${name} must be an object`);
    if (c === 0x22) {
      this.beginToken('string');
      this.nextAt = this.continueToken(piece, at + 1);
      return;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      this.beginToken('number');
      this.nextAt = this.continueToken(piece, at);
      return;
    }
    if (c === 0x74 || c === 0x66 || c === 0x6e) {
      this.beginToken('literal');
      this.nextAt = this.continueToken(piece, at);
      return;
    }
    throw this.syntax(c, at);
  }

  private open(container: Container): void {
    if (this.stack.length >= MAX_DEPTH) throw new BodySchemaError(`${container.name} is nested more than ${MAX_DEPTH} deep`);
    this.countValue();
    this.stack.push(container);
  }

  private closeContainer(): void {
    const container = this.stack.pop()!;
    this.store(container.value);
  }

  /** A complete value: into its parent, or as the document. */
  private store(value: unknown): void {
    const top = this.stack.at(-1);
    if (top === undefined) {
      this.root = value;
      this.finished = true;
      return;
    }
    if (top.kind === 'object') {
      top.value[top.key!] = value;
      top.key = null;
      top.state = 'comma-or-end';
    } else {
      top.value.push(value);
      top.state = 'comma-or-end';
    }
  }

  private beginToken(kind: 'string' | 'number' | 'literal'): void {
    this.token = [];
    this.tokenLength = 0;
    this.tokenKind = kind;
    this.escaped = false;
    this.plain = true;
  }

  /**
   * Takes a token's bytes from piece[at] (a string's after its opening quote); returns where
   * reading goes on. A token cut off by the piece's end keeps its bytes for the next piece.
   */
  private continueToken(piece: Uint8Array, at: number): number {
    const n = piece.length;
    let i = at;
    let end: number;
    if (this.tokenKind === 'string') {
      for (; i < n; i++) {
        const c = piece[i];
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) {
          this.escaped = true;
          this.plain = false;
        }
        else if (c === 0x22) break;
        else if (c >= 0x80 || c < 0x20) this.plain = false;
      }
      end = i;
      if (this.tokenLength + (end - at) > MAX_STRING_BYTES) throw new BodySchemaError(`the body has a string longer than ${MAX_STRING_BYTES} bytes`);
    } else {
      for (; i < n; i++) {
        const c = piece[i];
        const part = this.tokenKind === 'number' ? (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45 : c >= 0x61 && c <= 0x7a;
        if (!part) break;
      }
      end = i;
      if (this.tokenLength + (end - at) > 512) throw new MalformedJsonError('the body is not valid JSON: a number or word of more than 512 characters');
    }
    if (end === n) {
      this.token!.push(piece.slice(at, end));
      this.tokenLength += end - at;
      return n;
    }
    const held = this.token!;
    const bytes = held.length === 0 ? piece.subarray(at, end) : Buffer.concat([...held, piece.subarray(at, end)]);
    this.finishToken(bytes);
    return this.tokenKind === 'string' ? end + 1 : end;
  }

  /** The value of a token cut off at the text's end (a number or word), or of a complete one. */
  private finishToken(bytes: Uint8Array = Buffer.concat(this.token!)): void {
    this.token = null;
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    let value: unknown;
    if (this.tokenKind === 'string') {
      if (this.plain) value = view.toString('latin1');
      else {
        try {
          value = JSON.parse(`"${view.toString('utf8')}"`);
        } catch {
          throw new MalformedJsonError('the body is not valid JSON: a string holds a control character or a bad escape');
        }
      }
      const top = this.stack.at(-1);
      if (top !== undefined && top.kind === 'object' && (top.state === 'key' || top.state === 'key-or-end')) {
        this.takeKey(top, value as string);
        return;
      }
    } else {
      const text = view.toString('latin1');
      if (this.tokenKind === 'number') {
        if (!JSON_NUMBER.test(text)) throw new MalformedJsonError(`the body is not valid JSON: ${text.slice(0, 40)} is not a number`);
        value = Number(text);
      } else if (text === 'true' || text === 'false' || text === 'null') {
        value = text === 'null' ? null : text === 'true';
      } else throw new MalformedJsonError(`the body is not valid JSON: unexpected '${text.slice(0, 20)}'`);
    }
    this.countValue();
    this.store(value);
  }

  private takeKey(top: Extract<Container, { kind: 'object' }>, key: string): void {
    if (key === '__proto__') throw new BodySchemaError(`${top.name} has a member named __proto__, which is not allowed`);
    if (top.shape.kind === 'object' && top.shape.closed && !top.shape.fields.has(key)) {
      throw new BodySchemaError(`${top.name} has an unknown property '${key}'`);
    }
    if (Object.hasOwn(top.value, key)) throw new BodySchemaError(`${top.name} has the member '${key}' twice`);
    top.key = key;
    top.state = 'colon';
  }

  private scanLimits(name: string, shape: Extract<Shape, { kind: 'numbers' }>): ScanLimits {
    const limits = this.options.limits(fieldOf(name));
    return { minRank: shape.minRank, maxRank: shape.maxRank, maxOuter: limits.maxOuter, maxNumbers: limits.maxNumbers };
  }

  private endNumbers(): void {
    const { name, shape } = this.scanning!;
    const array = this.scanner!.result();
    this.scanner = null;
    this.scanning = null;
    checkMinItems(name, array, shape.minItems);
    this.countValue();
    this.store(array);
  }

  private scanError(error: unknown): Error {
    if (!(error instanceof ScanError)) return error as Error;
    const { name } = this.scanning!;
    const { problem } = error;
    switch (problem.kind) {
      case 'syntax':
        return new MalformedJsonError(`the body is not valid JSON: ${name} is not a well-formed array of numbers`);
      case 'not-number':
      case 'not-finite':
        return new BodySchemaError(`${indexed(name, problem.path)} must be a finite number`);
      case 'not-array':
        return new BodySchemaError(`${indexed(name, problem.path)} must be an array`);
      case 'too-many-outer':
        return this.options.limits(fieldOf(name)).tooManyOuter();
      case 'too-many-numbers':
        return this.options.limits(fieldOf(name)).tooManyNumbers();
    }
  }
}

/** The first array at each depth shorter than the schema's minItems there, named as a client would. */
function checkMinItems(name: string, array: NumericArray, minItems: readonly number[]): void {
  for (let d = 0; d < Math.min(minItems.length, array.depths.length); d++) {
    const min = minItems[d];
    if (min <= 0) continue;
    const { first, other } = array.depths[d];
    const path = first >= 0 && first < min ? new Array<number>(d).fill(0) : other !== null && other.length < min ? other.path : null;
    if (path !== null) throw new BodySchemaError(`${indexed(name, path)} must have at least ${min} item${min === 1 ? '' : 's'}`);
  }
}

/** Reads a whole document at once (for tests, and for bodies already in memory). */
export function readJsonDocument(text: Uint8Array, shape: Shape, options: ReadOptions): unknown {
  const reader = new JsonDocumentReader(shape, options);
  reader.push(text);
  return reader.end();
}

export type { NumericArray };
