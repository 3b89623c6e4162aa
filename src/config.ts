/**
 * All configuration: one schema over the environment, validated once at start-up. Every default
 * a user can see lives here (the README's table and the OpenAPI descriptions read them from here).
 */
import envSchema from 'env-schema';
import { availableParallelism } from 'node:os';
import Type, { type Static } from 'typebox';

const MiB = 1024 * 1024;

export const configSchema = Type.Object({
  HOST: Type.String({ default: 'localhost', description: 'Interface to listen on (0.0.0.0 in the container).' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'TCP port.' }),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    default: 'info',
    description: 'pino log level.',
  }),
  BODY_LIMIT: Type.Integer({
    minimum: 1024,
    maximum: 64 * MiB,
    default: 64 * MiB,
    description: 'Largest request body in bytes (at most 64 MiB); a larger one gets 413.',
  }),
  MAX_POINTS: Type.Integer({
    minimum: 1,
    default: 1_000_000,
    description: 'Most points in one compute request (/evaluate, /gradient, /hessian, /hvp; /trace takes 16); more get 413.',
  }),
  MAX_MODEL_WEIGHTS: Type.Integer({
    minimum: 1,
    default: 4_194_304,
    description: 'Largest K·d² (the number of weights in W) of one model; a larger model gets 413.',
  }),
  MAX_REQUEST_FLOPS: Type.Number({
    minimum: 1,
    default: 1e10,
    description:
      'The most work one request may ask for, in flops: points × the operation\'s flops a point (4·K·d² for /evaluate and /gradient; for /flows, trajectories × steps × the step\'s network calls). More is refused with 413 before any work starts.',
  }),
  BODY_BYTES_IN_FLIGHT: Type.Integer({
    minimum: 1024 * 1024,
    default: 128 * MiB,
    description:
      'The most bytes of large request bodies (1 MiB or more) read and answered at once; a request that would pass it gets 503 with Retry-After.',
  }),
  REQUEST_TIMEOUT_MS: Type.Integer({
    minimum: 1000,
    default: 300_000,
    description: 'The longest a request may take to arrive, headers and body; then 408. The default lets a 64 MiB body arrive at 2 Mbit/s.',
  }),
  BODY_STALL_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    default: 30_000,
    description: 'The longest a request body may go without a byte arriving; then 408.',
  }),
  HEADERS_TIMEOUT_MS: Type.Integer({
    minimum: 1000,
    default: 20_000,
    description: 'The longest a client may take to send a request\'s headers; then the connection is closed.',
  }),
  KEEP_ALIVE_TIMEOUT_MS: Type.Integer({
    minimum: 1000,
    default: 65_000,
    description:
      'How long an idle keep-alive connection is kept open. Longer than the idle timeout of the load balancer in front (60 s for AWS ALB and nginx), so that the balancer, not the service, closes idle connections.',
  }),
  ANSWER_STALL_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    default: 30_000,
    description: 'The longest a client may go without reading any of a large answer; then the connection is closed and the answer\'s memory freed.',
  }),
  MAX_CONNECTIONS: Type.Integer({
    minimum: 1,
    default: 1024,
    description: 'Most connections open at once; more are refused at once.',
  }),
  MAX_MODELS: Type.Integer({
    minimum: 1,
    default: 1000,
    description: 'Most models the registry holds (each with its versions); a create beyond it gets 409.',
  }),
  MAX_MODEL_VERSIONS: Type.Integer({
    minimum: 1,
    default: 100,
    description: 'Most versions one model holds; a PUT beyond it gets 409 until a version is deleted.',
  }),
  MAX_REGISTRY_BYTES: Type.Integer({
    minimum: 1024,
    default: 512 * MiB,
    description: 'Most bytes of model parameters the registry holds in all, every version counted (8 a number); a create beyond it gets 409.',
  }),
  REGISTRY_DIR: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'When set, the registry keeps one file per model in this folder and loads them at start-up; otherwise it is in memory.',
    }),
  ),
  REGISTRY_URL: Type.Optional(
    Type.String({
      minLength: 1,
      pattern: '^postgres(ql)?://',
      description:
        'A postgres:// URL: the registry lives in that PostgreSQL database, shared by every replica (the schema is made at start-up). Unset keeps it in memory, or in REGISTRY_DIR. Not both.',
    }),
  ),
  MODEL_CACHE_BYTES: Type.Integer({
    minimum: 0,
    default: 256 * MiB,
    description:
      'With REGISTRY_URL: most bytes of model parameters a replica keeps decoded in memory (least recently used out first); a model larger than this is read from the database on every request.',
  }),
  MODELS_DIR: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'A folder of model files registered at start-up when the registry has no model of their name: <name>.json (a model document), <name>.npz or <name>.safetensors (options in <name>.options.json or __metadata__). KServe mounts a storage URI at /mnt/models. A file that does not load is logged and skipped.',
    }),
  ),
  API_KEY: Type.Optional(Type.String({ minLength: 1, description: 'When set, POST /models, PUT /models/{id} and the DELETEs of /models need Authorization: Bearer <key>.' })),
  API_KEYS: Type.Optional(
    Type.String({ minLength: 1, description: 'Several keys, comma-separated, any of which is accepted (for rotation); combines with API_KEY.' }),
  ),
  PROTECT_READS: Type.Boolean({
    default: false,
    description: 'With a key set, also guard the compute routes (/evaluate, /gradient, /hessian, /hvp, /trace, /flows, /flows/vector-field), the GETs of /models, and the model routes of /v2 (metadata, ready, infer). Health and metrics stay open.',
  }),
  RATE_LIMIT_MAX: Type.Integer({
    minimum: 0,
    default: 0,
    description: 'Requests a client (its API key, or else its address) may make per RATE_LIMIT_WINDOW_MS; 0 turns rate limiting off.',
  }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1, default: 60_000, description: 'The rate-limit window in ms (also the window of AUTH_FAILURE_LIMIT).' }),
  AUTH_FAILURE_LIMIT: Type.Integer({
    minimum: 0,
    default: 20,
    description:
      'With keys set: failed authentications an address may make per RATE_LIMIT_WINDOW_MS; past it the address gets 429 on guarded routes until the window ends. 0 turns it off.',
  }),
  TRUST_PROXY: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Which proxies in front may set X-Forwarded-For, so that a client is its own address and not the proxy\'s: a comma-separated list of addresses, CIDR ranges, or loopback, linklocal, uniquelocal; or true for any (only behind a proxy that overwrites the header). Unset trusts none.',
    }),
  ),
  CORS_ORIGIN: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Origins allowed by CORS, comma-separated, or * for any; unset turns CORS off.',
    }),
  ),
  WORKERS: Type.Optional(
    Type.Integer({
      minimum: 0,
      description: 'Worker threads for large batches; unset means one per core, 0 keeps all work on the main thread.',
    }),
  ),
  WORKER_MIN_FLOPS: Type.Integer({
    minimum: 0,
    default: 5_000_000,
    description: 'The work (4·K·d² flops a point) from which a batch runs on the worker threads instead of the main thread.',
  }),
  SHUTDOWN_GRACE_MS: Type.Integer({
    minimum: 0,
    default: 10_000,
    description: 'On SIGTERM or SIGINT, how long in-flight requests may take to finish before the process exits anyway (with code 1).',
  }),
});

