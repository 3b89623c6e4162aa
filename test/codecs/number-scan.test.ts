/**
 * The scanner of nested arrays of JSON numbers (Eisel–Lemire in WebAssembly, and its TypeScript
 * twin) against JSON.parse: the same doubles, bit for bit, for numbers as V8 writes them across
 * the whole range and as people write them (few digits, more than 19 digits, exponents, halfway
 * cases, subnormals, underflow); the same outcome however the text is cut into pieces; the shape
 * it reports (ranks, the first length at each depth and the first that differs); and a precise
 * refusal, with the index path, of everything that is not such an array.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NumberScanner, numbersWasmAvailable, ScanError, scanWhole, type ScanLimits } from '../../src/codecs/json/numbers.js';
import { randomDoubles, sameBits } from '../helpers/bits.js';

const wide: ScanLimits = { minRank: 1, maxRank: 4, maxOuter: 10_000_000, maxNumbers: 10_000_000 };
const points: ScanLimits = { ...wide, minRank: 2, maxRank: 2 };
const bytes = (text: string) => Buffer.from(text);

/** Number texts as people and other languages write them, with what JSON.parse makes of them. */
function writtenNumbers(): string[] {
  const texts = ['0', '-0', '0.0', '-0.0', '0e5', '1', '-1', '10', '0.5', '1e0', '1E+2', '1e-2', '1.5e300', '2.5e-300'];
  texts.push('9007199254740993', '9007199254740992.5', '1234567890123456789', '0.1234567890123456789', '9999999999999999999');
  texts.push('2.2250738585072011e-308', '2.2250738585072012e-308', '4.9406564584124654e-324', '2.4703282292062327e-324');
  texts.push('2.4703282292062328e-324', '1e-400', '1.7976931348623157e308', '1.7976931348623158e308', '0.000000000000000000001');
  texts.push('8.98846567431158e307', '7.2057594037927933e16', '1.000000000000000111', '0.00001000000000000000111', '123456789012345678900000', '1.2345678901234567890000');
  for (let e = -325; e <= 308; e += 7) texts.push(`1e${e}`, `5e${e}`, `9.999999999999999e${e}`, `1.0000000000000002e${e}`);
  let state = 7;
  const next = () => (state = (state * 48271) % 2147483647);
  for (let i = 0; i < 20_000; i++) {
    const digits = String(next()).padStart(10, '0') + String(next()).padStart(9, '0');
    const length = 1 + (next() % 19);
    const point = next() % (length + 1);
    const whole = digits.slice(0, point).replace(/^0+(?=\d)/, '') || '0';
    const mantissa = `${whole}${point < length ? `.${digits.slice(point, length)}` : ''}`;
    texts.push(`${next() % 2 ? '-' : ''}${mantissa}${next() % 3 === 0 ? `e${(next() % 600) - 300}` : ''}`);
  }
  // Those that overflow are JSON.parse's (the schema refuses them).
  return texts.filter((text) => Number.isFinite(JSON.parse(text)));
}

/** The outcome of scanning `text` in the given pieces: the numbers and shape, or the problem. */
function scanInPieces(text: string, cuts: number[], limits: ScanLimits, engine: 'fastest' | 'twin' = 'fastest') {
  const scanner = new NumberScanner(limits, (length) => new Float64Array(length), engine);
  const all = bytes(text);
  const ends = [...new Set(cuts.map((c) => Math.min(c, all.length)))].sort((a, b) => a - b).concat(all.length);
  let from = 0;
  try {
    for (const end of ends) {
      if (end <= from) continue;
      const done = scanner.push(all.subarray(from, end));
      if (done >= 0) {
        if (all.subarray(from + done).some((c) => c !== 0x20)) return { problem: 'trailing' };
        break;
      }
      from = end;
    }
    const result = scanner.finish();
    return { numbers: [...result.numbers].map((x) => (Object.is(x, -0) ? '-0' : x)), rank: result.rank, depths: result.depths };
  } catch (error) {
    if (error instanceof ScanError) return { problem: error.problem };
    throw error;
  }
}

