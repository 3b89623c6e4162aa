/**
 * Models from weight files, over HTTP: .npz written by numpy's own np.savez and
 * np.savez_compressed, safetensors in the course's layout and as a torch.nn state_dict, F64 and
 * F32 (test/fixtures/weights, made by scripts/fixtures/weight_files.py); the files the service
 * writes, read back by the service and by numpy, bit for bit; malformed files refused with a
 * problem naming the tensor, before anything is stored; and mutated files never a 5xx.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { agrees } from '../helpers/fixtures.js';
import { problemType, startApp } from '../helpers/app.js';
import { asBytes } from '../helpers/payloads.js';

const folder = new URL('../fixtures/weights/', import.meta.url);
const expected: Record<string, { options: Record<string, string>; parameters: Record<string, number[]>; points: number[][]; values: number[]; gradients: number[][] }> = JSON.parse(
  readFileSync(new URL('expected.json', folder), 'utf8'),
).cases;
const file = (name: string) => readFileSync(new URL(name, folder));
const typeOf = (name: string) => (name.endsWith('.npz') ? 'application/x-npz' : 'application/x-safetensors');

const { http } = await startApp({ MAX_MODEL_WEIGHTS: '4096' });

const upload = (path: string, bytes: Uint8Array, type: string, query: Record<string, string> = {}) =>
  http
    .put(`${path}?${new URLSearchParams(query)}`)
    .set('content-type', type)
    .send(Buffer.from(bytes));

const download = (path: string, type: string) =>
  http
    .get(path)
    .set('accept', type)
    .buffer(true)
    .parse(asBytes as never);

function sameBits(got: number[], want: number[], what: string) {
  expect(got.length, what).toBe(want.length);
  got.forEach((x, i) => expect(Object.is(x, want[i]), `${what}[${i}]: ${x} ≠ ${want[i]}`).toBe(true));
}

async function parametersOf(path: string) {
  const model = (await http.get(path).expect(200)).body;
  return { W: model.W.flat(2), b: model.b.flat(), w: model.w, mu: [model.mu] } as Record<string, number[]>;
}

describe('weight files as numpy and PyTorch write them', () => {
  it.each(Object.keys(expected))('%s: registered bit for bit, values and gradients to 1e-12', async (name) => {
    const want = expected[name];
    const id = `file-${name.replace(/[^A-Za-z0-9]/g, '-')}`;
    // A safetensors file brings its options in __metadata__ when it has them.
    const query = name === 'course.safetensors' ? {} : want.options;
    const created = await upload(`/models/${id}`, file(name), typeOf(name), query).expect(201);
    expect(created.body).toMatchObject({ id, layers: 3, dim: 3, h: Number(want.options.h), activation: want.options.activation ?? 'tanh', output: want.options.output ?? 'identity' });
    const stored = await parametersOf(`/models/${id}`);
    for (const key of ['W', 'b', 'w', 'mu']) sameBits(stored[key], want.parameters[key], `${name} ${key}`);
    const answer = (await http.post('/gradient').send({ modelId: id, points: want.points }).expect(200)).body;
    want.values.forEach((v, p) => {
      expect(agrees(answer.values[p], v), `${name} values[${p}]`).toBe(true);
      want.gradients[p].forEach((g, i) => expect(agrees(answer.gradients[p][i], g), `${name} gradients[${p}][${i}]`).toBe(true));
    });
  });

  it('POST /models takes a weight file too', async () => {
    const created = await http.post('/models?h=0.1&name=posted').set('content-type', 'application/x-npz').send(file('course.npz')).expect(201);
    expect(created.body).toMatchObject({ name: 'posted', version: 1 });
  });
});

describe('weight files the service writes', () => {
  it('an .npz that numpy reads, and that uploads again as the same model, byte for byte the same file', async () => {
    await upload('/models/npz-source', file('course-compressed.npz'), 'application/x-npz', expected['course-compressed.npz'].options).expect(201);
    const written = await download('/models/npz-source', 'application/x-npz').expect(200).expect('content-type', 'application/x-npz');
    const bytes = written.body as Buffer;
    await upload('/models/npz-copy', bytes, 'application/x-npz', expected['course-compressed.npz'].options).expect(201);
    const [source, copy] = await Promise.all([parametersOf('/models/npz-source'), parametersOf('/models/npz-copy')]);
    for (const key of ['W', 'b', 'w', 'mu']) sameBits(copy[key], source[key], key);
    expect((await download('/models/npz-copy', 'application/x-npz').expect(200)).body).toEqual(bytes);

    const dir = mkdtempSync(join(tmpdir(), 'npz-'));
    writeFileSync(join(dir, 'model.npz'), bytes);
    const read = execFileSync('python3', ['-c', "import numpy as np, json, sys; f = np.load(sys.argv[1]); print(json.dumps({k: [str(f[k].dtype), list(f[k].shape), f[k].reshape(-1).tolist()] for k in f.files}))", join(dir, 'model.npz')]);
    const arrays = JSON.parse(String(read));
    expect(Object.keys(arrays).sort()).toEqual(['W', 'b', 'mu', 'w']);
    expect(arrays.W.slice(0, 2)).toEqual(['float64', [3, 3, 3]]);
    expect(arrays.mu.slice(0, 2)).toEqual(['float64', []]);
    for (const key of ['W', 'b', 'w', 'mu']) sameBits(arrays[key][2], source[key], `numpy ${key}`);
  });

  it('a safetensors file that carries the options, and uploads again without a query as the same model', async () => {
    const scaled = { h: '-0', activation: 'sigmoid', output: 'logistic', inputScaling: '{"min":[-1,-2,-0],"max":[1,2,3]}' };
    await upload('/models/st-source', file('state-dict.safetensors'), 'application/x-safetensors', scaled).expect(201);
    const written = (await download('/models/st-source', 'application/x-safetensors').expect(200)).body as Buffer;
    await upload('/models/st-copy', written, 'application/x-safetensors').expect(201);
    const [source, copy] = await Promise.all([http.get('/models/st-source').expect(200), http.get('/models/st-copy').expect(200)]);
    const strip = (text: string) => text.replace(/"id":"[^"]*","name":"[^"]*",/, '').replace(/"createdAt":"[^"]*"/, '');
    expect(strip(copy.text)).toBe(strip(source.text));
    expect(copy.text).toContain('"h":-0');
    expect(copy.text).toContain('"inputScaling":{"min":[-1,-2,-0],"max":[1,2,3]}');
  });
});

/** An .npy file with the given header text and data bytes. */
function npy(header: string, data: Uint8Array, major = 1): Uint8Array {
  const text = Buffer.from(header, 'latin1');
  const lengthBytes = major === 1 ? 2 : 4;
  const bytes = Buffer.alloc(8 + lengthBytes + text.length + data.length);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]).copy(bytes);
  if (major === 1) bytes.writeUInt16LE(text.length, 8);
  else bytes.writeUInt32LE(text.length, 8);
  text.copy(bytes, 8 + lengthBytes);
  Buffer.from(data).copy(bytes, 8 + lengthBytes + text.length);
  return bytes;
}

