import { Writable } from 'node:stream';
import supertest from 'supertest';
import { afterAll } from 'vitest';
import { buildApp, type AppOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';

export interface TestApp {
  readonly app: Awaited<ReturnType<typeof buildApp>>;
  /** supertest bound to the app's server (supertest listens on an ephemeral loopback port). */
  readonly http: ReturnType<typeof supertest>;
  /** Every log line written so far, parsed. */
  readonly logs: Record<string, unknown>[];
}

/**
 * Builds the app from an environment (the defaults plus `env`), without listening on a port, and
 * closes it after the file's tests.
 */
export async function startApp(env: Record<string, string> = {}, options: Partial<AppOptions> = {}): Promise<TestApp> {
  const logs: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line));
      callback();
    },
  });
  const app = await buildApp({ config: loadConfig({ LOG_LEVEL: 'info', ...env }), logger: { level: 'info', stream }, ...options });
  await app.ready();
  afterAll(() => app.close());
  return { app, http: supertest(app.server), logs };
}

export const problemType = /^application\/problem\+json/;
