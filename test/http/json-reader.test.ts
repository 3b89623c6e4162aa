/**
 * Large JSON batches for /evaluate and /gradient are read by the kernels' points reader instead of
 * JSON.parse. Over HTTP: the same answers, text for text, as the same batch read by JSON.parse (a
 * body the reader leaves alone: an escape in the modelId), and, for bodies it reads or refuses,
 * the same errors as the same body short enough to go straight to JSON.parse.
 */
import { describe, expect, it, vi } from 'vitest';
import { normalGenerator, readPointsJson } from '../../src/kernels/index.js';
import { READER_MIN_BYTES } from '../../src/http/plugins/body-parsers.js';
import { startApp } from '../helpers/app.js';

// The reader, watched: the answers must come from it, not from JSON.parse behind it.
vi.mock('../../src/kernels/index.js', async (original) => {
  const kernels = await original<typeof import('../../src/kernels/index.js')>();
  return { ...kernels, readPointsJson: vi.fn(kernels.readPointsJson) };
});
const reads = () => vi.mocked(readPointsJson).mock.results.map((result) => result.value !== null);

const onMain = await startApp({ WORKERS: '0', MAX_POINTS: '20000' });
const onPool = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0', MAX_POINTS: '20000' });

/** n two-coordinate points for the demo model, as JSON text written as a client might. */
function pointsText(n: number, seed: number): string {
  const normal = normalGenerator(seed);
  const rows = Array.from({ length: n }, (_, p) => {
    const x = normal();
    // A few numbers in other spellings than V8's: exponents, trailing zeros, integers.
    return p % 97 === 0 ? `[${x.toExponential(12)},1.2500E+2]` : p % 89 === 0 ? `[${x.toFixed(4)}0000,-3]` : `[${x},${normal() * 1e-3}]`;
  });
  return `[${rows.join(',')}]`;
}

/** Whitespace JSON allows, enough to take a short body past the reader's threshold. */
const padding = ' '.repeat(READER_MIN_BYTES);

function post(app: typeof onMain, route: string, text: string, query = '') {
  return app.http.post(`${route}${query}`).set('content-type', 'application/json').send(text);
}

describe('a large JSON batch, read without JSON.parse', () => {
  it.each([
    ['/gradient', onMain],
    ['/evaluate', onMain],
    ['/gradient', onPool],
  ])('%s answers as for the same batch read by JSON.parse (%#)', async (route, app) => {
    const points = pointsText(9_000, 4);
    expect(points.length).toBeGreaterThan(READER_MIN_BYTES);
    vi.mocked(readPointsJson).mockClear();
    const read = await post(app, route, `{"modelId":"demo","points":${points}}`).expect(200);
    // An escape in the modelId: the reader leaves the body to JSON.parse.
    const parsed = await post(app, route, `{"modelId":"d\\u0065mo","points":${points}}`).expect(200);
    expect(reads()).toEqual([true, false]);
    expect(read.text === parsed.text).toBe(true);
    expect(read.body.values).toHaveLength(9_000);
  });

  it.each([
    ['an unknown member', false, '{"modelId":"demo","points":[[1,2]],"extra":1}'],
    ['no points', false, '{"modelId":"demo"}'],
    ['no modelId', false, '{"points":[[1,2]]}'],
    ['an empty modelId', true, '{"modelId":"","points":[[1,2]]}'],
    ['a modelId over 100 characters', true, `{"modelId":"${'m'.repeat(101)}","points":[[1,2]]}`],
    ['a modelId of another type', false, '{"modelId":7,"points":[[1,2]]}'],
    ['an unknown model', true, '{"modelId":"nope","points":[[1,2]]}'],
    ['no points in the array', false, '{"modelId":"demo","points":[]}'],
    ['an empty point', false, '{"modelId":"demo","points":[[]]}'],
    ['a ragged batch', false, '{"modelId":"demo","points":[[1,2],[1,2],[3]]}'],
    ['points of the wrong width throughout', true, '{"modelId":"demo","points":[[1,2,3],[4,5,6]]}'],
    ['a string for a coordinate', false, '{"modelId":"demo","points":[[1,"2"]]}'],
    ['a coordinate too large for a double', false, '{"modelId":"demo","points":[[1,1e400]]}'],
    ['a syntax error', false, '{"modelId":"demo","points":[[1,2]],}'],
    ['a leading zero', false, '{"modelId":"demo","points":[[01,2]]}'],
    ['more points than MAX_POINTS', true, `{"modelId":"demo","points":[${Array(20_001).fill('[1,2]').join(',')}]}`],
  ])('with %s (read by the reader: %s): the same error as when JSON.parse reads it', async (_name, read, text) => {
    const short = await post(onMain, '/gradient', text);
    vi.mocked(readPointsJson).mockClear();
    const long = await post(onMain, '/gradient', `${text}${padding}`);
    expect(reads()).toEqual([read]);
    expect(short.status).toBeGreaterThanOrEqual(400);
    expect([long.status, long.body.type, long.body.detail]).toEqual([short.status, short.body.type, short.body.detail]);
  });

  it('still validates the querystring of a body it reads', async () => {
    const text = `{"modelId":"demo","points":${pointsText(9_000, 5)}}`;
    vi.mocked(readPointsJson).mockClear();
    const response = await post(onMain, '/gradient', text, '?colour=blue').expect(400);
    expect(reads()).toEqual([true]);
    expect(response.body.detail).toMatch(/querystring has an unknown property 'colour'/);
  });
});
