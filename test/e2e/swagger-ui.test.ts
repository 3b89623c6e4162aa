/**
 * Swagger UI in a real browser (Debian's chromium, driven by playwright-core): the page loads
 * under its CSP without errors, "Try it out" on /gradient answers with the documented numbers,
 * and the Authorize button takes a bearer key for the guarded operations. Runs where
 * /usr/bin/chromium exists (CI installs it).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeExample } from '../../src/http/schemas/compute.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe.skipIf(!existsSync(CHROMIUM))('Swagger UI in a browser', () => {
  let server: RunningServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startServer({ API_KEY: 'ui-key' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: flags });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    server?.child.kill('SIGTERM');
    await server?.exited;
  });

  it('loads, lists every operation, and runs the /gradient example with no setup', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(`${server.url}/docs/`);
    await page.locator('.opblock').first().waitFor({ timeout: 20_000 });
    expect(await page.locator('.opblock').count()).toBe(28);
    const gradient = page.locator('#operations-compute-gradient');
    await gradient.locator('.opblock-summary').click();
    await gradient.locator('button.execute').click();
    await gradient.locator('.live-responses-table .response-col_status').nth(1).waitFor();
    expect((await gradient.locator('.live-responses-table .response-col_status').nth(1).textContent())?.trim()).toBe('200');
    const body = JSON.parse((await gradient.locator('.live-responses-table .microlight').first().textContent()) ?? '');
    expect(body).toEqual({ modelId: 'demo', modelVersion: 1, values: computeExample.values, gradients: computeExample.gradients });

    // The Open Inference Protocol's routes, under their own tag: the inference example runs as it is.
    const infer = page.locator('#operations-open-inference-protocol-oipModelInfer');
    await infer.locator('.opblock-summary').click();
    await infer.locator('button.execute').click();
    await infer.locator('.live-responses-table .response-col_status').nth(1).waitFor();
    expect((await infer.locator('.live-responses-table .response-col_status').nth(1).textContent())?.trim()).toBe('200');
    const inferred = JSON.parse((await infer.locator('.live-responses-table .microlight').first().textContent()) ?? '');
    expect(inferred).toEqual({
      model_name: 'demo',
      model_version: '1',
      id: '42',
      outputs: [
        { name: 'value', datatype: 'FP64', shape: [1], data: [0.27701583406928443] },
        { name: 'gradient', datatype: 'FP64', shape: [1, 2], data: [0.08008308634359138, -0.34667681253370525] },
      ],
    });
    expect(errors).toEqual([]);
  }, 60_000);

  it('Authorize takes the bearer key, and a guarded operation then succeeds', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/docs/`);
    await page.locator('button.authorize').first().click();
    await page.locator('.modal-ux input').fill('ui-key');
    await page.locator('.modal-ux button.authorize').click();
    await page.locator('.modal-ux button.btn-done').click();
    const create = page.locator('#operations-models-createModel');
    await create.locator('.opblock-summary').click();
    await create.locator('button.execute').click();
    await create.locator('.live-responses-table .response-col_status').nth(1).waitFor();
    expect((await create.locator('.live-responses-table .response-col_status').nth(1).textContent())?.trim()).toBe('201');
  }, 60_000);
});
