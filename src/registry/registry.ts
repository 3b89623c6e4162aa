/**
 * The model registry: a plain domain module behind one interface, so that a durable or shared
 * store can stand in for the in-memory one without touching the routes.
 *
 * A model is a name (its id) with immutable versions 1, 2, 3, …: POST makes a new model with a
 * server-made id and version 1, PUT a new version of the model it names (creating it at version
 * 1). A version number is never given twice to one model while it exists, even after the newest
 * version is deleted. Every version carries an entity tag derived from its content, against which
 * conditional writes are checked (RFC 9110 §13), atomically with the write.
 */
import { createHash, randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ResNetModel } from '../kernels/index.js';
import { PreconditionFailedError, RegistryFullError } from '../errors.js';
import { exactJson } from '../codecs/json/exact.js';
import { modelBytes } from './documents.js';

export interface ModelRecord {
  readonly id: string;
  readonly name: string;
  readonly version: number;
  /** ISO 8601, UTC: when this version was made. */
  readonly createdAt: string;
  /** A strong entity tag, quoted: a digest of the id, the version and the model. */
  readonly etag: string;
  readonly model: ResNetModel;
}

/** The parts of a model a listing shows: its shape and options, not its parameters. */
export type ModelShapeSource = Pick<ResNetModel, 'layers' | 'dim' | 'inputDim' | 'activation' | 'output' | 'h' | 'inputScaling' | 'outputScaling'>;

/** A version as listings show it: a record without the parameters, which a shared store need not fetch to list. */
export interface ModelListing extends Omit<ModelRecord, 'model'> {
  readonly model: ModelShapeSource;
}

/** Where the registry keeps its models, and whether it can reach that store now. */
export interface RegistryStatus {
  readonly store: 'memory' | 'files' | 'postgres';
  /** False while a shared store cannot be reached: cached models still compute; writes get 503. */
  readonly reachable: boolean;
  /** Versions held decoded in this process (a shared store's cache). */
  readonly cachedVersions?: number;
  /** Bytes of parameters in that cache. */
  readonly cachedBytes?: number;
}

/** Which model a request means: its id, and a version, or the latest. */
export interface ModelRef {
  readonly id: string;
  readonly version?: number;
}

export interface NewModel {
  readonly model: ResNetModel;
  /** Defaults to the id. */
  readonly name?: string;
  /** Server-made ids are UUIDs; the start-up models (the demo) bring their own. */
  readonly id?: string;
}

/** A write's preconditions: If-Match and If-None-Match, as lists of entity tags or `*`. */
export interface Preconditions {
  readonly ifMatch?: readonly string[] | '*';
  readonly ifNoneMatch?: readonly string[] | '*';
}

export interface ModelRegistry {
  /** Stores a new model at version 1; settles once it is as durable as the store makes it. */
  add(entry: NewModel): Promise<ModelRecord>;
  /**
   * Stores a new version of the model `id` (version 1 when there is none), after checking
   * `preconditions` against its latest version; `created` says whether the model is new.
   */
  put(id: string, entry: NewModel, preconditions?: Preconditions): Promise<{ record: ModelRecord; created: boolean }>;
  /** A version of a model, or its latest. */
  get(id: string, version?: number): Promise<ModelRecord | undefined>;
  /**
   * The model if this replica holds it now, without waiting: undefined means it may still be
   * found by get(). The compute path asks here first.
   */
  peek(id: string, version?: number): ModelRecord | undefined;
  /** Every version of a model, oldest first; undefined when there is no such model. */
  versions(id: string): Promise<readonly ModelListing[] | undefined>;
  /** The latest version of every model, the oldest model first. */
  list(): Promise<readonly ModelListing[]>;
  /**
   * Throws RegistryFullError when a model of `bytes` would not fit now (as a new version of `id`,
   * when given): asked before a model is built, so that no work goes into one that cannot be kept.
   */
  checkRoom(bytes: number, id?: string): void;
  /** Removes a model, every version; false when there is none. */
  delete(id: string, preconditions?: Preconditions): Promise<boolean>;
  /** Removes one version; false when there is none. */
  deleteVersion(id: string, version: number, preconditions?: Preconditions): Promise<boolean>;
  /** The number of models held (not versions). */
  count(): Promise<number>;
  /** The largest inputDim of the models held: no request's points can have more coordinates. */
  widestInput(): number;
  /** The store, and whether it is reachable now. */
  status(): RegistryStatus;
  close(): Promise<void>;
}

