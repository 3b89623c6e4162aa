import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileRegistry } from '../../src/registry/file-registry.js';
import { createModel, randomParameters } from '../../src/kernels/index.js';
import { awkwardModel, sameModel } from '../helpers/models.js';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'registry-test-'));
  folders.push(dir);
  return dir;
}

async function open(dir: string, capacity = 100) {
  const warnings: { details: Record<string, unknown>; message: string }[] = [];
  const registry = await createFileRegistry({ dir, capacity, maxModelWeights: 4_194_304, warn: (details, message) => warnings.push({ details, message }) });
  return { registry, warnings };
}

describe('the file registry', () => {
  it('reloads every model with the same id, name, time and bit-identical parameters', async () => {
    const dir = folder();
    const { registry } = await open(dir);
    const first = await registry.add({ model: awkwardModel(), name: 'awkward' });
    const second = await registry.add({ model: createModel(randomParameters({ layers: 5, dim: 7, seed: 3 })), id: 'demo' });
    const { registry: reopened, warnings } = await open(dir);
    expect(warnings).toEqual([]);
    const loaded = await reopened.list();
    expect(loaded.map((r) => [r.id, r.name, r.createdAt])).toEqual([first, second].map((r) => [r.id, r.name, r.createdAt]));
    expect(sameModel((await reopened.get(first.id))!.model, first.model)).toBe(true);
    expect(sameModel((await reopened.get(second.id))!.model, second.model)).toBe(true);
  });

  it('keeps one file per model and removes it on delete', async () => {
    const dir = folder();
    const { registry } = await open(dir);
    const kept = await registry.add({ model: awkwardModel() });
    const removed = await registry.add({ model: awkwardModel() });
    expect(readdirSync(dir).sort()).toEqual([`${kept.id}@1.model`, `${removed.id}@1.model`].sort());
    expect(await registry.delete(removed.id)).toBe(true);
    expect(await registry.delete(removed.id)).toBe(false);
    expect(readdirSync(dir)).toEqual([`${kept.id}@1.model`]);
    const { registry: reopened } = await open(dir);
    expect((await reopened.list()).map((r) => r.id)).toEqual([kept.id]);
  });

  it.each([
    ['a truncated (partial) file', (bytes: Buffer) => bytes.subarray(0, bytes.length - 9)],
    ['a flipped bit', (bytes: Buffer) => Buffer.concat([bytes.subarray(0, 100), Buffer.from([bytes[100] ^ 1]), bytes.subarray(101)])],
    ['an empty file', () => Buffer.alloc(0)],
    ['text that is not a model', () => Buffer.from('hello')],
  ])('logs and skips %s, and loads the rest', async (_name, damage) => {
    const dir = folder();
    const { registry } = await open(dir);
    const good = await registry.add({ model: awkwardModel() });
    const bad = await registry.add({ model: awkwardModel() });
    const path = join(dir, `${bad.id}@1.model`);
    writeFileSync(path, damage(readFileSync(path)));
    const { registry: reopened, warnings } = await open(dir);
    expect((await reopened.list()).map((r) => r.id)).toEqual([good.id]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].details.file).toBe(path);
    expect(warnings[0].message).toBe('skipped a model file that cannot be read');
  });

  it('skips a file whose name does not match the model inside', async () => {
    const dir = folder();
    const { registry } = await open(dir);
    const record = await registry.add({ model: awkwardModel() });
    writeFileSync(join(dir, 'other.model'), readFileSync(join(dir, `${record.id}@1.model`)));
    const { registry: reopened, warnings } = await open(dir);
    expect((await reopened.list()).map((r) => r.id)).toEqual([record.id]);
    expect(warnings[0].details.reason).toBe(`holds model ${record.id} version 1`);
  });

  it("keeps every version of a named model, and never gives a deleted newest version's number again, across reopening", async () => {
    const dir = folder();
    const { registry } = await open(dir);
    const v1 = (await registry.put('pendulum-T', { model: awkwardModel() })).record;
    const v2 = (await registry.put('pendulum-T', { model: createModel(randomParameters({ layers: 2, dim: 3, seed: 1 })) })).record;
    const v3 = (await registry.put('pendulum-T', { model: createModel(randomParameters({ layers: 2, dim: 3, seed: 2 })) })).record;
    expect([v1.version, v2.version, v3.version]).toEqual([1, 2, 3]);
    expect(new Set([v1.etag, v2.etag, v3.etag]).size).toBe(3);
    expect(await registry.deleteVersion('pendulum-T', 3)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['pendulum-T@1.model', 'pendulum-T@2.model', 'pendulum-T@3.gone']);

    const { registry: reopened, warnings } = await open(dir);
    expect(warnings).toEqual([]);
    const versions = (await reopened.versions('pendulum-T'))!;
    expect(versions.map((r) => [r.version, r.etag, r.createdAt])).toEqual([v1, v2].map((r) => [r.version, r.etag, r.createdAt]));
    expect(sameModel((await reopened.get('pendulum-T', 1))!.model, v1.model)).toBe(true);
    expect((await reopened.get('pendulum-T'))!.version).toBe(2);
    expect((await reopened.put('pendulum-T', { model: awkwardModel() })).record.version).toBe(4);
    expect(await reopened.delete('pendulum-T')).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('loads a model file written before versions (<id>.model) as version 1', async () => {
    const dir = folder();
    const { registry } = await open(dir);
    const record = await registry.add({ model: awkwardModel(), name: 'old' });
    const file = readFileSync(join(dir, `${record.id}@1.model`));
    rmSync(join(dir, `${record.id}@1.model`));
    writeFileSync(join(dir, `${record.id}.model`), file);
    const { registry: reopened, warnings } = await open(dir);
    expect(warnings).toEqual([]);
    expect((await reopened.get(record.id))!.version).toBe(1);
    expect(await reopened.delete(record.id)).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('discards a temporary file left by a create that never finished', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'abc.model.tmp-123'), 'half written');
    const { registry } = await open(dir);
    expect(await registry.count()).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('holds at most its capacity, counting creates still being written', async () => {
    const { registry } = await open(folder(), 3);
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => registry.add({ model: awkwardModel() })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.name)).toEqual([
      'RegistryFullError',
      'RegistryFullError',
    ]);
  });
});