describe('the number scanner', () => {
  it('runs on WebAssembly here', () => {
    expect(numbersWasmAvailable).toBe(true);
  });

  it.each(['fastest', 'twin'] as const)('reads every number to the double JSON.parse reads, bit for bit (%s)', (engine) => {
    const v8Written = randomDoubles(engine === 'twin' ? 20_000 : 200_000, 0x9e3779b97f4a7c15n).map(String);
    for (const texts of [v8Written, writtenNumbers()]) {
      const text = `[${texts.map((t) => `[${t}]`).join(',')}]`;
      const parsed = scanInPieces(text, [], points, engine);
      const want = Float64Array.from(texts, (t) => JSON.parse(t) as number);
      const got = Float64Array.from((parsed.numbers ?? []) as number[], (x) => (x === ('-0' as never) ? -0 : x));
      expect(sameBits(got, want)).toBe(true);
    }
  });

  it('reads the same numbers and shape however the text is cut, on either engine', () => {
    const text = (rows: number[][]) => `[ ${rows.map((r) => `[${r.map((x) => (Object.is(x, -0) ? '-0' : String(x))).join(' , ')}]`).join(',\n')} ]`;
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 0, maxLength: 4 }), { minLength: 0, maxLength: 12 }),
        fc.array(fc.nat(400), { maxLength: 8 }),
        (rows, cuts) => {
          const whole = scanInPieces(text(rows), [], points);
          expect(scanInPieces(text(rows), cuts, points)).toEqual(whole);
          expect(scanInPieces(text(rows), cuts, points, 'twin')).toEqual(whole);
          expect(whole.numbers).toEqual(rows.flat().map((x) => (Object.is(x, -0) ? '-0' : x)));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('takes any bytes without throwing anything but a ScanError, the same on both engines', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[[\]0-9eE.+\-, "nul{}]*$/), fc.array(fc.nat(60), { maxLength: 4 }), (text, cuts) => {
        const fastest = scanInPieces(text, cuts, wide);
        expect(scanInPieces(text, [], wide, 'twin')).toEqual(scanInPieces(text, [], wide));
        if (!('problem' in fastest)) expect(JSON.parse(text)).toBeDefined();
      }),
      { numRuns: 2000 },
    );
  });

  it('reports the rank, and for each depth the first length and the first that differs, with its path', () => {
    const W = scanWhole(bytes('[[[1,2],[3,4]],[[5,6],[7,8],[9,10]],[[1,2],[3]]]'), { ...wide, minRank: 3, maxRank: 3 });
    expect(W.rank).toBe(3);
    expect(W.depths).toEqual([
      { count: 1, first: 3, other: null },
      { count: 3, first: 2, other: { length: 3, path: [1] } },
      { count: 7, first: 2, other: { length: 1, path: [2, 1] } },
    ]);
    expect(scanWhole(bytes('[]'), points).depths[0]).toEqual({ count: 1, first: 0, other: null });
    expect(scanWhole(bytes('[[],[]]'), points).depths[1]).toEqual({ count: 2, first: 0, other: null });
    expect(scanWhole(bytes('[1,2,3]'), { ...wide, minRank: 1, maxRank: 2 }).rank).toBe(1);
    expect(scanWhole(bytes('[[1],[2]]'), { ...wide, minRank: 1, maxRank: 2 }).rank).toBe(2);
  });

  it.each([
    ['[[1,"x"]]', { kind: 'not-number', path: [0, 1] }],
    ['[[1,[2]]]', { kind: 'not-number', path: [0, 1] }],
    ['[[1,{}]]', { kind: 'not-number', path: [0, 1] }],
    ['[[1,2],3]', { kind: 'not-array', path: [1] }],
    ['[1,2]', { kind: 'not-array', path: [0] }],
    ['[{},{}]', { kind: 'not-array', path: [0] }],
    ['{"a":1}', { kind: 'not-array', path: [] }],
    ['5', { kind: 'not-array', path: [] }],
    ['null', { kind: 'not-array', path: [] }],
    ['[[1e400]]', { kind: 'not-finite', path: [0, 0] }],
    ['[[1,-1e309]]', { kind: 'not-finite', path: [0, 1] }],
    ['[[1,12345678901234567890e400]]', { kind: 'not-finite', path: [0, 1] }],
    ['[[1,2],]', { kind: 'syntax' }],
    ['[[01]]', { kind: 'syntax' }],
    ['[[1.]]', { kind: 'syntax' }],
    ['[[.5]]', { kind: 'syntax' }],
    ['[[+1]]', { kind: 'syntax' }],
    ['[[1e]]', { kind: 'syntax' }],
    ['[[NaN]]', { kind: 'syntax' }],
    ['[[1 2]]', { kind: 'syntax' }],
    ['[[1,2]', { kind: 'syntax' }],
    ['[x]', { kind: 'syntax' }],
  ])('refuses %s precisely, on either engine', (text, problem) => {
    expect(scanInPieces(text, [], points)).toEqual({ problem });
    expect(scanInPieces(text, [], points, 'twin')).toEqual({ problem });
    expect(scanInPieces(text, [1, 3, 5], points)).toEqual({ problem });
  });

  it('stops at the first item past the limits, without reading further', () => {
    const rows = `[${Array(1000).fill('[1,2]').join(',')}]`;
    expect(scanInPieces(rows, [], { ...points, maxOuter: 50 })).toEqual({ problem: { kind: 'too-many-outer', path: [50] } });
    expect(scanInPieces(rows, [], { ...points, maxNumbers: 7 })).toEqual({ problem: { kind: 'too-many-numbers', path: [3, 1] } });
    // Nested past the allowed rank: refused at the bracket that goes too deep.
    expect(scanInPieces('[[[[[[1]]]]]]', [], wide)).toEqual({ problem: { kind: 'not-number', path: [0, 0, 0, 0] } });
  });
});
