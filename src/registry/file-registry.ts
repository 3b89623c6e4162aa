/**
 * The durable registry (REGISTRY_DIR): one file per model. A create writes a temporary file,
 * fsyncs it, renames it into place and fsyncs the folder before it resolves, so an acknowledged
 * model survives kill -9 and power loss; a failed create removes its temporary file, whatever
 * failed, and a full disk (ENOSPC, EDQUOT) is reported as such. A delete unlinks and fsyncs the
 * folder.
 *
 * At start-up the folder must be writable (a configuration error names REGISTRY_DIR otherwise),
 * and every model file loads. Only regular files of a size a model may have are read: anything
 * else named *.model (a FIFO, a symbolic link, a folder, a file too large) is skipped and logged,
 * as is a corrupt or partial file.
 */
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../config.js';
import { InsufficientStorageError } from '../errors.js';
import { modelBytes } from './documents.js';
import { decodeModelFile, encodeModelFile, MODEL_FILE_OVERHEAD } from './model-file.js';
import { mapReads, newRecord, RegistryRoom, type ModelRecord, type ModelRegistry, type RegistryOptions } from './registry.js';

const SUFFIX = '.model';
const TEMPORARY = '.tmp-';

export interface FileRegistryOptions extends RegistryOptions {
  readonly dir: string;
  /** The largest K·d² a model may have: files larger than such a model's are not read. */
  readonly maxModelWeights: number;
  /** Where skipped files are reported. */
  readonly warn: (details: Record<string, unknown>, message: string) => void;
}

/** Errors that mean the store has no room. */
const FULL = new Set(['ENOSPC', 'EDQUOT']);

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
  try {
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(contents);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, join(dir, name));
  } catch (error) {
    // Nothing of a failed create stays behind.
    await rm(temporary, { force: true }).catch(() => {});
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (FULL.has(code)) throw new InsufficientStorageError(`the registry's storage is full (${code}); nothing was stored`);
    throw error;
  }
  await syncFolder(dir);
}

/** Server-made ids are UUIDs and the demo's is a word; nothing else becomes a file name. */
const SAFE_ID = /^[A-Za-z0-9-]{1,100}$/;

/** Makes sure the folder exists and can be written, or throws a ConfigError naming REGISTRY_DIR. */
async function checkWritable(dir: string): Promise<void> {
  const probe = join(dir, `${TEMPORARY}probe-${randomUUID()}`);
  try {
    await mkdir(dir, { recursive: true });
    await (await open(probe, 'wx', 0o600)).close();
    await unlink(probe);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new ConfigError(`REGISTRY_DIR ${JSON.stringify(dir)} cannot be written (${code ?? message}); give the service a writable folder, or unset REGISTRY_DIR to keep models in memory`);
  }
}

export async function createFileRegistry({ dir, capacity, capacityBytes = Number.POSITIVE_INFINITY, maxModelWeights, warn }: FileRegistryOptions): Promise<ModelRegistry> {
  await checkWritable(dir);
  // A file holds a model's header and parameters: K·d² weights, and at most as many biases and output weights again.
  const largestFile = MODEL_FILE_OVERHEAD + 8 * (2 * maxModelWeights + 2);
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
      const stats = await lstat(path);
      if (!stats.isFile()) throw new Error('not a regular file');
      if (stats.size > largestFile) throw new Error(`${stats.size} bytes, more than a model within MAX_MODEL_WEIGHTS takes (${largestFile})`);
      const record = decodeModelFile(await readFile(path));
      if (`${record.id}${SUFFIX}` !== file) throw new Error(`holds model ${record.id}`);
      records.set(record.id, record);
    } catch (error) {
      warn({ file: path, reason: (error as Error).message }, 'skipped a model file that cannot be read');
    }
  }
  const byAge = [...records.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  records.clear();
  const room = new RegistryRoom(capacity, capacityBytes);
  for (const record of byAge) {
    records.set(record.id, record);
    room.count(modelBytes(record.model));
  }

  const deleting = new Set<string>();
  const reads = mapReads(records);
  return {
    ...reads,
    checkRoom: (bytes) => room.check(bytes),
    async add(entry) {
      const bytes = modelBytes(entry.model);
      room.take(bytes);
      try {
        const record = newRecord(entry);
        if (!SAFE_ID.test(record.id)) throw new Error(`unsafe model id ${JSON.stringify(record.id)}`);
        await writeDurably(dir, `${record.id}${SUFFIX}`, await encodeModelFile(record));
        records.set(record.id, record);
        reads.changed();
        return record;
      } catch (error) {
        room.give(bytes);
        throw error;
      }
    },
    async delete(id) {
      const record = records.get(id);
      if (record === undefined || deleting.has(id)) return false;
      deleting.add(id);
      try {
        await unlink(join(dir, `${id}${SUFFIX}`));
        await syncFolder(dir);
        records.delete(id);
        room.give(modelBytes(record.model));
        reads.changed();
        return true;
      } finally {
        deleting.delete(id);
      }
    },
  };
}
