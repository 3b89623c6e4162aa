/**
 * docker-compose.yml's wiring, checked as compose:check does; and that check catches each kind of
 * miswiring, on copies of the file with one thing broken.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { checkCompose, interpolate } from '../../scripts/compose-check.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const original = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'));
const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** The problems compose:check finds in a copy of the compose file changed by `change`. */
function problemsAfter(change: (document: any) => void, nginx?: string): string[] {
  const folder = mkdtempSync(join(tmpdir(), 'compose-check-'));
  folders.push(folder);
  const document = structuredClone(original);
  change(document);
  writeFileSync(join(folder, 'docker-compose.yml'), stringify(document));
  mkdirSync(join(folder, 'deploy'), { recursive: true });
  cpSync(join(root, 'deploy/compose'), join(folder, 'deploy/compose'), { recursive: true });
  if (nginx !== undefined) writeFileSync(join(folder, 'deploy/compose/nginx.conf'), nginx);
  return checkCompose(join(folder, 'docker-compose.yml'));
}

describe('docker-compose.yml', () => {
  it('is well wired: the default service alone, and the scale profile of PostgreSQL, three replicas on it and nginx', () => {
    expect(checkCompose(join(root, 'docker-compose.yml'))).toEqual([]);
    expect(checkCompose(join(root, 'docker-compose.yml'), { POSTGRES_PASSWORD: 'c0ffee' })).toEqual([]);
    // The password goes into REGISTRY_URL as it is: one that is not URL-safe breaks the URL.
    expect(checkCompose(join(root, 'docker-compose.yml'), { POSTGRES_PASSWORD: 'p@ss/word' })).toEqual(["replica: REGISTRY_URL's host ss is the PostgreSQL service"]);
    expect(Object.keys(original.services)).toEqual(['resnet-gradient', 'postgres', 'replica', 'balancer']);
    expect(original.services.replica.deploy.replicas).toBe(3);
  });

  it('interpolates as compose does', () => {
    expect(interpolate('${A:-x}/${B-y}/${C}', { A: '', B: '' })).toBe('x//');
    expect(interpolate('${A:-x}', { A: 'set' })).toBe('set');
  });

  it.each([
    ['a REGISTRY_URL on another host', (d: any) => (d.services.replica.environment.REGISTRY_URL = 'postgres://resnet:change-me@db:5432/resnet'), /REGISTRY_URL's host db/],
    ['a REGISTRY_URL with another database', (d: any) => (d.services.replica.environment.REGISTRY_URL = 'postgres://resnet:${POSTGRES_PASSWORD:-change-me}@postgres:5432/other'), /pathname matches/],
    ['a password that differs', (d: any) => (d.services.postgres.environment.POSTGRES_PASSWORD = 'other'), /password matches/],
    ['an unknown variable', (d: any) => (d.services.replica.environment.REGISTRY_URI = 'x'), /REGISTRY_URI is not a configuration variable/],
    ['a value the service refuses', (d: any) => (d.services.replica.environment.MAX_MODELS = 0), /MAX_MODELS must be >= 1/],
    ['waiting on a service with no healthcheck', (d: any) => delete d.services.postgres.healthcheck, /waits for postgres to be healthy, which has no healthcheck/],
    ['a dependency that does not exist', (d: any) => (d.services.balancer.depends_on = { replicas: { condition: 'service_healthy' } }), /depends on replicas, which is not a service/],
    ['PostgreSQL outside the profile', (d: any) => delete d.services.postgres.profiles, /exactly one service/],
    ['one replica', (d: any) => (d.services.replica.deploy.replicas = 1), /deploy.replicas is at least 3/],
    ['a grace period shorter than SHUTDOWN_GRACE_MS', (d: any) => (d.services.replica.stop_grace_period = '5s'), /stop_grace_period \(5s\)/],
    ['an undeclared volume', (d: any) => delete d.volumes.postgres, /mounts the volume postgres, which is not declared/],
    ['an unpinned image', (d: any) => (d.services.postgres.image = 'postgres'), /postgres: a pinned image tag/],
  ])('catches %s', (_, change, problem) => {
    expect(problemsAfter(change).join('\n')).toMatch(problem);
  });

  it("catches an nginx upstream that is not the replicas' service and port", () => {
    const nginx = readFileSync(join(root, 'deploy/compose/nginx.conf'), 'utf8');
    expect(problemsAfter(() => {}, nginx.replace('replica:3000', 'replica:8080')).join('\n')).toMatch(/upstream is replica:3000, not replica:8080/);
  });
});
