/**
 * The durable registry (REGISTRY_DIR): one file per model. A create writes a temporary file,
 * fsyncs it, renames it into place and fsyncs the folder before it resolves, so an acknowledged
 * model survives kill -9 and power loss; a delete unlinks and fsyncs the folder. At start-up every
 * model file loads; a corrupt or partial one is logged and skipped.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryFullError } from '../errors.js';
import { decodeModelFile, encodeModelFile } from './model-file.js';
import { mapReads, newRecord, type ModelRecord, type ModelRegistry, type RegistryOptions } from './registry.js';

const SUFFIX = '.model';
const TEMPORARY = '.tmp-';

export interface FileRegistryOptions extends RegistryOptions {
  readonly dir: string;
  /** Where skipped files are reported. */
  readonly warn: (details: Record<string, unknown>, message: string) => void;
}

async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeDurably(dir: string, name: string, contents: Buffer): Promise<void> {
  const temporary = join(dir, `${name}${TEMPORARY}${randomUUID()}`);
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, join(dir, name));
  await syncFolder(dir);
}

/** Server-made ids are UUIDs and the demo's is a word; nothing else becomes a file name. */
const SAFE_ID = /^[A-Za-z0-9-]{1,100}$/;

export async function createFileRegistry({ dir, capacity, warn }: FileRegistryOptions): Promise<ModelRegistry> {
  await mkdir(dir, { recursive: true });
  const records = new Map<string, ModelRecord>();
  for (const file of (await readdir(dir)).sort()) {
    const path = join(dir, file);
    if (file.includes(TEMPORARY)) {
      // A create that crashed before its rename: never acknowledged, so it is discarded.
      await rm(path, { force: true });
      continue;
    }
    if (!file.endsWith(SUFFIX)) continue;
    try {
      const record = decodeModelFile(await readFile(path));
      if (`${record.id}${SUFFIX}` !== file) throw new Error(`holds model ${record.id}`);
      records.set(record.id, record);
    } catch (error) {
      warn({ file: path, reason: (error as Error).message }, 'skipped a model file that cannot be read');
    }
  }
  const byAge = [...records.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  records.clear();
  for (const record of byAge) records.set(record.id, record);

  let pending = 0;
  const deleting = new Set<string>();
  const reads = mapReads(records);
  return {
    ...reads,
    async add(entry) {
      if (records.size + pending >= capacity) throw new RegistryFullError(capacity);
      const record = newRecord(entry);
      if (!SAFE_ID.test(record.id)) throw new Error(`unsafe model id ${JSON.stringify(record.id)}`);
      pending++;
      try {
        await writeDurably(dir, `${record.id}${SUFFIX}`, encodeModelFile(record));
      } finally {
        pending--;
      }
      records.set(record.id, record);
      reads.changed();
      return record;
    },
    async delete(id) {
      if (!records.has(id) || deleting.has(id)) return false;
      deleting.add(id);
      try {
        await unlink(join(dir, `${id}${SUFFIX}`));
        await syncFolder(dir);
        records.delete(id);
        reads.changed();
        return true;
      } finally {
        deleting.delete(id);
      }
    },
  };
}