export interface RegistryOptions {
  /** Most models held at once (MAX_MODELS). */
  readonly capacity: number;
  /** Most bytes of parameters held in all, every version counted (MAX_REGISTRY_BYTES). */
  readonly capacityBytes?: number;
  /** Most versions of one model (MAX_MODEL_VERSIONS). */
  readonly maxVersions?: number;
}

/** Bytes hashed between turns of the event loop: a large model is hashed a piece at a time. */
const HASHED_PER_TURN = 1024 * 1024;

/** The entity tag of a version: SHA-256 over its id, version, options and every parameter's bytes. */
export async function contentTag(id: string, version: number, model: ResNetModel): Promise<string> {
  const hash = createHash('sha256');
  const { W, b, w, affine: _affine, ...options } = model;
  hash.update(exactJson({ id, version, ...options }));
  for (const array of [W, b, w]) {
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    for (let at = 0; at < bytes.length; at += HASHED_PER_TURN) {
      if (at > 0) await nextTurn();
      hash.update(bytes.subarray(at, at + HASHED_PER_TURN));
    }
  }
  return `"${hash.digest('base64url').slice(0, 32)}"`;
}

/** A new record, tagged; a server-made id unless the entry brings one. */
export async function newRecord(entry: NewModel, version = 1, id = entry.id ?? randomUUID()): Promise<ModelRecord> {
  const etag = await contentTag(id, version, entry.model);
  return Object.freeze({ id, name: entry.name ?? id, version, createdAt: new Date().toISOString(), etag, model: entry.model });
}

/** Throws PreconditionFailedError unless a write's preconditions hold against the current version (undefined: no model). */
export function checkPreconditions(
  preconditions: Preconditions | undefined,
  current: Pick<ModelRecord, 'version' | 'etag'> | undefined,
  id: string,
): void {
  if (preconditions === undefined) return;
  const { ifMatch, ifNoneMatch } = preconditions;
  if (ifMatch !== undefined) {
    const holds = current !== undefined && (ifMatch === '*' || ifMatch.includes(current.etag));
    if (!holds) {
      throw new PreconditionFailedError(
        current === undefined
          ? `If-Match: there is no model '${id}' to match`
          : `If-Match: the latest version of '${id}' (${current.version}) has the entity tag ${current.etag}, not ${ifMatch === '*' ? '*' : ifMatch.join(', ')}`,
      );
    }
  }
  if (ifNoneMatch !== undefined && current !== undefined && (ifNoneMatch === '*' || ifNoneMatch.includes(current.etag))) {
    throw new PreconditionFailedError(
      ifNoneMatch === '*' ? `If-None-Match: *: the model '${id}' exists (version ${current.version})` : `If-None-Match: the latest version of '${id}' has the entity tag ${current.etag}`,
    );
  }
}

/** Where a registry keeps its versions beyond memory; the in-memory registry keeps them nowhere. */
export interface Persistence {
  /** Makes a new version durable. */
  write(record: ModelRecord): Promise<void>;
  /** Removes one version durably; `highest` is the model's highest version number ever given, to be remembered. */
  remove(id: string, version: number, highest: number): Promise<void>;
  /** Removes every trace of a model. */
  forget(id: string, versions: readonly number[]): Promise<void>;
}

/** A model's versions, oldest first, and the highest version number given so far. */
interface Versions {
  readonly records: ModelRecord[];
  highest: number;
}

/** The models a registry starts with, loaded from its store. */
export interface Loaded {
  readonly records: readonly ModelRecord[];
  /** Per model, the highest version ever given (a deleted newest version included). */
  readonly highest: ReadonlyMap<string, number>;
}

/**
 * The registry over a persistence: the versions in memory, the limits, and one write at a time
 * per model, so that a precondition is checked against the version the write replaces.
 */
