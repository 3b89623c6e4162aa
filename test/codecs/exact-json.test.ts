import { describe, expect, it } from 'vitest';
import { arrayJson, exactJson, numbersText } from '../../src/codecs/json/exact.js';

const awkward = [0.1, -0, 5e-324, 1.7976931348623157e308, -2.2250738585072014e-308, 1 / 3, 1e21, 123456789.12345678, 0];

describe('exact JSON', () => {
  it.each([
    ['with −0', awkward],
    ['without −0', awkward.filter((x) => !Object.is(x, -0))],
  ])('every number reads back to the same float64 (%s)', (_name, numbers) => {
    const values = Float64Array.from(numbers);
    const read = JSON.parse(arrayJson(values)) as number[];
    read.forEach((x, i) => expect(Object.is(x, numbers[i]), `${x} vs ${numbers[i]}`).toBe(true));
    const rows = JSON.parse(`[${numbersText(values.subarray(0, 8), 2)}]`) as number[][];
    expect(rows.flat().map((x, i) => Object.is(x, numbers[i]))).toEqual(Array(8).fill(true));
    expect(JSON.parse(exactJson({ a: values, b: [{ c: -0 }] })).b[0].c).toBe(-0);
  });

  it('refuses numbers JSON cannot hold', () => {
    expect(() => exactJson(Number.NaN)).toThrow(RangeError);
    expect(() => arrayJson(Float64Array.of(-0, Infinity))).toThrow(RangeError);
    expect(() => arrayJson(Float64Array.of(1, Number.NaN))).toThrow(RangeError);
    expect(() => numbersText(Float64Array.of(1, Infinity), 2)).toThrow(RangeError);
  });
});
