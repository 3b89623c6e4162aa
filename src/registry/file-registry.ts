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
import { decodeModelFile, encodeModelFile, MODEL_FILE_OVERHEAD } from './model-file.js';
import { createRegistry, type ModelRecord, type ModelRegistry, type Persistence, type RegistryOptions } from './registry.js';

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

/** Ids are UUIDs, the demo's word, or names of letters, digits, '.', '_' and '-'; nothing else becomes a file name. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** A version's file: `<id>@<version>.model`; `<id>.model` is version 1 of a model stored before versions. */
const FILE_NAME = /^([A-Za-z0-9][A-Za-z0-9._-]{0,99}?)(?:@([1-9][0-9]{0,8}))?\.model$/;
/** Left where a model's newest version was deleted, so that its number is not given again. */
const GONE = /^([A-Za-z0-9][A-Za-z0-9._-]{0,99})@([1-9][0-9]{0,8})\.gone$/;

const fileName = (id: string, version: number) => `${id}@${version}${SUFFIX}`;

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

export async function createFileRegistry({ dir, capacity, capacityBytes, maxVersions, maxModelWeights, warn }: FileRegistryOptions): Promise<ModelRegistry> {
  await checkWritable(dir);
  // A file holds a model's header and parameters: K·d² weights, and at most as many biases and output weights again.
  const largestFile = MODEL_FILE_OVERHEAD + 8 * (2 * maxModelWeights + 2);
  const records: ModelRecord[] = [];
  /** Where each version lives, and each model's markers of deleted newest versions. */
  const files = new Map<string, string>();
  const gone = new Map<string, number[]>();
  for (const file of (await readdir(dir)).sort()) {
    const path = join(dir, file);
    if (file.includes(TEMPORARY)) {
      // A create that crashed before its rename: never acknowledged, so it is discarded.
      await rm(path, { force: true });
      continue;
    }
    const marker = GONE.exec(file);
    if (marker !== null) {
      gone.set(marker[1], [...(gone.get(marker[1]) ?? []), Number(marker[2])]);
      continue;
    }
    if (!file.endsWith(SUFFIX)) continue;
    try {
      const named = FILE_NAME.exec(file);
      if (named === null) throw new Error('not a model file name');
      const stats = await lstat(path);
      if (!stats.isFile()) throw new Error('not a regular file');
      if (stats.size > largestFile) throw new Error(`${stats.size} bytes, more than a model within MAX_MODEL_WEIGHTS takes (${largestFile})`);
      const record = await decodeModelFile(await readFile(path));
      if (record.id !== named[1] || record.version !== Number(named[2] ?? 1)) throw new Error(`holds model ${record.id} version ${record.version}`);
      files.set(`${record.id}@${record.version}`, file);
      records.push(record);
    } catch (error) {
      warn({ file: path, reason: (error as Error).message }, 'skipped a model file that cannot be read');
    }
  }
  const highest = new Map([...gone].map(([id, versions]) => [id, Math.max(...versions)]));

  const unlinkAll = async (names: readonly string[]) => {
    for (const name of names) await rm(join(dir, name), { force: true });
    await syncFolder(dir);
  };
  const persistence: Persistence & { readonly store: 'files' } = {
    store: 'files',
    async write(record) {
      if (!SAFE_ID.test(record.id)) throw new Error(`unsafe model id ${JSON.stringify(record.id)}`);
      const name = fileName(record.id, record.version);
      await writeDurably(dir, name, await encodeModelFile(record));
      files.set(`${record.id}@${record.version}`, name);
    },
    async remove(id, version, newest) {
      if (version === newest) {
        // The newest number stays taken: a marker says so across restarts.
        await writeDurably(dir, `${id}@${version}.gone`, Buffer.alloc(0));
        gone.set(id, [...(gone.get(id) ?? []), version]);
      }
      const name = files.get(`${id}@${version}`) ?? fileName(id, version);
      await unlinkAll([name]);
      files.delete(`${id}@${version}`);
    },
    async forget(id, versions) {
      const names = versions.map((version) => files.get(`${id}@${version}`) ?? fileName(id, version));
      await unlinkAll([...names, ...(gone.get(id) ?? []).map((version) => `${id}@${version}.gone`)]);
      for (const version of versions) files.delete(`${id}@${version}`);
      gone.delete(id);
    },
  };
  return createRegistry({ capacity, capacityBytes, maxVersions }, persistence, { records, highest });
}
