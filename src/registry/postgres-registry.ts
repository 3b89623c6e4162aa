/**
 * The shared registry (REGISTRY_URL=postgres://…): every version in PostgreSQL, so that many
 * replicas serve one set of models.
 *
 * - A version is a row: its header (exact JSON) beside its parameters as `bytea` (h, μ, W, b, w,
 *   little-endian float64s), so a model comes back bit for bit.
 * - A write (create, new version, delete) is one transaction under one advisory lock, so that
 *   MAX_MODELS, MAX_MODEL_VERSIONS, MAX_REGISTRY_BYTES, the version numbers and the
 *   preconditions are checked against what every replica has committed. It announces itself with
 *   NOTIFY inside the transaction: the notice is delivered if and only if the write commits.
 * - Each replica LISTENs, mirrors every model's latest version number, and keeps a cache of
 *   decoded versions, least recently used first out, within `cacheBytes` of parameters. The
 *   compute path reads the cache only (peek), so compute never waits on the database.
 * - Notices sent while a replica's listening connection is down are lost: on reconnecting it
 *   reads every model's latest version again and drops cached versions that are gone or changed.
 * - While the database cannot be reached, cached models still compute and read; writes and reads
 *   of uncached models throw RegistryUnavailableError (503 with Retry-After), and the registry
 *   recovers by itself when the database is back.
 *
 * Durability: a write resolves after PostgreSQL's COMMIT, so an acknowledged write is as durable
 * as the server's settings make a commit (with the default synchronous_commit = on, it is in the
 * write-ahead log on disk). A process killed during a write leaves the whole version or nothing.
 * A COMMIT whose answer was lost with the connection may have happened: the 503 says so.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ConfigError } from '../config.js';
import { RegistryFullError, RegistryUnavailableError } from '../errors.js';
import { modelBytes } from './documents.js';
import { decodeModel, encodeParameters, listingFromHeader, modelHeader } from './model-file.js';
import {
  checkPreconditions,
  newRecord,
  type ModelListing,
  type ModelRecord,
  type ModelRegistry,
  type NewModel,
  type Preconditions,
  type RegistryOptions,
  type RegistryStatus,
} from './registry.js';

export interface PostgresRegistryOptions extends RegistryOptions {
  /** A postgres:// connection URL (REGISTRY_URL). */
  readonly url: string;
  /** Most bytes of decoded parameters this process caches (MODEL_CACHE_BYTES). */
  readonly cacheBytes: number;
  /** How long start-up waits for the database before it gives up. */
  readonly connectTimeoutMs?: number;
  /** Connections in the pool. */
  readonly poolSize?: number;
  readonly log: {
    info(details: Record<string, unknown>, message: string): void;
    warn(details: Record<string, unknown>, message: string): void;
  };
}

/** The channel of the registry's notices. */
export const CHANNEL = 'resnet_registry';
/** The advisory locks: one for every write, one for the schema. */
const WRITE_LOCK = 0x52_4e_47_57; // 'RNGW'
const SCHEMA_LOCK = 0x52_4e_47_53; // 'RNGS'

/** The schema, one step a release that changes it; a step runs once, in order, under SCHEMA_LOCK. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE resnet_models (
     id text PRIMARY KEY,
     seq bigserial UNIQUE,
     highest integer NOT NULL
   );
   CREATE TABLE resnet_model_versions (
     id text NOT NULL REFERENCES resnet_models (id) ON DELETE CASCADE,
     version integer NOT NULL,
     etag text NOT NULL,
     input_dim integer NOT NULL,
     bytes bigint NOT NULL,
     header text NOT NULL,
     weights bytea NOT NULL,
     PRIMARY KEY (id, version)
   );`,
];

/** A model's latest version and its tag. */
const LATEST_SQL = 'SELECT version, etag FROM resnet_model_versions WHERE id = $1 ORDER BY version DESC LIMIT 1';
/** Models held, bytes of parameters held, and the widest input, as the limits count them. */
const TOTALS_SQL = `SELECT (SELECT count(*) FROM resnet_models)::int AS models,
                           coalesce(sum(bytes), 0)::float8 AS bytes,
                           coalesce(max(input_dim), 0)::int AS widest
                      FROM resnet_model_versions`;

