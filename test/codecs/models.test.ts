/** Model documents written piece by piece: the same text as written whole, −0 and all. */
import { describe, expect, it } from 'vitest';
import { exactJson } from '../../src/codecs/json/exact.js';
import { modelDocumentPieces } from '../../src/codecs/models.js';
import { createModel, randomParameters } from '../../src/kernels/index.js';
import { nestedParameters } from '../../src/registry/documents.js';

describe('modelDocumentPieces', () => {
  it.each([
    ['matrices smaller than a piece', 3, 150],
    ['matrices larger than a piece', 2, 300],
  ])('writes a streamed document with the same text as a whole one (%s)', async (_name, layers, dim) => {
    const model = createModel({ ...randomParameters({ layers, dim, seed: 2 }), mu: -0 });
    model.W[7] = -0;
    const head = { id: 'x', name: 'y', h: -0 };
    const pieces: Buffer[] = [];
    for await (const piece of modelDocumentPieces(head, model)) pieces.push(piece);
    expect(pieces.length).toBeGreaterThan(3);
    expect(Buffer.concat(pieces).toString()).toBe(exactJson({ ...head, ...nestedParameters(model) }));
  });
});
