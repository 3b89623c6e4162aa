/**
 * The JSON document reader alone: a document read as it arrives, in any pieces, is the document
 * JSON.parse reads (its numeric arrays as float64s); a small body parsed whole and a large one
 * streamed give the same document or the same error; a wrong structure is refused at the first
 * byte that shows it; and the shape a schema gives the reader is the schema's.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readDocument, readStreaming, SMALL_BODY_BYTES } from '../../src/codecs/json/document.js';
import { BodySchemaError, MalformedJsonError } from '../../src/codecs/json/errors.js';
import type { NumericArray } from '../../src/codecs/json/numbers.js';
import { JsonDocumentReader, MAX_DEPTH, MAX_STRING_BYTES, type ReadOptions } from '../../src/codecs/json/reader.js';
import { shapeOf, skeletonOf } from '../../src/codecs/json/shape.js';
import { bytesSource } from '../../src/codecs/source.js';
import { ComputeBody } from '../../src/http/schemas/compute.js';
import { CreateModelBody } from '../../src/http/schemas/models.js';

const options = (maxOuter = 1_000_000, maxNumbers = 10_000_000): ReadOptions => ({
  allocate: (length) => new Float64Array(length),
  limits: (field) => ({ maxOuter, maxNumbers, tooManyOuter: () => new Error(`${field}: outer`), tooManyNumbers: () => new Error(`${field}: numbers`) }),
});

/** A NumericArray back as nested arrays, for comparing with JSON.parse. */
function nested(array: NumericArray): unknown {
  const shape = array.depths.map((d) => d.first);
  let at = 0;
  const build = (depth: number): unknown[] =>
    Array.from({ length: shape[depth] }, () => (depth === array.rank - 1 ? array.numbers[at++] : build(depth + 1)));
  return build(0);
}

const plain = (document: unknown): unknown =>
  JSON.parse(JSON.stringify(document, (_key, value) => (value && typeof value === 'object' && 'numbers' in value && 'depths' in value ? nested(value as NumericArray) : value)));

/** Reads `text` streamed, cut at the given offsets. */
function readInPieces(text: string, schema: object, cuts: number[]): unknown {
  const bytes = Buffer.from(text);
  const reader = new JsonDocumentReader(shapeOf(schema as never), options());
  let from = 0;
  for (const cut of [...new Set(cuts.map((c) => Math.min(c, bytes.length)))].sort((a, b) => a - b).concat(bytes.length)) {
    if (cut > from) reader.push(bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
  return reader.end();
}

/** The outcome of reading: the document (plain), or the error's class and message. */
const outcome = (read: () => unknown) => {
  try {
    return { document: plain(read()) };
  } catch (error) {
    return { error: (error as Error).name, message: (error as Error).message };
  }
};

const validBodies = fc.record({
  modelId: fc.string({ minLength: 1, maxLength: 20 }),
  points: fc.array(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 2, maxLength: 2 }), { minLength: 1, maxLength: 30 }),
});