/** A zip of the given entries, deflated, each declaring `declared` as its inflated size when given. */
function zip(entries: Record<string, Uint8Array>, declared?: number): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, contents] of Object.entries(entries)) {
    const data = deflateRawSync(contents);
    const nameBytes = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(0, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(declared ?? contents.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(declared ?? contents.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(centrals.length / 2, 8);
  end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** A safetensors file from a header object and data bytes. */
function safetensors(header: object, data: Uint8Array): Uint8Array {
  const text = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(text.length));
  return Buffer.concat([length, text, data]);
}

const f8 = (...xs: number[]) => new Uint8Array(Float64Array.from(xs).buffer);
const good = { W: [1, 1, 1], b: [1, 1], w: [1], mu: [] as number[] };
const npyOf = (shape: number[], data = f8(...Array.from({ length: shape.reduce((n, s) => n * s, 1) }, (_, i) => i / 10))) =>
  npy(`{'descr': '<f8', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`, data);
const goodNpz = (replace: Record<string, Uint8Array> = {}) =>
  zip({ ...Object.fromEntries(Object.entries(good).map(([k, shape]) => [`${k}.npy`, npyOf(shape)])), ...replace });

describe('malformed weight files', () => {
  it.each([
    ['a header that overruns the file', goodNpz({ 'W.npy': npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1), }", new Uint8Array(0)).subarray(0, 20) }), 400, 'W: the header of 62 bytes overruns the file of 20'],
    ['a big-endian dtype', goodNpz({ 'W.npy': npy("{'descr': '>f8', 'fortran_order': False, 'shape': (1, 1, 1), }", f8(1)) }), 400, "W: dtype '>f8' (big-endian) is not little-endian float64 ('<f8') or float32 ('<f4')"],
    ['Fortran order', goodNpz({ 'W.npy': npy("{'descr': '<f8', 'fortran_order': True, 'shape': (1, 1, 1), }", f8(1)) }), 400, 'W: the array is in Fortran order; save it in C order (np.ascontiguousarray)'],
    ['an integer dtype', goodNpz({ 'b.npy': npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), }", f8(1)) }), 400, "b: dtype '<i8' is not little-endian float64 ('<f8') or float32 ('<f4')"],
    ['data shorter than the shape', goodNpz({ 'w.npy': npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", f8(1)) }), 400, 'w: the shape (2) of <f8 needs 16 bytes of data; the file has 8'],
    ['a shape that does not match the other tensors', goodNpz({ 'b.npy': npyOf([1, 2]) }), 422, 'b[0] has 2 entries; expected d = 1 entries, the length of w (b is K × d)'],
    ['a missing tensor', zip({ 'W.npy': npyOf([1, 1, 1]), 'b.npy': npyOf([1, 1]), 'w.npy': npyOf([1]) }), 422, 'the file has no tensor mu (a scalar, or 1 number)'],
    ['a tensor of neither layout', goodNpz({ 'extra.npy': npyOf([1]) }), 422, "extra is not a tensor of the course's layout (W, b, w, mu)"],
    ['a shape over MAX_MODEL_WEIGHTS', goodNpz({ 'W.npy': npy("{'descr': '<f8', 'fortran_order': False, 'shape': (100, 100, 100), }", f8(1)) }), 413, 'W: the shape (100, 100, 100) holds 1000000 numbers, more than a model within MAX_MODEL_WEIGHTS has'],
    ['a zip bomb: an entry that says it inflates to 1 GiB', zip({ 'W.npy': new Uint8Array(1 << 16) }, 1 << 30), 413, 'W.npy: 1073741824 bytes when inflated, more than any tensor within MAX_MODEL_WEIGHTS takes (42784)'],
    ['a zip bomb that understates its size: 50 MiB of zeros said to be 100 bytes', zip({ 'W.npy': new Uint8Array(50 << 20) }, 100), 400, 'W: not a .npy file (no \\x93NUMPY magic)'],
    ['not a zip at all', new Uint8Array(100).fill(7), 400, /^the body is not a readable \.npz \(zip\) archive/],
  ])('.npz with %s', async (_name, bytes, status, detail) => {
    const before = (await http.get('/models').expect(200)).body.models.length;
    const refused = await upload('/models/malformed', bytes, 'application/x-npz', { h: '0.1' }).expect(status).expect('content-type', problemType);
    if (typeof detail === 'string') expect(refused.body.detail).toBe(detail);
    else expect(refused.body.detail).toMatch(detail);
    expect((await http.get('/models').expect(200)).body.models).toHaveLength(before);
  });

  const entry = (shape: number[], offsets: [number, number]) => ({ dtype: 'F64', shape, data_offsets: offsets });
  it.each([
    ['a header length past the file', (() => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1000n); return b; })(), 400, 'the safetensors header: 1000 bytes overrun the file of 16'],
    ['overlapping offsets', safetensors({ W: entry([1, 1, 1], [0, 8]), b: entry([1, 1], [0, 8]), w: entry([1], [8, 16]), mu: entry([], [16, 24]) }, f8(1, 2, 3)), 400, /overlap another tensor's$/],
    ['offsets out of range', safetensors({ W: entry([1, 1, 1], [0, 8]), b: entry([1, 1], [8, 16]), w: entry([1], [16, 24]), mu: entry([], [24, 32]) }, f8(1, 2, 3)), 400, 'mu: data_offsets [24, 32] are out of the byte buffer of 24 bytes'],
    ['a hole in the buffer', safetensors({ W: entry([1, 1, 1], [0, 8]), b: entry([1, 1], [16, 24]), w: entry([1], [24, 32]), mu: entry([], [32, 40]) }, f8(1, 2, 3, 4, 5)), 400, 'b: the byte buffer has a hole before data_offsets [16, 24]'],
    ['a dtype other than F64 or F32', safetensors({ W: { dtype: 'BF16', shape: [1, 1, 1], data_offsets: [0, 2] } }, new Uint8Array(2)), 400, 'W: dtype "BF16" is not F64 or F32'],
    ['a state_dict whose output layer is too wide', safetensors({ 'layers.0.weight': entry([1, 1], [0, 8]), 'layers.0.bias': entry([1], [8, 16]), 'out.weight': entry([1, 2], [16, 32]), 'out.bias': entry([1], [32, 40]) }, f8(1, 2, 3, 4, 5)), 422, 'out.weight has shape [1, 2]; expected 1 × d = [1, 1] (nn.Linear(d, 1).weight)'],
    ['metadata that contradicts the query', safetensors({ __metadata__: { h: '0.2' }, W: entry([1, 1, 1], [0, 8]), b: entry([1, 1], [8, 16]), w: entry([1], [16, 24]), mu: entry([], [24, 32]) }, f8(1, 2, 3, 4)), 400, "?h=0.1 and the file's __metadata__ h = 0.2 differ; give it once"],
  ])('safetensors with %s', async (_name, bytes, status, detail) => {
    const refused = await upload('/models/malformed', bytes, 'application/x-safetensors', { h: '0.1' }).expect(status).expect('content-type', problemType);
    if (typeof detail === 'string') expect(refused.body.detail).toBe(detail);
    else expect(refused.body.detail).toMatch(detail);
    await http.get('/models/malformed').expect(404);
  });

  it('a JSON body with weight-file options in the query is refused, naming the option', async () => {
    const refused = await http.post('/models?h=0.1').send({ layers: 1, dim: 2, seed: 1 }).expect(400);
    expect(refused.body.detail).toBe('?h= is for a weight file (application/x-npz, application/x-safetensors); a JSON body gives h as a field');
  });

  it('a weight file without h is refused, saying where h goes', async () => {
    const refused = await upload('/models/no-h', file('course.npz'), 'application/x-npz').expect(400);
    expect(refused.body.detail).toBe('h is required: give it as ?h= (or, in a safetensors file, in __metadata__)');
  });
});

describe('mutated weight files', () => {
  it('never get a 5xx, and a refused upload stores nothing', async () => {
    const sources = ['course.npz', 'course-compressed.npz', 'course.safetensors', 'state-dict.safetensors'].map((name) => ({ name, bytes: file(name) }));
    const mutation = fc.record({
      source: fc.nat(sources.length - 1),
      edits: fc.array(fc.record({ at: fc.nat(), value: fc.nat(255) }), { minLength: 1, maxLength: 8 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(mutation, async ({ source, edits, cut }) => {
        const { name, bytes } = sources[source];
        const mutated = Buffer.from(bytes);
        for (const { at, value } of edits) mutated[at % mutated.length] = value;
        const body = cut === undefined ? mutated : mutated.subarray(0, cut % mutated.length);
        const response = await upload('/models/mutated', body, typeOf(name), name === 'course.safetensors' ? {} : { h: '0.1' });
        expect(response.status, `${name}: ${response.text}`).toBeLessThan(500);
        if (response.status >= 400) {
          expect(response.headers['content-type']).toMatch(problemType);
          await http.get('/models/mutated').expect(404);
        } else await http.delete('/models/mutated').expect(204);
      }),
      { numRuns: 300, seed: 2026 },
    );
  });
});
