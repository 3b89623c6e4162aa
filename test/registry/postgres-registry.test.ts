/**
 * What the PostgreSQL registry adds to the contract: replicas that hear each other, a bounded
 * cache, a database that goes away and comes back, and several replicas migrating at once.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createModel, randomParameters } from '../../src/kernels/index.js';
import { modelBytes } from '../../src/registry/documents.js';
import { createPostgresRegistry } from '../../src/registry/postgres-registry.js';
import type { ModelRegistry } from '../../src/registry/registry.js';
import { sameModel } from '../helpers/models.js';
import { havePostgres, startCluster, type Cluster } from '../helpers/postgres.js';

let cluster: Cluster;
beforeAll(async () => {
  if (havePostgres) cluster = await startCluster();
}, 60_000);
afterAll(() => cluster?.destroy());

const opened: ModelRegistry[] = [];
afterEach(async () => {
  for (const registry of opened.splice(0)) await registry.close();
});

const warnings: string[] = [];
async function replica(url: string, cacheBytes = 64 * 1024 * 1024): Promise<ModelRegistry> {
  const registry = await createPostgresRegistry({ url, capacity: 100, cacheBytes, connectTimeoutMs: 10_000, log: { info() {}, warn: (_, message) => warnings.push(message) } });
  opened.push(registry);
  return registry;
}

const seeded = (seed: number, dim = 3) => createModel(randomParameters({ layers: 2, dim, seed }));

/** Polls until `check` holds, for at most `ms`. */
async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('the condition did not come to hold in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function sql(url: string, text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}

describe.skipIf(!havePostgres)('the PostgreSQL registry', () => {
  it('makes the schema once when several replicas start at once', async () => {
    const url = await cluster.createDatabase();
    const replicas = await Promise.all(Array.from({ length: 5 }, () => replica(url)));
    expect(replicas).toHaveLength(5);
    expect(await sql(url, 'SELECT version FROM resnet_schema')).toEqual([{ version: 1 }]);
  });

  it('tells every replica of a new version, a deleted version and a deleted model', async () => {
    const url = await cluster.createDatabase();
    const [a, b] = [await replica(url), await replica(url)];
    await a.put('shared', { model: seeded(1) });
    expect(sameModel((await b.get('shared'))!.model, seeded(1))).toBe(true);
    expect(b.peek('shared')?.version).toBe(1);

    await a.put('shared', { model: seeded(2) });
    // b's cache held version 1 as the latest; the notice moves it on, and compute then reads version 2.
    await eventually(() => b.peek('shared')?.version !== 1);
    expect((await b.get('shared'))!.version).toBe(2);
    expect(b.peek('shared')?.version).toBe(2);

    await a.deleteVersion('shared', 2);
    await eventually(() => b.peek('shared')?.version === 1);
    await a.delete('shared');
    await eventually(() => b.peek('shared') === undefined && b.peek('shared', 1) === undefined);
    expect(await b.get('shared')).toBeUndefined();
  });

  it('holds MAX_MODELS across replicas creating at once', async () => {
    const url = await cluster.createDatabase();
    const open = () => createPostgresRegistry({ url, capacity: 3, cacheBytes: 1 << 20, log: { info() {}, warn() {} } }).then((r) => (opened.push(r), r));
    const [a, b] = [await open(), await open()];
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).add({ model: seeded(i) })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.name)).toEqual(Array(7).fill('RegistryFullError'));
    expect(await sql(url, 'SELECT count(*)::int AS models FROM resnet_models')).toEqual([{ models: 3 }]);
  });

  it('keeps at most MODEL_CACHE_BYTES decoded, and reads a larger model from the database each time', async () => {
    const url = await cluster.createDatabase();
    const bytes = modelBytes(seeded(1));
    const registry = await replica(url, 2 * bytes);
    for (const seed of [1, 2, 3]) await registry.put(`m${seed}`, { model: seeded(seed) });
    expect(registry.status()).toMatchObject({ cachedVersions: 2, cachedBytes: 2 * bytes });
    expect(registry.peek('m1')).toBeUndefined();
    expect(registry.peek('m3')).toBeDefined();
    expect(sameModel((await registry.get('m1'))!.model, seeded(1))).toBe(true);
    const large = await registry.put('large', { model: seeded(4, 8) });
    expect(registry.peek('large')).toBeUndefined();
    expect((await registry.get('large'))!.etag).toBe(large.record.etag);
    expect(registry.status().cachedBytes).toBeLessThanOrEqual(2 * bytes);
  });

  it('reads again what changed while its listening connection was away', async () => {
    const url = await cluster.createDatabase();
    const registry = await replica(url);
    await registry.put('stale', { model: seeded(1) });
    await registry.put('kept', { model: seeded(2) });
    // A change no notice tells of (one lost while the connection was down), then the connection drops.
    await sql(url, "DELETE FROM resnet_models WHERE id = 'stale'");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(registry.peek('stale')).toBeDefined();
    const ended = await sql(url, "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()");
    expect(ended).toEqual([{ ended: true }]);
    await eventually(() => registry.peek('stale') === undefined);
    expect(registry.peek('kept')).toBeDefined();
    // Reachable again once the whole state has been read again.
    await eventually(() => registry.status().reachable);
    expect(warnings.some((message) => /lost the connection that hears other replicas/.test(message))).toBe(true);
  });

  it('serves cached models while the database is down, refuses writes and uncached reads, and recovers by itself', async () => {
    const url = await cluster.createDatabase();
    const registry = await replica(url);
    const cached = await registry.put('cached', { model: seeded(1) });
    await registry.put('evicted', { model: seeded(2) });
    await registry.close();
    opened.splice(opened.indexOf(registry), 1);
    const fresh = await replica(url);
    await fresh.get('cached');
    cluster.stop();
    try {
      await eventually(() => !fresh.status().reachable);
      expect(fresh.peek('cached')?.etag).toBe(cached.record.etag);
      expect((await fresh.get('cached'))!.etag).toBe(cached.record.etag);
      await expect(fresh.get('evicted')).rejects.toMatchObject({ name: 'RegistryUnavailableError', retryAfter: 2 });
      await expect(fresh.put('new', { model: seeded(3) })).rejects.toThrow(/database cannot be reached.*nothing was changed/);
      await expect(fresh.delete('cached')).rejects.toHaveProperty('name', 'RegistryUnavailableError');
      expect(await fresh.count()).toBe(2);
    } finally {
      cluster.start();
    }
    await eventually(() => fresh.status().reachable, 15_000);
    expect((await fresh.put('new', { model: seeded(3) })).record.version).toBe(1);
    expect((await fresh.get('evicted'))!.version).toBe(1);
    expect(await fresh.count()).toBe(3);
  }, 30_000);

  it('names REGISTRY_URL, without its password, when the database never answers', async () => {
    const started = Date.now();
    await expect(
      createPostgresRegistry({ url: 'postgres://someone:hunter2@127.0.0.1:1/none', capacity: 1, cacheBytes: 0, connectTimeoutMs: 500, log: { info() {}, warn() {} } }),
    ).rejects.toThrow(/^REGISTRY_URL: cannot reach the database at postgres:\/\/someone@127\.0\.0\.1:1\/none \(ECONNREFUSED\)$/);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
