import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, configSchema, defaultConfig, loadConfig } from '../src/config.js';

describe('configuration', () => {
  it('has defaults for every variable', () => {
    expect(loadConfig({})).toEqual(defaultConfig);
    expect(defaultConfig).toMatchObject({ PORT: 3000, LOG_LEVEL: 'info', BODY_LIMIT: 64 * 1024 * 1024 });
  });

  it('reads numbers from the environment', () => {
    expect(loadConfig({ PORT: '8080', MAX_POINTS: '10' })).toMatchObject({ PORT: 8080, MAX_POINTS: 10 });
  });

  it.each([
    [{ PORT: 'abc' }, /PORT must be integer \(got "abc"\)/],
    [{ PORT: '70000' }, /PORT must be <= 65535/],
    [{ MAX_POINTS: '-5' }, /MAX_POINTS must be >= 1 \(got "-5"\)/],
    [{ BODY_LIMIT: String(65 * 1024 * 1024) }, /BODY_LIMIT must be <= 67108864/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be equal to one of the allowed values/],
  ])('refuses %j with a message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ API_KEY: '', PORT: '' })).toEqual(defaultConfig);
  });

  it('is listed in docker-compose.yml: every variable, with its default; the shared registry\'s in the scale profile', () => {
    const compose = parse(readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8')) as {
      services: Record<string, { environment: Record<string, string | number> }>;
    };
    const listed = new Map(Object.entries(compose.services['resnet-gradient'].environment).map(([name, value]) => [name, String(value)]));
    const properties = configSchema.properties as Record<string, { default?: unknown }>;
    const shared = ['REGISTRY_URL', 'MODEL_CACHE_BYTES'];
    expect([...listed.keys()].sort()).toEqual(Object.keys(properties).filter((name) => !shared.includes(name)).sort());
    expect(Object.keys(compose.services.replica.environment)).toEqual(expect.arrayContaining(shared));
    expect(compose.services.replica.environment.MODEL_CACHE_BYTES).toBe(properties.MODEL_CACHE_BYTES.default);
    const differs = { HOST: '0.0.0.0', REGISTRY_DIR: '/var/lib/resnet-gradient/models' } as Record<string, string>;
    for (const [name, value] of listed) {
      const expected = differs[name] ?? (properties[name].default === undefined ? `\${${name}:-}` : String(properties[name].default));
      expect(value, name).toBe(expected);
    }
  });

  it('refuses REGISTRY_DIR and REGISTRY_URL together, and never repeats a REGISTRY_URL', () => {
    expect(() => loadConfig({ REGISTRY_DIR: '/tmp/models', REGISTRY_URL: 'postgres://u:p@db/x' })).toThrow(/REGISTRY_DIR and REGISTRY_URL are both set/);
    const wrong = () => loadConfig({ REGISTRY_URL: 'mysql://user:hunter2@db/x' });
    expect(wrong).toThrow(/^invalid configuration: REGISTRY_URL must match pattern "\^postgres\(ql\)\?:\/\/"$/);
    expect(loadConfig({ REGISTRY_URL: 'postgresql://db/x' }).REGISTRY_URL).toBe('postgresql://db/x');
  });

  it('docker-compose.yml publishes the port on 127.0.0.1 unless BIND_ADDRESS says otherwise', () => {
    const compose = readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8');
    const ports = [...compose.matchAll(/^ {6}- "([^"]*)"$/gm)].map((m) => m[1]).filter((entry) => entry.endsWith(':3000'));
    expect(ports).toEqual(['${BIND_ADDRESS:-127.0.0.1}:3000:3000']);
  });

  it('is documented in the README: every variable, with its default', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const rows = new Map([...readme.matchAll(/^\| `([A-Z_]+)` \| (`[^`]*`|unset) \|/gm)].map((m) => [m[1], m[2].replaceAll('`', '')]));
    const variables = Object.keys(configSchema.properties);
    expect([...rows.keys()].sort()).toEqual([...variables].sort());
    for (const name of variables) {
      const fallback = (configSchema.properties as Record<string, { default?: unknown }>)[name].default;
      expect(rows.get(name), name).toBe(fallback === undefined ? 'unset' : String(fallback));
    }
  });
});
