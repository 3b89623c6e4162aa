/**
 * JSON bodies, small and large: a body of up to 16 KiB is parsed whole, a larger one is read as
 * it arrives. The same batch, sent either way, gets the same answer, text for text; the same bad
 * body gets the same status and kind of problem, and the same detail, except where streaming
 * refuses earlier and so knows less (the first point past MAX_POINTS, not how many there were) or
 * a syntax error is described in its own words.
 */
import { describe, expect, it } from 'vitest';
import { SMALL_BODY_BYTES } from '../../src/codecs/json/document.js';
import { normalGenerator } from '../../src/kernels/index.js';
import { startApp } from '../helpers/app.js';

const onMain = await startApp({ WORKERS: '0', MAX_POINTS: '20000' });
const onPool = await startApp({ WORKERS: '2', WORKER_MIN_FLOPS: '0', MAX_POINTS: '20000' });

/** n two-coordinate points for the demo model, as JSON text written as a client might. */
function pointsText(n: number, seed: number): string {
  const normal = normalGenerator(seed);
  const rows = Array.from({ length: n }, (_, p) => {
    const x = normal();
    // A few numbers in other spellings than V8's: exponents, trailing zeros, integers, 20 digits.
    if (p % 97 === 0) return `[${x.toExponential(12)},1.2500E+2]`;
    if (p % 89 === 0) return `[${x.toFixed(4)}0000,-3]`;
    if (p % 83 === 0) return `[0.12345678901234567890,${x}]`;
    return `[${x},${normal() * 1e-3}]`;
  });
  return `[${rows.join(',')}]`;
}

/** Whitespace JSON allows, enough to take a short body past the streaming threshold. */
const padding = ' '.repeat(SMALL_BODY_BYTES);

const post = (app: typeof onMain, route: string, text: string) => app.http.post(route).set('content-type', 'application/json').send(text);

describe('a large JSON batch, streamed', () => {
  it.each([
    ['/gradient', onMain],
    ['/evaluate', onMain],
    ['/gradient', onPool],
  ])('%s answers as for the same batch parsed whole (%#)', async (route, app) => {
    const points = pointsText(300, 4);
    expect(points.length).toBeLessThan(SMALL_BODY_BYTES);
    const whole = await post(app, route, `{"modelId":"demo","points":${points}}`).expect(200);
    const streamed = await post(app, route, `{"modelId":"demo","points":${points}}${padding}`).expect(200);
    expect(streamed.text === whole.text).toBe(true);
    expect(whole.body.values).toHaveLength(300);
    const large = pointsText(9_000, 5);
    const answer = await post(app, route, `{"modelId":"demo","points":${large}}`).expect(200);
    expect(answer.body.values).toHaveLength(9_000);
  });

  it.each([
    ['an unknown member', '{"modelId":"demo","points":[[1,2]],"extra":1}'],
    ['no points', '{"modelId":"demo"}'],
    ['no modelId', '{"points":[[1,2]]}'],
    ['an empty modelId', '{"modelId":"","points":[[1,2]]}'],
    ['a modelId over 100 characters', `{"modelId":"${'m'.repeat(101)}","points":[[1,2]]}`],
    ['a modelId of another type', '{"modelId":7,"points":[[1,2]]}'],
    ['an unknown model', '{"modelId":"nope","points":[[1,2]]}'],
    ['no points in the array', '{"modelId":"demo","points":[]}'],
    ['an empty point', '{"modelId":"demo","points":[[]]}'],
    ['a ragged batch', '{"modelId":"demo","points":[[1,2],[1,2],[3]]}'],
    ['points of the wrong width throughout', '{"modelId":"demo","points":[[1,2,3],[4,5,6]]}'],
    ['a string for a coordinate', '{"modelId":"demo","points":[[1,"2"]]}'],
    ['a coordinate too large for a double', '{"modelId":"demo","points":[[1,1e400]]}'],
    ['a point that is not an array', '{"modelId":"demo","points":[[1,2],3]}'],
  ])('with %s: the same problem as when parsed whole', async (_name, text) => {
    const whole = await post(onMain, '/gradient', text);
    const streamed = await post(onMain, '/gradient', `${text}${padding}`);
    expect(whole.status).toBeGreaterThanOrEqual(400);
    expect([streamed.status, streamed.body.type, streamed.body.detail]).toEqual([whole.status, whole.body.type, whole.body.detail]);
  });

  it.each([
    ['a syntax error', '{"modelId":"demo","points":[[1,2]],}'],
    ['a leading zero', '{"modelId":"demo","points":[[01,2]]}'],
  ])('with %s: the same kind of problem, in its own words', async (_name, text) => {
    const whole = await post(onMain, '/gradient', text);
    const streamed = await post(onMain, '/gradient', `${text}${padding}`);
    expect([streamed.status, streamed.body.type]).toEqual([whole.status, whole.body.type]);
    expect([whole.body.detail, streamed.body.detail]).toEqual([expect.stringMatching(/^the body is not valid JSON/), expect.stringMatching(/^the body is not valid JSON/)]);
  });

  it('with more points than MAX_POINTS: 413 either way, streamed at the first point past it', async () => {
    const text = `{"modelId":"demo","points":[${Array(20_001).fill('[1,2]').join(',')}]}`;
    const streamed = await post(onMain, '/gradient', text).expect(413);
    expect(streamed.body.detail).toBe('points has more than 20000 points, the limit (MAX_POINTS)');
    const whole = await post(onMain, '/gradient', `{"modelId":"demo","points":[${Array(2_001).fill('[1,2]').join(',')}]}`);
    expect(whole.status).toBe(200);
  });

  it('still validates the querystring of a body it streams', async () => {
    const text = `{"modelId":"demo","points":${pointsText(9_000, 5)}}`;
    const response = await onMain.http.post('/gradient?colour=blue').set('content-type', 'application/json').send(text).expect(400);
    expect(response.body.detail).toMatch(/querystring has an unknown property 'colour'/);
  });
});