export type Config = Static<typeof configSchema>;

/** A configuration value that is out of range or of the wrong type; the message names the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and validates the configuration from `env` (process.env by default). An empty value counts as unset. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const data = Object.fromEntries(Object.entries(env).filter(([name, value]) => value !== '' && Object.hasOwn(configSchema.properties, name)));
  try {
    return checkCombinations(envSchema<Config>({ schema: configSchema, data, env: false, dotenv: false }));
  } catch (error) {
    const errors = (error as { errors?: { instancePath: string; message?: string }[] }).errors;
    if (!errors?.length) throw error;
    const problems = errors.map(({ instancePath, message }) => {
      const name = instancePath.slice(1);
      // A URL or key may hold a secret: it is never echoed.
      return SECRETS.has(name) ? `${name} ${message}` : `${name} ${message} (got ${JSON.stringify(env[name])})`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
}

/** Variables whose values are not repeated in errors or logs. */
const SECRETS = new Set(['API_KEY', 'API_KEYS', 'REGISTRY_URL']);

/** Checks what no single variable's schema can: settings that exclude each other. */
function checkCombinations(config: Config): Config {
  if (config.REGISTRY_DIR !== undefined && config.REGISTRY_URL !== undefined) {
    throw new ConfigError('invalid configuration: REGISTRY_DIR and REGISTRY_URL are both set; the registry lives in one place (unset one)');
  }
  return config;
}

/** Every accepted API key, from API_KEY and API_KEYS; empty when the API is open. */
export const apiKeys = (config: Config): string[] =>
  [config.API_KEY, ...(config.API_KEYS ?? '').split(',')].map((key) => key?.trim() ?? '').filter((key) => key !== '');

/** Fastify's trustProxy for TRUST_PROXY: false when unset. */
export function trustProxy(config: Config): boolean | string {
  const value = config.TRUST_PROXY?.trim();
  if (value === undefined || value === 'false') return false;
  return value === 'true' ? true : value;
}

/** The size of the worker pool: WORKERS, or one thread per core. */
export const workerThreads = (config: Config): number => config.WORKERS ?? availableParallelism();

/** The defaults, as `loadConfig` gives them with an empty environment. */
export const defaultConfig: Config = loadConfig({});
