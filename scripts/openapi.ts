/**
 * Writes openapi/openapi.json: the document the app serves at /docs/json with the default
 * configuration. A test fails when the committed file and the served document differ.
 */
import { writeFileSync } from 'node:fs';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';

export const OPENAPI_FILE = new URL('../openapi/openapi.json', import.meta.url);

const app = await buildApp({ config: loadConfig({}) });
await app.ready();
writeFileSync(OPENAPI_FILE, `${JSON.stringify(app.swagger(), null, 2)}\n`);
await app.close();
console.log(`wrote ${OPENAPI_FILE.pathname}`);
