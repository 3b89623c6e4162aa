/**
 * Checks docker-compose.yml's wiring without a Docker engine (npm run compose:check): the default
 * service stays alone outside any profile; the scale profile's PostgreSQL, replicas and load
 * balancer have pinned images, healthchecks, and depends_on conditions on services that exist
 * and can be healthy; every replica's environment is a configuration the service accepts, with a
 * REGISTRY_URL that reaches the PostgreSQL service with its own user, password and database; and
 * nginx's upstream names the replicas' service and port.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { configSchema, loadConfig } from '../src/config.js';

type Service = {
  image?: string;
  build?: unknown;
  profiles?: string[];
  environment?: Record<string, string | number | boolean | null>;
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: unknown };
  ports?: string[];
  volumes?: string[];
  deploy?: { replicas?: number };
  stop_grace_period?: string;
};

const APP_IMAGE = /^resnet-gradient-service:/;
const CONDITIONS = new Set(['service_started', 'service_healthy', 'service_completed_successfully']);

/** Compose's interpolation of ${NAME}, ${NAME:-default} and ${NAME-default}, with `env`. */
export function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g, (_, name: string, operator: string | undefined, fallback: string | undefined) => {
    const set = env[name];
    if (operator === ':-') return set === undefined || set === '' ? (fallback ?? '') : set;
    if (operator === '-') return set === undefined ? (fallback ?? '') : set;
    return set ?? '';
  });
}

/** Seconds in a compose duration such as 15s, 1m30s. */
function seconds(duration: string): number {
  let total = 0;
  for (const [, amount, unit] of duration.matchAll(/(\d+(?:\.\d+)?)(h|m|s|ms)/g)) total += Number(amount) * { h: 3600, m: 60, s: 1, ms: 0.001 }[unit as 'h' | 'm' | 's' | 'ms'];
  return total;
}

