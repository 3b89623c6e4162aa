/**
 * numbersJson (Ryu in WebAssembly) against V8's own Number → String: the same text, character for
 * character, over random bit patterns across the whole double range, subnormals, every power of
 * two, powers of ten and the numbers around them, integers, and the notation boundaries (1e21,
 * 1e-7); and rows, matrices, slices longer than one call into the module, −0 and refusals.
 */
import { describe, expect, it } from 'vitest';
import { numbersJson, numbersJsonBound, numbersWasmAvailable } from '../../src/codecs/json/numbers.js';
import { randomDoubles } from '../helpers/bits.js';


const next = (x: number, steps: number): number => {
  const bits = new BigInt64Array(Float64Array.of(x).buffer);
  bits[0] += BigInt(steps);
  return new Float64Array(bits.buffer)[0];
};

function edgeCases(): number[] {
  const xs = [0, 5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, Number.MAX_VALUE, Number.EPSILON, 0.1, 0.2, 0.3, 1 / 3, 2 / 3];
  for (let e = -1074; e <= 1023; e++) xs.push(2 ** e);
  for (let e = -323; e <= 308; e++) xs.push(Number(`1e${e}`), Number(`9.999999999999999e${e}`), Number(`5e${e}`));
  for (const x of [1e21, 1e-7, 1e-6, 1e20, 123456789012345680000, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64]) {
    for (let s = -3; s <= 3; s++) xs.push(next(x, s));
  }
  for (let i = 0; i < 2000; i++) xs.push(i, i * 1000 + 0.5, i / 7, i * 1e-9);
  const withNegatives = xs.filter((x) => x > 0 || Object.is(x, 0)).flatMap((x) => [x, -x]);
  return withNegatives.filter(Number.isFinite);
}

const v8Text = (x: number): string => (Object.is(x, -0) ? '-0' : String(x));

function written(values: number[], width: number, group = 0): string {
  const input = Float64Array.from(values);
  const into = new Uint8Array(numbersJsonBound(input.length, width, group));
  const length = numbersJson(input, into, width, group);
  return Buffer.from(into.buffer, into.byteOffset, length).toString('latin1');
}

describe('numbersJson', () => {
  it('runs on WebAssembly here', () => {
    expect(numbersWasmAvailable).toBe(true);
  });

  it('writes every number as V8 does: edge cases and random bit patterns over the whole range', () => {
    for (const values of [edgeCases(), randomDoubles(300_000, 0x9e3779b97f4a7c15n)]) {
      const items = written(values, 0).split(',');
      expect(items.length).toBe(values.length);
      const differing = values.map((x, i) => [v8Text(x), items[i]]).filter(([want, got]) => want !== got);
      expect(differing.slice(0, 5)).toEqual([]);
    }
  });

  it('writes numbers of the size results have as V8 does, and reads back to the same doubles', () => {
    let state = 1;
    const uniform = () => ((state = (state * 48271) % 2147483647) / 2147483647 - 0.5) * 8;
    const values = Array.from({ length: 200_000 }, (_, i) => uniform() * 10 ** ((i % 13) - 6));
    const text = written(values, 0);
    expect(text === values.map(v8Text).join(',')).toBe(true);
    expect(JSON.parse(`[${text}]`)).toEqual(values);
  });

  it('writes rows, across the module’s slices, as JSON.stringify writes nested arrays', () => {
    // No −0 here: JSON.stringify would write it as 0.
    const values = randomDoubles(4 * 70_001, 7n).map((x) => x / 2 ** 900).map((x) => (x === 0 ? 0 : x));
    const text = written(values, 4);
    const rows = Array.from({ length: 70_001 }, (_, r) => values.slice(4 * r, 4 * r + 4));
    expect(`[${text}]` === JSON.stringify(rows)).toBe(true);
  });

  it('writes a matrix per point (groups of rows), as JSON.stringify writes them, across slices', () => {
    const values = randomDoubles(3 * 3 * 9_001, 11n).map((x) => x / 2 ** 900).map((x) => (x === 0 ? 0 : x));
    const text = written(values, 3, 3);
    const matrices = Array.from({ length: 9_001 }, (_, p) => [0, 1, 2].map((r) => values.slice(9 * p + 3 * r, 9 * p + 3 * r + 3)));
    expect(`[${text}]` === JSON.stringify(matrices)).toBe(true);
    expect(written([1, 2, 3, 4], 2, 2)).toBe('[[1,2],[3,4]]');
  });

  it('keeps the sign of −0, which JSON.stringify drops', () => {
    expect(written([-0, 0, -0], 0)).toBe('-0,0,-0');
    expect(written([-0, 1], 2)).toBe('[-0,1]');
  });

  it('writes nothing for no numbers', () => {
    expect(written([], 0)).toBe('');
    expect(written([], 3)).toBe('');
  });

  it('refuses numbers JSON cannot hold, rows that do not divide, and too little room', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => written([1, bad], 0)).toThrow(RangeError);
    }
    expect(() => written([1, 2, 3], 2)).toThrow(/rows of 2/);
    expect(() => numbersJson(Float64Array.of(1, 2), new Uint8Array(10), 0)).toThrow(RangeError);
  });
});
