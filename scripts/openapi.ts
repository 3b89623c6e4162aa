/**
 * Writes openapi/openapi.json: the document the app serves at /docs/json with the default
 * configuration; and the TypeScript client's types generated from it
 * (clients/typescript/src/schema.ts). Tests fail when either differs from what is committed.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';

export const OPENAPI_FILE = new URL('../openapi/openapi.json', import.meta.url);

const app = await buildApp({ config: loadConfig({}) });
await app.ready();
writeFileSync(OPENAPI_FILE, `${JSON.stringify(app.swagger(), null, 2)}\n`);
await app.close();
console.log(`wrote ${OPENAPI_FILE.pathname}`);

const root = fileURLToPath(new URL('../', import.meta.url));
execFileSync(`${root}node_modules/.bin/openapi-typescript`, ['openapi/openapi.json', '-o', 'clients/typescript/src/schema.ts'], { cwd: root, stdio: 'inherit' });