/** The problems with a compose file (none when it is well wired); `env` stands in for the shell. */
export function checkCompose(path: string, env: Record<string, string | undefined> = {}): string[] {
  const problems: string[] = [];
  const document = parse(readFileSync(path, 'utf8')) as { services?: Record<string, Service>; volumes?: Record<string, unknown> };
  const services = document.services ?? {};
  const volumes = Object.keys(document.volumes ?? {});
  const inScale = (name: string) => services[name]?.profiles?.includes('scale') ?? false;
  const environment = (service: Service) =>
    Object.fromEntries(Object.entries(service.environment ?? {}).map(([name, value]) => [name, interpolate(String(value ?? ''), env)]));

  // The default service: `docker compose up` is unchanged.
  const defaults = Object.entries(services).filter(([, service]) => service.profiles === undefined);
  if (defaults.length !== 1 || !APP_IMAGE.test(defaults[0][1].image ?? '')) problems.push('exactly one service, the gradient service, runs without a profile');

  for (const [name, service] of Object.entries(services)) {
    const test = service.healthcheck?.test;
    if (!Array.isArray(test) || test[0] !== 'CMD') problems.push(`${name}: a healthcheck in exec form (test: ["CMD", …])`);
    if (service.image === undefined || !/:[0-9][^:]*$|^resnet-gradient-service:latest$/.test(service.image)) problems.push(`${name}: a pinned image tag, not ${service.image}`);
    const dependencies = Array.isArray(service.depends_on)
      ? Object.fromEntries(service.depends_on.map((dependency) => [dependency, { condition: 'service_started' }]))
      : (service.depends_on ?? {});
    for (const [dependency, { condition = 'service_started' }] of Object.entries(dependencies)) {
      if (services[dependency] === undefined) problems.push(`${name}: depends on ${dependency}, which is not a service`);
      else if (!CONDITIONS.has(condition)) problems.push(`${name}: depends_on ${dependency} has an unknown condition ${condition}`);
      else if (condition === 'service_healthy' && services[dependency].healthcheck === undefined) problems.push(`${name}: waits for ${dependency} to be healthy, which has no healthcheck`);
      else if (inScale(name) !== inScale(dependency)) problems.push(`${name}: depends on ${dependency}, which is not in the same profile`);
    }
    for (const mount of service.volumes ?? []) {
      const [source] = mount.split(':');
      if (source.startsWith('.') || source.startsWith('/')) {
        if (!existsSync(resolve(dirname(path), source))) problems.push(`${name}: mounts ${source}, which does not exist`);
      } else if (!volumes.includes(source)) problems.push(`${name}: mounts the volume ${source}, which is not declared`);
    }
    if (!APP_IMAGE.test(service.image ?? '')) continue;

    // A gradient service: its environment is a configuration the service accepts.
    const variables = environment(service);
    for (const variable of Object.keys(variables)) if (!Object.hasOwn(configSchema.properties, variable)) problems.push(`${name}: ${variable} is not a configuration variable`);
    let config;
    try {
      config = loadConfig(variables);
    } catch (error) {
      problems.push(`${name}: ${(error as Error).message}`);
      continue;
    }
    if (!JSON.stringify(service.healthcheck?.test ?? '').includes('/health/ready')) problems.push(`${name}: the healthcheck asks /health/ready`);
    if (service.stop_grace_period === undefined || seconds(service.stop_grace_period) * 1000 <= config.SHUTDOWN_GRACE_MS) {
      problems.push(`${name}: stop_grace_period (${service.stop_grace_period}) is longer than SHUTDOWN_GRACE_MS (${config.SHUTDOWN_GRACE_MS} ms)`);
    }
    if (!inScale(name)) continue;

    // A replica of the scale profile: several, behind the balancer, on the PostgreSQL service.
    if ((service.deploy?.replicas ?? 1) < 3) problems.push(`${name}: deploy.replicas is at least 3`);
    if (service.ports !== undefined) problems.push(`${name}: publishes no port (replicas are reached through the balancer)`);
    if (config.REGISTRY_URL === undefined) {
      problems.push(`${name}: REGISTRY_URL is set`);
      continue;
    }
    const registry = new URL(config.REGISTRY_URL);
    const database = services[registry.hostname];
    if (database === undefined || !/^postgres:/.test(database.image ?? '')) {
      problems.push(`${name}: REGISTRY_URL's host ${registry.hostname} is the PostgreSQL service`);
      continue;
    }
    const dependsOn = service.depends_on as Record<string, { condition?: string }> | undefined;
    if (dependsOn?.[registry.hostname]?.condition !== 'service_healthy') problems.push(`${name}: waits for ${registry.hostname} to be healthy`);
    const postgres = environment(database);
    const expected = { port: '5432', username: postgres.POSTGRES_USER, password: postgres.POSTGRES_PASSWORD, pathname: `/${postgres.POSTGRES_DB ?? postgres.POSTGRES_USER}` };
    const actual = { port: registry.port || '5432', username: registry.username, password: decodeURIComponent(registry.password), pathname: registry.pathname };
    for (const key of Object.keys(expected) as (keyof typeof expected)[]) {
      if (expected[key] !== actual[key]) problems.push(`${name}: REGISTRY_URL's ${key} matches the ${registry.hostname} service (${key === 'password' ? 'POSTGRES_PASSWORD' : expected[key]})`);
    }
    if (!(database.volumes ?? []).some((mount) => mount.endsWith(':/var/lib/postgresql/data'))) problems.push(`${registry.hostname}: its data on a named volume`);

    // The balancer in front: nginx, whose upstream is this service on its PORT.
    const balancers = Object.entries(services).filter(([other, candidate]) => inScale(other) && /^nginx:/.test(candidate.image ?? ''));
    if (balancers.length !== 1) {
      problems.push('the scale profile has one nginx load balancer');
      continue;
    }
    const [balancerName, balancer] = balancers[0];
    if (!(balancer.ports ?? []).length) problems.push(`${balancerName}: publishes a port`);
    if ((balancer.depends_on as Record<string, { condition?: string }> | undefined)?.[name]?.condition !== 'service_healthy') problems.push(`${balancerName}: waits for ${name} to be healthy`);
    const configMount = (balancer.volumes ?? []).find((mount) => mount.includes(':/etc/nginx/nginx.conf'));
    if (configMount === undefined) {
      problems.push(`${balancerName}: mounts its nginx.conf`);
      continue;
    }
    const nginx = readFileSync(resolve(dirname(path), configMount.split(':')[0]), 'utf8');
    const upstreams = [...nginx.matchAll(/^\s*server\s+([^\s;:]+):(\d+)/gm)].map(([, host, port]) => `${host}:${port}`);
    if (upstreams.length === 0 || upstreams.some((upstream) => upstream !== `${name}:${config.PORT}`)) {
      problems.push(`${balancerName}: nginx's upstream is ${name}:${config.PORT}, not ${upstreams.join(', ') || 'nothing'}`);
    }
    if (!/proxy_pass\s+http:\/\/\w+;/.test(nginx)) problems.push(`${balancerName}: nginx proxies to the upstream`);
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = join(fileURLToPath(new URL('../', import.meta.url)), 'docker-compose.yml');
  const problems = checkCompose(path);
  for (const problem of problems) console.error(`FAIL ${problem}`);
  if (problems.length > 0) process.exit(1);
  const document = parse(readFileSync(path, 'utf8')) as { services: Record<string, Service> };
  for (const [name, service] of Object.entries(document.services)) console.log(`ok   ${name}${service.profiles ? ` (profile ${service.profiles.join(', ')})` : ' (default)'}: ${service.image}`);
  console.log('compose:check passed');
}