/** What a notice says: a new version, a model gone, or one version gone (and the latest left). */
type Notice =
  | { readonly op: 'put'; readonly id: string; readonly version: number }
  | { readonly op: 'delete'; readonly id: string }
  | { readonly op: 'delete-version'; readonly id: string; readonly version: number; readonly latest: number | null };

/** Error codes that mean the database cannot be reached now, rather than that the request is wrong. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOENT']);
const SERVER_GONE = new Set(['57P01', '57P02', '57P03', '53300']);
const CLIENT_GONE = /Connection terminated|connection error|timeout exceeded when trying to connect|Query read timeout|not queryable|Client was closed/i;

export function isUnreachable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || SERVER_GONE.has(code) || code.startsWith('08'))) return true;
  return typeof message === 'string' && CLIENT_GONE.test(message);
}

const describeError = (error: unknown): string => {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return typeof code === 'string' ? code : typeof message === 'string' ? message : String(error);
};

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.username ? `${parsed.username}@` : ''}${parsed.host}${parsed.pathname}`;
  } catch {
    return 'postgres://…';
  }
}

/**
 * Decoded versions within a bound on their parameters' bytes; the least recently used goes first.
 * A read only stamps its entry (the compute path reads here on every request); eviction, on a
 * write, looks for the oldest stamp.
 */
class VersionCache {
  private readonly entries = new Map<string, { readonly record: ModelRecord; used: number }>();
  private clock = 0;
  bytes = 0;
  constructor(private readonly limit: number) {}

  private static key = (id: string, version: number) => `${version}\u0000${id}`;

  get size(): number {
    return this.entries.size;
  }

  get(id: string, version: number): ModelRecord | undefined {
    const entry = this.entries.get(VersionCache.key(id, version));
    if (entry === undefined) return undefined;
    entry.used = ++this.clock;
    return entry.record;
  }

  /** Keeps a version, evicting the least recently used; one larger than the whole bound is not kept. */
  set(record: ModelRecord): void {
    const size = modelBytes(record.model);
    this.drop(record.id, record.version);
    if (size > this.limit) return;
    this.entries.set(VersionCache.key(record.id, record.version), { record, used: ++this.clock });
    this.bytes += size;
    while (this.bytes > this.limit) {
      let oldest: { readonly record: ModelRecord; used: number } | undefined;
      for (const entry of this.entries.values()) if (oldest === undefined || entry.used < oldest.used) oldest = entry;
      this.drop(oldest!.record.id, oldest!.record.version);
    }
  }

  drop(id: string, version: number): void {
    const key = VersionCache.key(id, version);
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.bytes -= modelBytes(entry.record.model);
  }

  dropModel(id: string): void {
    for (const record of this.records()) if (record.id === id) this.drop(id, record.version);
  }

  records(): ModelRecord[] {
    return [...this.entries.values()].map((entry) => entry.record);
  }
}

interface Totals {
  models: number;
  bytes: number;
  widest: number;
}

