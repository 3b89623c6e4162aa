/**
 * The scanner of ./assembly/number-scan.ts in plain TypeScript, with the same state block and the
 * same loop: the fallback where WebAssembly is missing, and the twin the WebAssembly scanner is
 * tested against. Numbers are read by the engine (Number), which is exact; the grammar is JSON's.
 */

export const MAX_RANK = 4;

// Word indices of the state block; ./assembly/number-scan.ts defines the same.
export const W = {
  STATUS: 0,
  DEPTH: 1,
  RANK: 2,
  MIN_RANK: 3,
  MAX_RANK: 4,
  EXPECT: 5,
  NUMBERS: 6,
  MAX_NUMBERS: 7,
  MAX_OUTER: 8,
  WRITTEN: 9,
  SLOW_START: 10,
  SLOW_END: 11,
  PENDING: 12,
  DEEPEST: 13,
  ERROR_DEPTH: 14,
  ERROR_PATH: 15,
  COUNT: 19,
  FIRST_LENGTH: 23,
  CLOSED: 27,
  OTHER_LENGTH: 31,
  OTHER_PATH: 35,
} as const;
export const STATE_WORDS = 51;
/** The byte offset of the pending f64 in the state block. */
export const PENDING_VALUE_BYTE = 52 * 4;
export const STATE_BYTES = PENDING_VALUE_BYTE + 8;

export const SCAN = {
  RUNNING: 0,
  DONE: 1,
  SLOW_NUMBER: 2,
  SYNTAX: -1,
  NOT_NUMBER: -2,
  NOT_ARRAY: -3,
  NOT_FINITE: -4,
  TOO_MANY_OUTER: -5,
  TOO_MANY_NUMBERS: -6,
} as const;

const EXPECT_VALUE_OR_CLOSE = 0;
const EXPECT_VALUE = 1;
const EXPECT_COMMA_OR_CLOSE = 2;

/** A state block for a new scan. */
export function initialState(minRank: number, maxRank: number, maxOuter: number, maxNumbers: number): ArrayBuffer {
  const buffer = new ArrayBuffer(STATE_BYTES);
  const s = new Int32Array(buffer, 0, STATE_WORDS);
  s[W.MIN_RANK] = minRank;
  s[W.MAX_RANK] = maxRank;
  s[W.MAX_OUTER] = Math.min(maxOuter, 0x7fffffff);
  s[W.MAX_NUMBERS] = Math.min(maxNumbers, 0x7fffffff);
  for (let d = 0; d < MAX_RANK; d++) {
    s[W.FIRST_LENGTH + d] = -1;
    s[W.OTHER_LENGTH + d] = -1;
  }
  return buffer;
}

/** JSON's number grammar, whole. */
export const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

const isDigit = (c: number) => c >= 48 && c <= 57;
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isNumberByte = (c: number) => isDigit(c) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69;
const startsOtherValue = (c: number) => c === 123 || c === 34 || c === 116 || c === 102 || c === 110;

/** Significant digits of a number text: leading zeros and trailing zeros of the digits do not count. */
function significantDigits(text: string): number {
  const digits = text.replace(/^-/, '').replace(/[eE].*$/, '').replace('.', '');
  return digits.replace(/^0+/, '').replace(/0+$/, '').length;
}

/**
 * One call of the scanner (see scanNumbers in ./assembly/number-scan.ts): the bytes
 * [start, end) of `text`, numbers written to `out` from index 0. Returns the bytes consumed.
 */