describe('the streaming reader', () => {
  it('reads the document JSON.parse reads, in whatever pieces it arrives', () => {
    fc.assert(
      fc.property(validBodies, fc.array(fc.nat(600), { maxLength: 10 }), fc.constantFrom('', ' ', '\n  '), (body, cuts, space) => {
        const text = JSON.stringify(body, null, space || undefined);
        const read = plain(readInPieces(text, ComputeBody, cuts));
        expect(read).toEqual(JSON.parse(JSON.stringify(body)));
      }),
      { numRuns: 300 },
    );
  });

  it('gives a small body parsed whole and the same body streamed the same document or the same error', async () => {
    const bodies = fc.oneof(
      validBodies.map((b) => JSON.stringify(b)),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      validBodies.map((b) => JSON.stringify(b).replace(/\d(?=[,\]])/, '"x"')),
      validBodies.map((b) => JSON.stringify(b).replace('"points"', '"extra":1,"points"')),
      validBodies.map((b) => JSON.stringify(b).replace(/\](?=\]\}$)/, ',[1,2,3]]')),
    );
    await fc.assert(
      fc.asyncProperty(bodies, async (text) => {
        const whole = await Promise.resolve()
          .then(() => readDocument(bytesSource(Buffer.from(text)), ComputeBody, options()))
          .then(
          (document) => ({ document: plain(document) }),
          (error: Error) => ({ error: error.name, message: error.message }),
        );
        const streamed = outcome(() => readStreaming(Buffer.from(text), ComputeBody, options()));
        // Both refuse a body that is wrong, with the same kind of error; one that is right reads the same.
        if ('document' in whole) expect(streamed).toEqual(whole);
        else expect((streamed as { error: string }).error).toBe(whole.error);
      }),
      { numRuns: 400 },
    );
    // 400 bodies: a second or two alone, longer beside the suite's heavy files on two cores.
  }, 30_000);

  it('takes the path by size: up to SMALL_BODY_BYTES parsed whole, larger streamed', async () => {
    const points = Array.from({ length: 3000 }, (_, i) => [i / 3, -i]);
    const text = JSON.stringify({ modelId: 'demo', points });
    expect(text.length).toBeGreaterThan(SMALL_BODY_BYTES);
    // A duplicate member: JSON.parse keeps the last; the streaming reader refuses it.
    const twice = `{"modelId":"a",${text.slice(1)}`;
    await expect(Promise.resolve().then(() => readDocument(bytesSource(Buffer.from(twice)), ComputeBody, options()))).rejects.toThrow("body has the member 'modelId' twice");
    const small = '{"modelId":"a","modelId":"b","points":[[1,2]]}';
    expect(plain(await readDocument(bytesSource(Buffer.from(small)), ComputeBody, options()))).toEqual({ modelId: 'b', points: [[1, 2]] });
  });

  it.each([
    ['an empty body', '', MalformedJsonError, 'the body is empty; send a JSON object'],
    ['whitespace only', '  \n', MalformedJsonError, 'the body is empty; send a JSON object'],
    ['text after the document', '{"modelId":"a","points":[[1,2]]} x', MalformedJsonError, "the body is not valid JSON: unexpected 'x' at byte 33"],
    ['a document cut short', '{"modelId":"a","points":[[1,2]', MalformedJsonError, 'the body is not valid JSON: it ends in the middle of a value'],
    ['a member the schema does not have', '{"modelId":"a","colour":[{},{}]}', BodySchemaError, "body has an unknown property 'colour'"],
    ['a member twice', '{"modelId":"a","modelId":"b"}', BodySchemaError, "body has the member 'modelId' twice"],
    ['a __proto__ member', '{"__proto__":{"x":1}}', BodySchemaError, 'body has a member named __proto__, which is not allowed'],
    ['an array where a string belongs', '{"modelId":[1,2,3]}', BodySchemaError, 'modelId must be a string'],
    ['an object where points belong', '{"points":{"a":1}}', BodySchemaError, 'points must be an array'],
    ['objects where points belong', '{"points":[{},{}]}', BodySchemaError, 'points[0] must be an array'],
    ['a string where a coordinate belongs', '{"points":[[1,"2"]]}', BodySchemaError, 'points[0][1] must be a finite number'],
    ['nesting past the points', '{"points":[[[1]]]}', BodySchemaError, 'points[0][0] must be a finite number'],
    ['a number too large for a double', '{"points":[[1,1e400]]}', BodySchemaError, 'points[0][1] must be a finite number'],
    ['a bad escape in a string', '{"modelId":"a\\qb"}', MalformedJsonError, 'the body is not valid JSON: a string holds a control character or a bad escape'],
    ['a word that is not JSON', '{"modelId":nope}', MalformedJsonError, "the body is not valid JSON: unexpected 'nope'"],
  ])('refuses %s: %s', (_name, text, kind, message) => {
    const read = () => readInPieces(text, ComputeBody, [3, 17]);
    expect(read).toThrow(kind);
    expect(read).toThrow(message);
  });

  it('refuses at the first byte that shows the document wrong, not at its end', () => {
    const reader = new JsonDocumentReader(shapeOf(ComputeBody as never), options());
    reader.push(Buffer.from('{"modelId":"demo","points":[[0.5,'));
    expect(() => reader.push(Buffer.from('{}'))).toThrow('points[0][1] must be a finite number');
  });

  it('bounds what is not a numeric array: string length and nesting', () => {
    expect(() => readInPieces(`{"modelId":"${'m'.repeat(MAX_STRING_BYTES + 1)}"}`, ComputeBody, [])).toThrow(`the body has a string longer than ${MAX_STRING_BYTES} bytes`);
    const deep = `${'{"a":'.repeat(MAX_DEPTH + 1)}1${'}'.repeat(MAX_DEPTH + 1)}`;
    expect(() => readInPieces(deep, { type: 'object' }, [])).toThrow(`nested more than ${MAX_DEPTH} deep`);
  });

  it('tells the limits of each numeric array by its field, and stops at the first item past them', () => {
    const reader = new JsonDocumentReader(shapeOf(ComputeBody as never), options(3));
    expect(() => reader.push(Buffer.from('{"points":[[1,2],[3,4],[5,6],[7,8]]}'))).toThrow('points: outer');
  });
});

describe('shapes from schemas', () => {
  it('knows the numeric arrays of the compute and model bodies, their ranks and minItems, and the closed objects', () => {
    const compute = shapeOf(ComputeBody as never);
    expect(compute).toMatchObject({ kind: 'object', closed: true });
    expect((compute as unknown as { fields: Map<string, unknown> }).fields.get('points')).toEqual({ kind: 'numbers', minRank: 2, maxRank: 2, minItems: [1, 0] });
    const model = shapeOf(CreateModelBody as never) as unknown as { fields: Map<string, unknown> };
    expect(model.fields.get('W')).toEqual({ kind: 'numbers', minRank: 3, maxRank: 3, minItems: [1, 1, 1] });
    expect(model.fields.get('seed')).toEqual({ kind: 'scalar', expected: 'integer' });
  });

  it('gives a skeleton that accepts any numeric array and checks everything else as the schema does', () => {
    const skeleton = skeletonOf(ComputeBody as never) as { properties: Record<string, object> };
    expect(skeleton.properties.points).toEqual({});
    expect(skeleton.properties.modelId).toEqual(ComputeBody.properties.modelId);
  });
});
