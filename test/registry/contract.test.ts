/**
 * The ModelRegistry contract, one suite run against every store: in memory, one file per model
 * (REGISTRY_DIR), and PostgreSQL (REGISTRY_URL, on a throwaway cluster).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createModel, randomParameters, type ResNetModel } from '../../src/kernels/index.js';
import { createFileRegistry } from '../../src/registry/file-registry.js';
import { createPostgresRegistry } from '../../src/registry/postgres-registry.js';
import { createMemoryRegistry, type ModelRegistry, type RegistryOptions } from '../../src/registry/registry.js';
import { modelBytes } from '../../src/registry/documents.js';
import { awkwardModel, sameModel } from '../helpers/models.js';
import { havePostgres, startCluster, type Cluster } from '../helpers/postgres.js';

/** Opens a registry on a new, empty store; `reopen` opens another on the same store (a restart, or a second replica). */
interface Store {
  readonly registry: ModelRegistry;
  readonly reopen?: () => Promise<ModelRegistry>;
}

let cluster: Cluster | undefined;
beforeAll(async () => {
  if (havePostgres) cluster = await startCluster();
}, 60_000);
afterAll(() => cluster?.destroy());

const opened: ModelRegistry[] = [];
const folders: string[] = [];
afterEach(async () => {
  for (const registry of opened.splice(0)) await registry.close();
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});
const track = (registry: ModelRegistry) => (opened.push(registry), registry);

const silent = { info() {}, warn() {} };

const stores: [string, boolean, (options: RegistryOptions) => Promise<Store>][] = [
  ['memory', true, async (options) => ({ registry: track(createMemoryRegistry(options)) })],
  [
    'files',
    true,
    async (options) => {
      const dir = mkdtempSync(join(tmpdir(), 'registry-contract-'));
      folders.push(dir);
      const open = async () => track(await createFileRegistry({ ...options, dir, maxModelWeights: 4_194_304, warn: () => {} }));
      return { registry: await open(), reopen: open };
    },
  ],
  [
    'postgres',
    havePostgres,
    async (options) => {
      const url = await cluster!.createDatabase();
      const open = async () => track(await createPostgresRegistry({ ...options, url, cacheBytes: 64 * 1024 * 1024, log: silent }));
      return { registry: await open(), reopen: open };
    },
  ],
];

const seeded = (seed: number, dim = 3, inputDim?: number): ResNetModel => createModel({ ...randomParameters({ layers: 2, dim, seed }), ...(inputDim ? { inputDim } : {}) });

const errorName = (result: PromiseSettledResult<unknown>) => (result.status === 'rejected' ? (result.reason as Error).name : 'fulfilled');