export function createRegistry(
  { capacity, capacityBytes = Number.POSITIVE_INFINITY, maxVersions = Number.POSITIVE_INFINITY }: RegistryOptions,
  persistence: (Persistence & { readonly store: 'files' }) | null,
  loaded: Loaded = { records: [], highest: new Map() },
): ModelRegistry {
  const models = new Map<string, Versions>();
  let bytesHeld = 0;
  /** Models and bytes taken by writes under way. */
  let modelsPending = 0;
  let bytesPending = 0;
  let widest = 0;

  const byAge = [...loaded.records].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.version - b.version);
  for (const record of byAge) {
    let versions = models.get(record.id);
    if (versions === undefined) models.set(record.id, (versions = { records: [], highest: loaded.highest.get(record.id) ?? 0 }));
    versions.records.push(record);
    versions.highest = Math.max(versions.highest, record.version);
    bytesHeld += modelBytes(record.model);
  }
  for (const versions of models.values()) versions.records.sort((a, b) => a.version - b.version);

  const latest = (id: string) => models.get(id)?.records.at(-1);
  const find = (id: string, version?: number) => {
    const versions = models.get(id);
    if (versions === undefined) return undefined;
    return version === undefined ? versions.records.at(-1) : versions.records.find((r) => r.version === version);
  };

  function checkRoom(bytes: number, id?: string): void {
    const versions = id === undefined ? undefined : models.get(id);
    if (versions === undefined && models.size + modelsPending >= capacity) throw RegistryFullError.models(capacity);
    if (versions !== undefined && versions.records.length >= maxVersions) throw RegistryFullError.versions(id!, maxVersions);
    if (bytesHeld + bytesPending + bytes > capacityBytes) throw RegistryFullError.bytes(bytesHeld + bytesPending, bytes, capacityBytes);
  }

  /** One write at a time per model: each waits for the one before. */
  const queues = new Map<string, Promise<unknown>>();
  function serially<T>(id: string, write: () => Promise<T>): Promise<T> {
    const before = queues.get(id) ?? Promise.resolve();
    const done = before.then(write, write);
    const settled = done.then(
      () => {},
      () => {},
    );
    queues.set(id, settled);
    void settled.then(() => {
      if (queues.get(id) === settled) queues.delete(id);
    });
    return done;
  }

  async function store(entry: NewModel, id: string | undefined, preconditions?: Preconditions) {
    const bytes = modelBytes(entry.model);
    const current = id === undefined ? undefined : latest(id);
    checkPreconditions(preconditions, current, id ?? '');
    checkRoom(bytes, id);
    const isNew = id === undefined || !models.has(id);
    if (isNew) modelsPending++;
    bytesPending += bytes;
    try {
      const version = id === undefined ? 1 : (models.get(id)?.highest ?? 0) + 1;
      const record = await newRecord({ ...entry, name: entry.name ?? id }, version, id ?? entry.id);
      await persistence?.write(record);
      let versions = models.get(record.id);
      if (versions === undefined) models.set(record.id, (versions = { records: [], highest: 0 }));
      versions.records.push(record);
      versions.highest = record.version;
      bytesHeld += bytes;
      widest = 0;
      return { record, created: isNew };
    } finally {
      if (isNew) modelsPending--;
      bytesPending -= bytes;
    }
  }

  return {
    async add(entry) {
      if (entry.id !== undefined) return serially(entry.id, () => store(entry, entry.id)).then(({ record }) => record);
      return (await store(entry, undefined)).record;
    },
    put: (id, entry, preconditions) => serially(id, () => store(entry, id, preconditions)),
    async get(id, version) {
      return find(id, version);
    },
    peek: find,
    async versions(id) {
      const versions = models.get(id);
      return versions === undefined ? undefined : [...versions.records];
    },
    async list() {
      return [...models.values()].map((versions) => versions.records.at(-1)!);
    },
    checkRoom,
    delete: (id, preconditions) =>
      serially(id, async () => {
        const versions = models.get(id);
        if (versions === undefined) {
          checkPreconditions(preconditions, undefined, id);
          return false;
        }
        checkPreconditions(preconditions, versions.records.at(-1), id);
        await persistence?.forget(id, versions.records.map((r) => r.version));
        models.delete(id);
        for (const record of versions.records) bytesHeld -= modelBytes(record.model);
        widest = 0;
        return true;
      }),
    deleteVersion: (id, version, preconditions) =>
      serially(id, async () => {
        const versions = models.get(id);
        const index = versions?.records.findIndex((r) => r.version === version) ?? -1;
        if (versions === undefined || index < 0) return false;
        // If-Match names the version deleted here, not the latest.
        checkPreconditions(preconditions, versions.records[index], `${id}' version '${version}`);
        if (versions.records.length === 1) await persistence?.forget(id, [version]);
        else await persistence?.remove(id, version, versions.highest);
        const [record] = versions.records.splice(index, 1);
        bytesHeld -= modelBytes(record.model);
        if (versions.records.length === 0) models.delete(id);
        widest = 0;
        return true;
      }),
    async count() {
      return models.size;
    },
    widestInput() {
      if (widest === 0) for (const versions of models.values()) for (const record of versions.records) widest = Math.max(widest, record.model.inputDim);
      return Math.max(1, widest);
    },
    status: () => ({ store: persistence?.store ?? 'memory', reachable: true }),
    async close() {
      models.clear();
    },
  };
}

/** The default registry: in memory, gone when the process ends. */
export const createMemoryRegistry = (options: RegistryOptions): ModelRegistry => createRegistry(options, null);
