/**
 * Named models and their versions over HTTP: PUT makes versions, reads take the latest or one,
 * compute requests pin a version or take the latest and say which, entity tags give 304 on reads
 * and 412 on writes that another came before, and the version cap holds.
 */
import { describe, expect, it } from 'vitest';
import { problemType, startApp } from '../helpers/app.js';
import { asBytes } from '../helpers/payloads.js';

const { http } = await startApp({ MAX_MODEL_VERSIONS: '3' });

const network = (mu: number) => ({ h: 0.1, W: [[[0.5, -0.25], [0.125, 0.75]]], b: [[0, 0.1]], w: [1, -0.5], mu });
const gradientOf = async (body: object) => (await http.post('/gradient').send(body).expect(200)).body;

describe('PUT /models/{id}', () => {
  it('creates version 1 (201), then each PUT makes the next version (200), with Location and ETag', async () => {
    const first = await http.put('/models/pendulum-T').send(network(0)).expect(201);
    expect(first.body).toMatchObject({ id: 'pendulum-T', name: 'pendulum-T', version: 1 });
    expect(first.headers.location).toBe('/models/pendulum-T/versions/1');
    expect(first.headers.etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    const second = await http.put('/models/pendulum-T').send(network(1)).expect(200);
    expect(second.body.version).toBe(2);
    expect(second.headers.location).toBe('/models/pendulum-T/versions/2');
    expect(second.headers.etag).not.toBe(first.headers.etag);

    const latest = await http.get('/models/pendulum-T').expect(200);
    expect(latest.body).toMatchObject({ version: 2, mu: 1 });
    expect(latest.headers.etag).toBe(second.headers.etag);
    const one = await http.get('/models/pendulum-T/versions/1').expect(200);
    expect(one.body).toMatchObject({ version: 1, mu: 0 });
    expect(one.headers.etag).toBe(first.headers.etag);
    const versions = await http.get('/models/pendulum-T/versions').expect(200);
    expect(versions.body.versions.map((v: { version: number }) => v.version)).toEqual([1, 2]);
    const listed = (await http.get('/models').expect(200)).body.models.filter((m: { id: string }) => m.id === 'pendulum-T');
    expect(listed).toMatchObject([{ version: 2 }]);
  });

  it('refuses a name that cannot be an id, and a model that does not fit', async () => {
    const bad = await http.put('/models/a%20b').send(network(0)).expect(400).expect('content-type', problemType);
    expect(bad.body.detail).toMatch(/^id must match pattern/);
    const misfit = await http.put('/models/misfit').send({ ...network(0), b: [[0, 0, 0]] }).expect(422);
    expect(misfit.body.type).toBe('/problems/invalid-model');
    await http.get('/models/misfit').expect(404);
  });
});

describe('compute requests and versions', () => {
  it('use the latest version unless modelVersion pins one, and every answer says which', async () => {
    await http.put('/models/versioned').send(network(0)).expect(201);
    await http.put('/models/versioned').send(network(10)).expect(200);
    const latest = await gradientOf({ modelId: 'versioned', points: [[0.5, -0.25]] });
    const pinned = await gradientOf({ modelId: 'versioned', modelVersion: 1, points: [[0.5, -0.25]] });
    expect(latest.modelVersion).toBe(2);
    expect(pinned.modelVersion).toBe(1);
    expect(latest.values[0] - pinned.values[0]).toBeCloseTo(10, 12);
    expect(latest.gradients).toEqual(pinned.gradients);
    const evaluated = await http.post('/evaluate').send({ modelId: 'versioned', modelVersion: 1, points: [[0.5, -0.25]] }).expect(200);
    expect(evaluated.body).toEqual({ modelId: 'versioned', modelVersion: 1, values: pinned.values });
    expect(evaluated.headers['model-version']).toBe('1');

    const points = Buffer.from(new Float64Array([0.5, -0.25]).buffer);
    const binary = await http
      .post('/evaluate?modelId=versioned&modelVersion=1')
      .set('content-type', 'application/octet-stream')
      .set('accept', 'application/octet-stream')
      .send(points)
      .buffer(true)
      .parse(asBytes as never)
      .expect(200);
    expect(binary.headers['model-version']).toBe('1');
    expect(new Float64Array(new Uint8Array(binary.body as Buffer).buffer)[0]).toBe(pinned.values[0]);
  });

  it('answer 404 for a version the model does not have, and 400 when the body and the query disagree', async () => {
    await http.put('/models/short').send(network(0)).expect(201);
    const missing = await http.post('/gradient').send({ modelId: 'short', modelVersion: 7, points: [[0, 0]] }).expect(404);
    expect(missing.body.detail).toBe("the model 'short' has no version 7");
    const twice = await http.post('/gradient?modelVersion=2').send({ modelId: 'short', modelVersion: 1, points: [[0, 0]] }).expect(400);
    expect(twice.body.detail).toBe("the body's modelVersion 1 and the query's ?modelVersion=2 name different versions; name the version once, in the body");
  });
});

describe('entity tags', () => {
  it('If-None-Match on a read gets 304 for the tag the client holds, 200 for another', async () => {
    const { headers } = await http.put('/models/cached').send(network(0)).expect(201);
    const unchanged = await http.get('/models/cached').set('if-none-match', headers.etag).expect(304);
    expect(unchanged.text).toBe('');
    expect(unchanged.headers.etag).toBe(headers.etag);
    await http.get('/models/cached').set('if-none-match', `W/${headers.etag}, "other"`).expect(304);
    await http.get('/models/cached/versions/1').set('if-none-match', headers.etag).expect(304);
    await http.get('/models/cached').set('if-none-match', '"other"').expect(200);
  });

  it('If-Match on PUT: the write of a client that read a replaced version gets 412 and changes nothing', async () => {
    const read = await http.put('/models/deployed').send(network(0)).expect(201);
    // Two deployers read version 1; the first writes with its tag, the second's tag is stale.
    const first = await http.put('/models/deployed').set('if-match', read.headers.etag).send(network(1)).expect(200);
    const second = await http.put('/models/deployed').set('if-match', read.headers.etag).send(network(2)).expect(412).expect('content-type', problemType);
    expect(second.body).toMatchObject({ type: '/problems/precondition-failed', status: 412 });
    expect(second.body.detail).toContain(first.headers.etag);
    const latest = await http.get('/models/deployed').expect(200);
    expect(latest.body).toMatchObject({ version: 2, mu: 1 });
    await http.put('/models/deployed').set('if-match', '*').send(network(3)).expect(200);
    await http.put('/models/nobody').set('if-match', '*').send(network(3)).expect(412);
    await http.get('/models/nobody').expect(404);
  });

  it('If-None-Match: * on PUT creates only a model that does not exist', async () => {
    await http.put('/models/once').set('if-none-match', '*').send(network(0)).expect(201);
    const again = await http.put('/models/once').set('if-none-match', '*').send(network(1)).expect(412);
    expect(again.body.detail).toBe("If-None-Match: *: the model 'once' exists (version 1)");
    expect((await http.get('/models/once/versions').expect(200)).body.versions).toHaveLength(1);
  });

  it('concurrent conditional PUTs with the same tag: exactly one wins', async () => {
    const read = await http.put('/models/raced').send(network(0)).expect(201);
    const statuses = await Promise.all(Array.from({ length: 6 }, (_, i) => http.put('/models/raced').set('if-match', read.headers.etag).send(network(i + 1)).then((r) => r.status)));
    expect(statuses.sort()).toEqual([200, 412, 412, 412, 412, 412]);
    expect((await http.get('/models/raced/versions').expect(200)).body.versions).toHaveLength(2);
  });

  it('If-Match on DELETE of a version and of a model', async () => {
    const v1 = await http.put('/models/pruned').send(network(0)).expect(201);
    const v2 = await http.put('/models/pruned').send(network(1)).expect(200);
    await http.delete('/models/pruned/versions/1').set('if-match', v2.headers.etag).expect(412);
    await http.delete('/models/pruned/versions/1').set('if-match', v1.headers.etag).expect(204);
    await http.get('/models/pruned/versions/1').expect(404);
    await http.delete('/models/pruned').set('if-match', v1.headers.etag).expect(412);
    await http.delete('/models/pruned').set('if-match', v2.headers.etag).expect(204);
    await http.get('/models/pruned').expect(404);
  });
});

describe('version numbers and the version cap', () => {
  it('never gives a deleted newest version number again, and holds MAX_MODEL_VERSIONS versions at most', async () => {
    for (let mu = 0; mu < 3; mu++) await http.put('/models/capped').send(network(mu)).expect(mu === 0 ? 201 : 200);
    const full = await http.put('/models/capped').send(network(3)).expect(409);
    expect(full.body.detail).toBe("the model 'capped' has its limit of 3 versions (MAX_MODEL_VERSIONS); delete one first");
    await http.delete('/models/capped/versions/3').expect(204);
    const next = await http.put('/models/capped').send(network(4)).expect(200);
    expect(next.body.version).toBe(4);
    expect((await http.get('/models/capped/versions').expect(200)).body.versions.map((v: { version: number }) => v.version)).toEqual([1, 2, 4]);
  });

  it('POST /models still makes a model of its own, at version 1', async () => {
    const created = await http.post('/models').send(network(0)).expect(201);
    expect(created.body.version).toBe(1);
    expect(created.headers.etag).toMatch(/^"/);
    expect((await gradientOf({ modelId: created.body.id, points: [[0, 0]] })).modelVersion).toBe(1);
  });
});