describe.each(stores)('the %s registry', (store, available, open) => {
  describe.skipIf(!available)(store, () => {
    it('gives a new model version 1 under a new id, and returns it bit for bit', async () => {
      const { registry } = await open({ capacity: 10 });
      const record = await registry.add({ model: awkwardModel(), name: 'awkward' });
      expect(record).toMatchObject({ name: 'awkward', version: 1 });
      expect(record.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(record.etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
      const read = (await registry.get(record.id))!;
      expect([read.id, read.version, read.etag, read.createdAt, read.name]).toEqual([record.id, 1, record.etag, record.createdAt, 'awkward']);
      expect(sameModel(read.model, record.model)).toBe(true);
      expect(registry.peek(record.id)?.etag).toBe(record.etag);
      expect(await registry.get('no-such-model')).toBeUndefined();
      expect(registry.status().store).toBe(store);
      expect(registry.status().reachable).toBe(true);
    });

    it('numbers the versions of a name 1, 2, 3, lists them oldest first, and reads any of them', async () => {
      const { registry } = await open({ capacity: 10 });
      const first = await registry.put('pendulum-T', { model: seeded(1) });
      const second = await registry.put('pendulum-T', { model: seeded(2, 4, 2) });
      expect([first.created, first.record.version, second.created, second.record.version]).toEqual([true, 1, false, 2]);
      expect((await registry.get('pendulum-T'))!.version).toBe(2);
      expect(sameModel((await registry.get('pendulum-T', 1))!.model, seeded(1))).toBe(true);
      expect(await registry.get('pendulum-T', 3)).toBeUndefined();
      const versions = (await registry.versions('pendulum-T'))!;
      expect(versions.map((v) => [v.version, v.etag, v.model.dim, v.model.inputDim, v.name])).toEqual([
        [1, first.record.etag, 3, 3, 'pendulum-T'],
        [2, second.record.etag, 4, 2, 'pendulum-T'],
      ]);
      expect(await registry.versions('nothing')).toBeUndefined();
      expect(registry.widestInput()).toBeGreaterThanOrEqual(3);
    });

    it('checks If-Match and If-None-Match against the latest version, and changes nothing when they fail', async () => {
      const { registry } = await open({ capacity: 10 });
      const { record } = await registry.put('m', { model: seeded(1) });
      await expect(registry.put('m', { model: seeded(2) }, { ifMatch: ['"stale"'] })).rejects.toThrow(/If-Match/);
      await expect(registry.put('m', { model: seeded(2) }, { ifNoneMatch: '*' })).rejects.toThrow(/If-None-Match/);
      await expect(registry.put('absent', { model: seeded(2) }, { ifMatch: '*' })).rejects.toThrow(/no model 'absent'/);
      await expect(registry.delete('m', { ifMatch: ['"stale"'] })).rejects.toHaveProperty('name', 'PreconditionFailedError');
      expect((await registry.versions('m'))!.map((v) => v.version)).toEqual([1]);
      expect(await registry.get('absent')).toBeUndefined();
      expect((await registry.put('m', { model: seeded(2) }, { ifMatch: [record.etag] })).record.version).toBe(2);
      expect((await registry.put('fresh', { model: seeded(3) }, { ifNoneMatch: '*' })).created).toBe(true);
    });

    it('never gives a deleted version number again while the model exists, and forgets a deleted model', async () => {
      const { registry } = await open({ capacity: 10 });
      for (const seed of [1, 2, 3]) await registry.put('m', { model: seeded(seed) });
      expect(await registry.deleteVersion('m', 3)).toBe(true);
      expect(await registry.deleteVersion('m', 3)).toBe(false);
      expect((await registry.get('m'))!.version).toBe(2);
      expect((await registry.put('m', { model: seeded(4) })).record.version).toBe(4);
      expect(await registry.deleteVersion('m', 1, { ifMatch: ['"other"'] }).catch((e: Error) => e.name)).toBe('PreconditionFailedError');
      expect(await registry.delete('m')).toBe(true);
      expect(await registry.delete('m')).toBe(false);
      expect(await registry.get('m')).toBeUndefined();
      expect(registry.peek('m')).toBeUndefined();
      // A new model under the old name starts again at 1.
      expect((await registry.put('m', { model: seeded(5) })).record).toMatchObject({ version: 1 });
      // Deleting the only version deletes the model.
      expect(await registry.deleteVersion('m', 1)).toBe(true);
      expect(await registry.versions('m')).toBeUndefined();
      expect(await registry.count()).toBe(0);
    });

    it('lists the latest version of each model, the oldest model first, and counts models, not versions', async () => {
      const { registry } = await open({ capacity: 10 });
      await registry.put('a', { model: seeded(1) });
      await registry.put('b', { model: seeded(2) });
      await registry.put('a', { model: seeded(3) });
      expect((await registry.list()).map((r) => [r.id, r.version])).toEqual([
        ['a', 2],
        ['b', 1],
      ]);
      expect(await registry.count()).toBe(2);
    });

    it('holds MAX_MODELS, MAX_MODEL_VERSIONS and MAX_REGISTRY_BYTES', async () => {
      const bytes = modelBytes(seeded(1));
      const { registry } = await open({ capacity: 2, maxVersions: 2, capacityBytes: 4 * bytes });
      await registry.put('a', { model: seeded(1) });
      await registry.put('b', { model: seeded(2) });
      await expect(registry.put('c', { model: seeded(3) })).rejects.toThrow(/MAX_MODELS/);
      await registry.put('a', { model: seeded(4) });
      await expect(registry.put('a', { model: seeded(5) })).rejects.toThrow(/MAX_MODEL_VERSIONS/);
      await registry.put('b', { model: seeded(6) });
      await expect(registry.deleteVersion('a', 1)).resolves.toBe(true);
      await expect(registry.put('a', { model: seeded(7, 4) })).rejects.toThrow(/MAX_REGISTRY_BYTES/);
      expect(() => registry.checkRoom(1, 'nothing')).toThrow(/MAX_MODELS/);
      expect(await registry.count()).toBe(2);
    });

    it('gives concurrent writes to one name consecutive versions, and one winner among writers with the same If-Match', async () => {
      const { registry } = await open({ capacity: 10 });
      const written = await Promise.all(Array.from({ length: 8 }, (_, i) => registry.put('busy', { model: seeded(i) })));
      expect(written.map((w) => w.record.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(written.filter((w) => w.created)).toHaveLength(1);
      const { etag } = (await registry.get('busy'))!;
      const raced = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => registry.put('busy', { model: seeded(10 + i) }, { ifMatch: [etag] })));
      expect(raced.map(errorName).sort()).toEqual(['PreconditionFailedError', 'PreconditionFailedError', 'PreconditionFailedError', 'PreconditionFailedError', 'fulfilled']);
      expect((await registry.get('busy'))!.version).toBe(9);
    });

    it('admits no more than MAX_MODELS under concurrent creates', async () => {
      const { registry } = await open({ capacity: 3 });
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => registry.add({ model: seeded(i) })));
      expect(results.map(errorName).filter((name) => name === 'fulfilled')).toHaveLength(3);
      expect(results.map(errorName).filter((name) => name === 'RegistryFullError')).toHaveLength(5);
      expect(await registry.count()).toBe(3);
    });

    // The in-memory store keeps nothing across a reopening: this holds for the durable ones.
    if (store !== 'memory')
    it('keeps every version across a reopening, bit for bit', async () => {
      const { registry, reopen } = await open({ capacity: 10 });
      if (reopen === undefined) throw new Error(`the ${store} store cannot be reopened`);
      const one = await registry.put('kept', { model: awkwardModel() });
      const two = await registry.put('kept', { model: seeded(2) });
      await registry.deleteVersion('kept', 2);
      const again = await reopen();
      const read = (await again.get('kept', 1))!;
      expect([read.etag, read.createdAt]).toEqual([one.record.etag, one.record.createdAt]);
      expect(sameModel(read.model, awkwardModel())).toBe(true);
      expect(await again.get('kept', 2)).toBeUndefined();
      expect((await again.put('kept', { model: seeded(3) })).record.version).toBe(two.record.version + 1);
    });
  });
});
