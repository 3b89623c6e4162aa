/**
 * The model registry: a plain domain module behind one interface, so that a durable or shared
 * store can stand in for the in-memory one without touching the routes.
 */
import { randomUUID } from 'node:crypto';
import type { ResNetModel } from '../kernels/index.js';
import { RegistryFullError } from '../errors.js';
import { modelBytes } from './documents.js';

export interface ModelRecord {
  readonly id: string;
  readonly name: string;
  /** ISO 8601, UTC. */
  readonly createdAt: string;
  readonly model: ResNetModel;
}

/** Which model a request means. */
export interface ModelRef {
  readonly id: string;
}

export interface NewModel {
  readonly model: ResNetModel;
  /** Defaults to the id. */
  readonly name?: string;
  /** Server-made ids are UUIDs; only the start-up models (the demo) bring their own. */
  readonly id?: string;
}

export interface ModelRegistry {
  /** Stores a model; the promise settles once the model is as durable as the store makes it. */
  add(entry: NewModel): Promise<ModelRecord>;
  get(id: string): Promise<ModelRecord | undefined>;
  /**
   * The model with this id if this replica holds it now, without waiting: undefined means it may
   * still be found by get(). The compute path asks here first.
   */
  peek(id: string): ModelRecord | undefined;
  /** Every model, oldest first. */
  list(): Promise<readonly ModelRecord[]>;
  /**
   * Throws RegistryFullError when a model of `bytes` would not fit now: asked before a model is
   * built, so that no work goes into one that cannot be kept (add checks again).
   */
  checkRoom(bytes: number): void;
  /** Removes a model; false when there was none with this id. */
  delete(id: string): Promise<boolean>;
  /** The number of models held. */
  count(): Promise<number>;
  /** The largest inputDim of the models held: no request's points can have more coordinates. */
  widestInput(): number;
  close(): Promise<void>;
}

export interface RegistryOptions {
  /** Most models held at once (MAX_MODELS). */
  readonly capacity: number;
  /** Most bytes of parameters held in all (MAX_REGISTRY_BYTES). */
  readonly capacityBytes?: number;
}

/** The room a registry has left: models and bytes of parameters, counting creates under way. */
export class RegistryRoom {
  private models = 0;
  private bytes = 0;

  constructor(
    private readonly maxModels: number,
    private readonly maxBytes: number,
  ) {}

  /** Throws RegistryFullError when a model of `bytes` would not fit now. */
  check(bytes: number): void {
    if (this.models >= this.maxModels) throw RegistryFullError.models(this.maxModels);
    if (this.bytes + bytes > this.maxBytes) throw RegistryFullError.bytes(this.bytes, bytes, this.maxBytes);
  }

  /** Takes room for a model of `bytes`, or throws RegistryFullError; give() it back if the model is not kept. */
  take(bytes: number): void {
    this.check(bytes);
    this.models++;
    this.bytes += bytes;
  }

  /** Counts a model already kept (loaded at start-up), whatever the limits. */
  count(bytes: number): void {
    this.models++;
    this.bytes += bytes;
  }

  give(bytes: number): void {
    this.models--;
    this.bytes -= bytes;
  }
}

/** A new record with a server-made id (unless the entry brings one) and the current time. */
export function newRecord(entry: NewModel): ModelRecord {
  const id = entry.id ?? randomUUID();
  return Object.freeze({ id, name: entry.name ?? id, createdAt: new Date().toISOString(), model: entry.model });
}

/** The reads every registry answers from the map of the models it holds; `changed` after each change to it. */
export const mapReads = (records: Map<string, ModelRecord>) => {
  let widest = 0;
  return {
    async get(id: string) {
      return records.get(id);
    },
    peek(id: string) {
      return records.get(id);
    },
    async list() {
      return [...records.values()];
    },
    async count() {
      return records.size;
    },
    widestInput() {
      if (widest === 0) for (const record of records.values()) widest = Math.max(widest, record.model.inputDim);
      return Math.max(1, widest);
    },
    changed() {
      widest = 0;
    },
    async close() {
      records.clear();
    },
  };
};

/** The default registry: in memory, gone when the process ends. */
export function createMemoryRegistry({ capacity, capacityBytes = Number.POSITIVE_INFINITY }: RegistryOptions): ModelRegistry {
  const records = new Map<string, ModelRecord>();
  const reads = mapReads(records);
  const room = new RegistryRoom(capacity, capacityBytes);
  return {
    ...reads,
    checkRoom: (bytes) => room.check(bytes),
    async add(entry) {
      room.take(modelBytes(entry.model));
      const record = newRecord(entry);
      records.set(record.id, record);
      reads.changed();
      return record;
    },
    async delete(id) {
      const record = records.get(id);
      if (record === undefined) return false;
      records.delete(id);
      room.give(modelBytes(record.model));
      reads.changed();
      return true;
    },
  };
}