export function scanNumbersTwin(state: ArrayBuffer, text: Uint8Array, start: number, end: number, last: boolean, out: Float64Array): number {
  const s = new Int32Array(state, 0, STATE_WORDS);
  const pending = new Float64Array(state, PENDING_VALUE_BYTE, 1);
  let at = start;

  const setErrorPath = (depth: number) => {
    s[W.ERROR_DEPTH] = depth;
    for (let d = 1; d <= depth; d++) s[W.ERROR_PATH + d - 1] = d < depth ? s[W.COUNT + d - 1] - 1 : s[W.COUNT + d - 1];
  };
  const fail = (status: number, depth: number) => {
    setErrorPath(depth);
    s[W.STATUS] = status;
  };
  const startItem = (depth: number) => {
    if (depth === 1 && s[W.COUNT] >= s[W.MAX_OUTER]) {
      fail(SCAN.TOO_MANY_OUTER, 1);
      return false;
    }
    return true;
  };
  const openArray = () => {
    const depth = s[W.DEPTH];
    if (depth > 0) {
      const rank = s[W.RANK];
      if ((rank > 0 && depth >= rank) || depth >= s[W.MAX_RANK]) {
        fail(SCAN.NOT_NUMBER, depth);
        return false;
      }
      if (!startItem(depth)) return false;
      s[W.COUNT + depth - 1]++;
    }
    s[W.DEPTH] = depth + 1;
    s[W.COUNT + depth] = 0;
    if (depth + 1 > s[W.DEEPEST]) s[W.DEEPEST] = depth + 1;
    s[W.EXPECT] = EXPECT_VALUE_OR_CLOSE;
    return true;
  };
  const closeArray = () => {
    const depth = s[W.DEPTH];
    const i = depth - 1;
    const length = s[W.COUNT + i];
    if (s[W.CLOSED + i] === 0) s[W.FIRST_LENGTH + i] = length;
    else if (s[W.OTHER_LENGTH + i] < 0 && length !== s[W.FIRST_LENGTH + i]) {
      s[W.OTHER_LENGTH + i] = length;
      for (let d = 1; d < depth; d++) s[W.OTHER_PATH + i * MAX_RANK + d - 1] = s[W.COUNT + d - 1] - 1;
    }
    s[W.CLOSED + i]++;
    s[W.DEPTH] = depth - 1;
    s[W.EXPECT] = EXPECT_COMMA_OR_CLOSE;
    if (depth === 1) s[W.STATUS] = SCAN.DONE;
  };
  const storeNumber = (x: number) => {
    const depth = s[W.DEPTH];
    let rank = s[W.RANK];
    if (rank === 0) {
      if (depth < s[W.MIN_RANK]) {
        fail(SCAN.NOT_ARRAY, depth);
        return false;
      }
      rank = depth;
      s[W.RANK] = rank;
    }
    if (depth < rank) {
      fail(SCAN.NOT_ARRAY, depth);
      return false;
    }
    if (!startItem(depth)) return false;
    if (s[W.NUMBERS] >= s[W.MAX_NUMBERS]) {
      fail(SCAN.TOO_MANY_NUMBERS, depth);
      return false;
    }
    s[W.COUNT + depth - 1]++;
    s[W.NUMBERS]++;
    out[s[W.WRITTEN]++] = x;
    s[W.EXPECT] = EXPECT_COMMA_OR_CLOSE;
    return true;
  };

  s[W.WRITTEN] = 0;
  s[W.STATUS] = SCAN.RUNNING;
  if (s[W.PENDING] !== 0) {
    s[W.PENDING] = 0;
    if (!storeNumber(pending[0])) return 0;
  }
  for (;;) {
    while (at < end && isSpace(text[at])) at++;
    if (at >= end) break;
    const c = text[at];
    const expect = s[W.EXPECT];
    const depth = s[W.DEPTH];
    if (depth === 0) {
      if (c !== 91) {
        fail(c === 45 || isDigit(c) || startsOtherValue(c) ? SCAN.NOT_ARRAY : SCAN.SYNTAX, 0);
        break;
      }
      at++;
      openArray();
      continue;
    }
    if (expect === EXPECT_COMMA_OR_CLOSE) {
      if (c === 44) {
        at++;
        s[W.EXPECT] = EXPECT_VALUE;
        continue;
      }
      if (c === 93) {
        at++;
        closeArray();
        if (s[W.STATUS] === SCAN.DONE) break;
        continue;
      }
      s[W.STATUS] = SCAN.SYNTAX;
      break;
    }
    if (c === 91) {
      at++;
      if (!openArray()) break;
      continue;
    }
    if (c === 93) {
      if (expect !== EXPECT_VALUE_OR_CLOSE) {
        s[W.STATUS] = SCAN.SYNTAX;
        break;
      }
      at++;
      closeArray();
      if (s[W.STATUS] === SCAN.DONE) break;
      continue;
    }
    if (c === 45 || isDigit(c)) {
      let tokenEnd = at;
      while (tokenEnd < end && isNumberByte(text[tokenEnd])) tokenEnd++;
      if (tokenEnd === end && !last) break;
      const token = String.fromCharCode(...text.subarray(at, tokenEnd));
      if (!JSON_NUMBER.test(token)) {
        s[W.STATUS] = SCAN.SYNTAX;
        break;
      }
      if (significantDigits(token) > 19) {
        setErrorPath(depth);
        s[W.SLOW_START] = at - start;
        s[W.SLOW_END] = tokenEnd - start;
        s[W.STATUS] = SCAN.SLOW_NUMBER;
        break;
      }
      const x = Number(token);
      if (!Number.isFinite(x)) {
        fail(s[W.RANK] !== 0 && depth < s[W.RANK] ? SCAN.NOT_ARRAY : SCAN.NOT_FINITE, depth);
        break;
      }
      if (!storeNumber(x)) break;
      at = tokenEnd;
      continue;
    }
    if (startsOtherValue(c)) {
      const rank = s[W.RANK];
      fail(rank === 0 ? (depth < s[W.MIN_RANK] ? SCAN.NOT_ARRAY : SCAN.NOT_NUMBER) : depth < rank ? SCAN.NOT_ARRAY : SCAN.NOT_NUMBER, depth);
      break;
    }
    s[W.STATUS] = SCAN.SYNTAX;
    break;
  }
  return at - start;
}
