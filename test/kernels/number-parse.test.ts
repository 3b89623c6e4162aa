/**
 * readPointsJson (Eisel–Lemire in WebAssembly) against JSON.parse: the same doubles, bit for bit,
 * for numbers as V8 writes them across the whole range, as people write them (few digits, 19
 * digits, exponents, leading zeros, halfway cases), subnormals and underflow; and null, so that
 * JSON.parse decides, for every body outside the one shape it reads.
 */
import { describe, expect, it } from 'vitest';
import { readPointsJson } from '../../src/kernels/index.js';
import { randomDoubles, sameBits } from '../helpers/bits.js';

const allocate = (length: number) => new Float64Array(length);
const read = (text: string) => readPointsJson(Buffer.from(text), allocate);


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

function body(rows: string[][], modelId = 'demo', space = ''): string {
  return `{${space}"modelId"${space}:${space}"${modelId}",${space}"points":${space}[${rows.map((r) => `[${r.join(`,${space}`)}]`).join(`,${space}`)}]${space}}`;
}

describe('readPointsJson', () => {
  it('reads every number to the double JSON.parse reads, bit for bit', () => {
    const v8Written = randomDoubles(200_000, 0x9e3779b97f4a7c15n).map(String);
    for (const texts of [v8Written, writtenNumbers()]) {
      const rows = Array.from({ length: texts.length }, (_, i) => [texts[i]]);
      const parsed = read(body(rows));
      expect(parsed).not.toBeNull();
      const want = Float64Array.from(texts, (text) => JSON.parse(text) as number);
      const differing = texts.filter((_, i) => !Object.is(parsed!.coordinates[i], want[i]));
      expect(differing.slice(0, 5)).toEqual([]);
      expect(sameBits(parsed!.coordinates, want)).toBe(true);
    }
  });

  it('reads the modelId, the width and the points, whatever the spacing and member order', () => {
    const rows = [['0.5', '-0.25', '1e-3'], ['1', '2', '3']];
    for (const text of [body(rows), body(rows, 'a-b_c.1', ' \n\t\r '), `{"points":[[0.5,-0.25,1e-3],[1,2,3]],"modelId":"a-b_c.1"}`]) {
      const parsed = read(text)!;
      expect(parsed.modelId).toMatch(/^(demo|a-b_c\.1)$/);
      expect(parsed.width).toBe(3);
      expect([...parsed.coordinates]).toEqual([0.5, -0.25, 1e-3, 1, 2, 3]);
    }
  });

  it('leaves to JSON.parse every body outside its shape', () => {
    const good = body([['1', '2']]);
    expect(read(good)).not.toBeNull();
    const refused = [
      '',
      '[]',
      good.slice(0, -1),
      `${good}x`,
      `${good},`,
      body([['1', '2']]).replace('"modelId"', '"modelID"'),
      body([['1', '2']]).replace('}', ',"extra":1}'),
      `{"modelId":"a","modelId":"b","points":[[1]]}`,
      `{"modelId":"a","points":[[1]],"points":[[2]]}`,
      `{"points":[[1]]}`,
      `{"modelId":"a"}`,
      body([['1', '2']], 'd\\u0065mo'),
      body([['1', '2']], 'dé'),
      body([]),
      body([[]]),
      body([['1', '2'], ['3']]),
      body([['1', '2'], ['3', '4', '5']]),
      body([['"1"', '2']]),
      body([['null', '2']]),
      body([['1e400', '2']]),
      body([['-1e309', '2']]),
      body([['12345678901234567891', '2']]),
      body([['0.12345678901234567891', '2']]),
      body([['01', '2']]),
      body([['1.', '2']]),
      body([['.5', '2']]),
      body([['+1', '2']]),
      body([['1e', '2']]),
      body([['NaN', '2']]),
      body([['1', '2',]]).replace(']]', ',]]'),
      body([['1', '2']]).replace(']]', '],]'),
    ];
    for (const text of refused) expect([text, read(text)]).toEqual([text, null]);
  });

  it('leaves to JSON.parse a body of numbers shorter than its room allows', () => {
    const rows = Array.from({ length: 1000 }, () => ['0', '0', '0', '0']);
    expect(read(body(rows).replace(/ /g, ''))).toBeNull();
    expect(read(body(rows, 'demo', '   '))).not.toBeNull();
  });
});