export async function createPostgresRegistry(options: PostgresRegistryOptions): Promise<ModelRegistry> {
  const { url, log, capacity, capacityBytes = Number.POSITIVE_INFINITY, maxVersions = Number.POSITIVE_INFINITY } = options;
  const where = redactUrl(url);
  const connection = { connectionString: url, connectionTimeoutMillis: 3000, query_timeout: 60_000, keepAlive: true, application_name: 'resnet-gradient-service' };
  const pool = new pg.Pool({ ...connection, max: options.poolSize ?? 10 });
  // An idle connection that the server drops is an event, not a crash; the next query reconnects.
  pool.on('error', (error) => log.warn({ registry: 'postgres', err: describeError(error) }, 'registry: an idle database connection was lost'));

  const cache = new VersionCache(options.cacheBytes);
  /** Every model's latest version number, as last heard. */
  let latest = new Map<string, number>();
  let totals: Totals = { models: 0, bytes: 0, widest: 0 };
  /** Raised by every write this process makes, so that an older count read meanwhile is not kept. */
  let totalsEpoch = 0;
  /** The widest input of a version read here, in case the totals are older than it. */
  let widestLoaded = 0;
  let listening = false;
  let poolReachable = true;
  let closed = false;
  let listener: pg.Client | undefined;
  /** Notices that arrive while the state is read again; applied after it. */
  let held: Notice[] | null = null;

  function unavailable(error: unknown, write = false): RegistryUnavailableError {
    poolReachable = false;
    return new RegistryUnavailableError(`the model registry's database cannot be reached (${describeError(error)})${write ? '; nothing was changed' : ''}; retry shortly`, { cause: error });
  }

  /** Runs a read on the pool; a lost database becomes RegistryUnavailableError. */
  async function query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    try {
      const { rows } = await pool.query<R>(text, values);
      poolReachable = true;
      return rows;
    } catch (error) {
      throw isUnreachable(error) ? unavailable(error) : error;
    }
  }

  /** Runs `work` in one transaction that holds `lock` (the write lock, or the schema's). */
  async function transaction<T>(work: (client: pg.PoolClient) => Promise<T>, lock = WRITE_LOCK): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw isUnreachable(error) ? unavailable(error, true) : error;
    }
    let failure: unknown;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [lock]);
      const result = await work(client);
      await client.query('COMMIT');
      poolReachable = true;
      return result;
    } catch (error) {
      failure = error;
      await client.query('ROLLBACK').catch(() => {});
      throw isUnreachable(error) ? unavailable(error, true) : error;
    } finally {
      // A connection that failed is closed rather than given back.
      client.release(failure !== undefined && isUnreachable(failure) ? (failure as Error) : undefined);
    }
  }

  async function readTotals(): Promise<void> {
    const epoch = totalsEpoch;
    const [row] = await query<Totals>(TOTALS_SQL);
    if (epoch === totalsEpoch) totals = row;
  }

  let totalsAgain: Promise<void> | undefined;
  /** Reads the totals again after other replicas' writes, one read at a time. */
  function refreshTotals(): void {
    totalsAgain ??= readTotals()
      .catch(() => {})
      .finally(() => {
        totalsAgain = undefined;
      });
  }

  function apply(notice: Notice): void {
    switch (notice.op) {
      case 'put':
        // Notices come in commit order; the larger number wins against this process's own write.
        latest.set(notice.id, Math.max(latest.get(notice.id) ?? 0, notice.version));
        break;
      case 'delete':
        latest.delete(notice.id);
        cache.dropModel(notice.id);
        break;
      case 'delete-version':
        cache.drop(notice.id, notice.version);
        if (latest.get(notice.id) === notice.version) {
          if (notice.latest === null) latest.delete(notice.id);
          else latest.set(notice.id, notice.latest);
        }
        break;
    }
  }

  function onNotification({ channel, payload }: pg.Notification): void {
    if (channel !== CHANNEL || payload === undefined) return;
    let notice: Notice;
    try {
      notice = JSON.parse(payload) as Notice;
    } catch {
      return;
    }
    if (held !== null) held.push(notice);
    else apply(notice);
    refreshTotals();
  }

  /** Reads again what may have changed while no notice could arrive. */
  async function resynchronise(): Promise<void> {
    held = [];
    try {
      const rows = await query<{ id: string; latest: number }>('SELECT id, max(version) AS latest FROM resnet_model_versions GROUP BY id');
      latest = new Map(rows.map((row) => [row.id, row.latest]));
      const cached = cache.records();
      const alive = await query<{ id: string; version: number; etag: string }>(
        `SELECT v.id, v.version, v.etag
           FROM unnest($1::text[], $2::int[]) AS c (id, version)
           JOIN resnet_model_versions v USING (id, version)`,
        [cached.map((r) => r.id), cached.map((r) => r.version)],
      );
      const current = new Set(alive.map((row) => `${row.version}\u0000${row.id}\u0000${row.etag}`));
      for (const record of cached) if (!current.has(`${record.version}\u0000${record.id}\u0000${record.etag}`)) cache.drop(record.id, record.version);
      await readTotals();
    } finally {
      const notices = held;
      held = null;
      for (const notice of notices) apply(notice);
    }
  }

  /** Connects the listening connection, LISTENs and reads the state again; retries until it holds or the registry closes. */
  async function listen(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    for (let delay = 100; !closed; delay = Math.min(2 * delay, 2000)) {
      const client = new pg.Client({ ...connection, query_timeout: 10_000 });
      // A lost connection also ends; 'end' below reconnects.
      client.on('error', () => {});
      try {
        await client.connect();
        client.on('notification', onNotification);
        await client.query(`LISTEN ${CHANNEL}`);
        await resynchronise();
        if (closed) {
          await client.end();
          return;
        }
        client.once('end', () => {
          listening = false;
          if (closed) return;
          log.warn({ registry: 'postgres', url: where }, 'registry: lost the connection that hears other replicas; serving cached models and reconnecting');
          listen().catch((error: unknown) => log.warn({ registry: 'postgres', err: describeError(error) }, 'registry: reconnecting the connection that hears other replicas failed'));
        });
        listener = client;
        listening = true;
        poolReachable = true;
        return;
      } catch (error) {
        await client.end().catch(() => {});
        // Closed meanwhile: the pool is gone, and nobody waits for this connection any more.
        if (closed) return;
        if (!isUnreachable(error) && !(error instanceof RegistryUnavailableError)) throw error;
        if (Date.now() + delay > deadline) throw new ConfigError(`REGISTRY_URL: cannot reach the database at ${where} (${describeError(error instanceof RegistryUnavailableError ? error.cause : error)})`);
        await sleep(delay);
      }
    }
  }

  async function migrate(): Promise<void> {
    await transaction(async (client) => {
      await client.query('CREATE TABLE IF NOT EXISTS resnet_schema (version integer NOT NULL)');
      const { rows } = await client.query<{ version: number }>('SELECT version FROM resnet_schema');
      if (rows.length === 0) await client.query('INSERT INTO resnet_schema (version) VALUES (0)');
      const at = rows[0]?.version ?? 0;
      if (at > MIGRATIONS.length) {
        throw new ConfigError(`REGISTRY_URL: the database's registry schema is version ${at}, newer than this release's ${MIGRATIONS.length}; run a newer release`);
      }
      for (const step of MIGRATIONS.slice(at)) await client.query(step);
      await client.query('UPDATE resnet_schema SET version = $1', [MIGRATIONS.length]);
      if (at < MIGRATIONS.length) log.info({ registry: 'postgres', from: at, to: MIGRATIONS.length }, 'registry: database schema migrated');
    }, SCHEMA_LOCK);
  }

  // Start-up: the schema, then the listening connection; several replicas may do this at once.
  const deadline = Date.now() + (options.connectTimeoutMs ?? 30_000);
  for (let delay = 100; ; delay = Math.min(2 * delay, 2000)) {
    try {
      await migrate();
      break;
    } catch (error) {
      if (!(error instanceof RegistryUnavailableError)) {
        await pool.end();
        throw error;
      }
      if (Date.now() + delay > deadline) {
        await pool.end();
        throw new ConfigError(`REGISTRY_URL: cannot reach the database at ${where} (${describeError(error.cause)})`);
      }
      log.warn({ registry: 'postgres', url: where, err: describeError(error.cause) }, 'registry: waiting for the database');
      await sleep(delay);
    }
  }
  try {
    await listen(deadline);
  } catch (error) {
    await pool.end();
    throw error;
  }

  /** The latest version of a model and its tag, or one version's tag, from the database. */
  async function locate(id: string, version?: number): Promise<{ version: number; etag: string } | undefined> {
    const rows =
      version === undefined
        ? await query<{ version: number; etag: string }>(LATEST_SQL, [id])
        : await query<{ version: number; etag: string }>('SELECT version, etag FROM resnet_model_versions WHERE id = $1 AND version = $2', [id, version]);
    return rows[0];
  }

  function peek(id: string, version?: number): ModelRecord | undefined {
    const wanted = version ?? latest.get(id);
    return wanted === undefined ? undefined : cache.get(id, wanted);
  }

  async function get(id: string, version?: number): Promise<ModelRecord | undefined> {
    let found: { version: number; etag: string } | undefined;
    try {
      found = await locate(id, version);
    } catch (error) {
      // While the database is away, a cached version is still served.
      const cached = error instanceof RegistryUnavailableError ? peek(id, version) : undefined;
      if (cached !== undefined) return cached;
      throw error;
    }
    if (found === undefined) {
      if (version === undefined) {
        latest.delete(id);
        cache.dropModel(id);
      } else cache.drop(id, version);
      return undefined;
    }
    if (version === undefined) latest.set(id, found.version);
    const cached = cache.get(id, found.version);
    if (cached?.etag === found.etag) return cached;
    const [row] = await query<{ header: string; weights: Buffer }>('SELECT header, weights FROM resnet_model_versions WHERE id = $1 AND version = $2', [id, found.version]);
    // Deleted between the two reads.
    if (row === undefined) return undefined;
    const record = await decodeModel(row.header, row.weights);
    widestLoaded = Math.max(widestLoaded, record.model.inputDim);
    cache.set(record);
    return record;
  }

  async function store(entry: NewModel, id: string, preconditions?: Preconditions): Promise<{ record: ModelRecord; created: boolean }> {
    const bytes = modelBytes(entry.model);
    const result = await transaction(async (client) => {
      const {
        rows: [current],
      } = await client.query<{ version: number; etag: string }>(LATEST_SQL, [id]);
      checkPreconditions(preconditions, current, id);
      const {
        rows: [held],
      } = await client.query<{ models: number; bytes: number; widest: number; versions: number; highest: number | null }>(
        `SELECT (SELECT count(*) FROM resnet_models)::int AS models,
                (SELECT coalesce(sum(bytes), 0) FROM resnet_model_versions)::float8 AS bytes,
                (SELECT coalesce(max(input_dim), 0) FROM resnet_model_versions)::int AS widest,
                (SELECT count(*) FROM resnet_model_versions WHERE id = $1)::int AS versions,
                (SELECT highest FROM resnet_models WHERE id = $1) AS highest`,
        [id],
      );
      const created = held.highest === null;
      if (created && held.models >= capacity) throw RegistryFullError.models(capacity);
      if (!created && held.versions >= maxVersions) throw RegistryFullError.versions(id, maxVersions);
      if (held.bytes + bytes > capacityBytes) throw RegistryFullError.bytes(held.bytes, bytes, capacityBytes);
      const version = (held.highest ?? 0) + 1;
      const record = await newRecord({ ...entry, name: entry.name ?? id }, version, id);
      await client.query('INSERT INTO resnet_models (id, highest) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET highest = EXCLUDED.highest', [id, version]);
      await client.query('INSERT INTO resnet_model_versions (id, version, etag, input_dim, bytes, header, weights) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
        id,
        version,
        record.etag,
        record.model.inputDim,
        bytes,
        modelHeader(record),
        encodeParameters(record.model),
      ]);
      await client.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify({ op: 'put', id, version } satisfies Notice)]);
      const after: Totals = { models: held.models + (created ? 1 : 0), bytes: held.bytes + bytes, widest: Math.max(held.widest, record.model.inputDim) };
      return { record, created, after };
    });
    totalsEpoch++;
    totals = result.after;
    latest.set(id, Math.max(latest.get(id) ?? 0, result.record.version));
    cache.set(result.record);
    return { record: result.record, created: result.created };
  }

  /** The totals after a delete, read inside its transaction. */
  async function totalsIn(client: pg.PoolClient): Promise<Totals> {
    return (await client.query<Totals>(TOTALS_SQL)).rows[0];
  }

  return {
    add: (entry) => store(entry, entry.id ?? randomUUID()).then(({ record }) => record),
    put: (id, entry, preconditions) => store(entry, id, preconditions),
    get,
    peek,
    async versions(id) {
      const rows = await query<{ header: string }>('SELECT header FROM resnet_model_versions WHERE id = $1 ORDER BY version', [id]);
      return rows.length === 0 ? undefined : rows.map((row) => listingFromHeader(row.header));
    },
    async list(): Promise<ModelListing[]> {
      const rows = await query<{ header: string }>(
        `SELECT DISTINCT ON (m.seq) v.header
           FROM resnet_models m JOIN resnet_model_versions v USING (id)
          ORDER BY m.seq, v.version DESC`,
      );
      return rows.map((row) => listingFromHeader(row.header));
    },
    checkRoom(bytes, id) {
      // A first check against the totals last heard; the write's transaction checks again, exactly.
      if ((id === undefined || !latest.has(id)) && totals.models >= capacity) throw RegistryFullError.models(capacity);
      if (totals.bytes + bytes > capacityBytes) throw RegistryFullError.bytes(totals.bytes, bytes, capacityBytes);
    },
    async delete(id, preconditions) {
      const after = await transaction(async (client) => {
        const {
          rows: [current],
        } = await client.query<{ version: number; etag: string }>(LATEST_SQL, [id]);
        checkPreconditions(preconditions, current, id);
        if (current === undefined) return undefined;
        await client.query('DELETE FROM resnet_models WHERE id = $1', [id]);
        await client.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify({ op: 'delete', id } satisfies Notice)]);
        return totalsIn(client);
      });
      if (after === undefined) return false;
      totalsEpoch++;
      totals = after;
      latest.delete(id);
      cache.dropModel(id);
      return true;
    },
    async deleteVersion(id, version, preconditions) {
      const result = await transaction(async (client) => {
        const {
          rows: [target],
        } = await client.query<{ version: number; etag: string }>('SELECT version, etag FROM resnet_model_versions WHERE id = $1 AND version = $2', [id, version]);
        if (target === undefined) return undefined;
        // If-Match names the version deleted here, not the latest.
        checkPreconditions(preconditions, target, `${id}' version '${version}`);
        await client.query('DELETE FROM resnet_model_versions WHERE id = $1 AND version = $2', [id, version]);
        const {
          rows: [left],
        } = await client.query<{ latest: number | null }>('SELECT max(version) AS latest FROM resnet_model_versions WHERE id = $1', [id]);
        if (left.latest === null) await client.query('DELETE FROM resnet_models WHERE id = $1', [id]);
        await client.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify({ op: 'delete-version', id, version, latest: left.latest } satisfies Notice)]);
        return { latest: left.latest, after: await totalsIn(client) };
      });
      if (result === undefined) return false;
      totalsEpoch++;
      totals = result.after;
      apply({ op: 'delete-version', id, version, latest: result.latest });
      return true;
    },
    async count() {
      try {
        await readTotals();
      } catch (error) {
        // Metrics keep the last count heard while the database is away.
        if (!(error instanceof RegistryUnavailableError)) throw error;
      }
      return totals.models;
    },
    widestInput() {
      return Math.max(1, totals.widest, widestLoaded);
    },
    status(): RegistryStatus {
      return { store: 'postgres', reachable: listening && poolReachable, cachedVersions: cache.size, cachedBytes: cache.bytes };
    },
    async close() {
      closed = true;
      listening = false;
      await listener?.end().catch(() => {});
      await pool.end();
    },
  };
}
