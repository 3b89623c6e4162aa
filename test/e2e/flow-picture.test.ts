/**
 * The phase portrait of /flows (Accept: image/svg+xml), parsed as XML and rendered in a real
 * browser (Debian's chromium, driven by playwright-core): it parses without error, its curves and
 * labels are laid out inside the picture, every axis has ticks, the legend names each
 * trajectory, and the rendered pixels are not blank. Runs where /usr/bin/chromium exists (CI
 * installs it).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ticks, tickLabel } from '../../src/codecs/svg/flows.js';
import { startApp } from '../helpers/app.js';

// The browser's globals, in the functions that run in the page (this project compiles without the DOM library).
declare const document: any;
declare const DOMParser: any;
declare const Image: any;
interface DOMRect {
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
  readonly width: number;
  readonly height: number;
}

const CHROMIUM = '/usr/bin/chromium';
const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('tick marks', () => {
  it('are round numbers that span the range', () => {
    expect(ticks(-2.3, 2.6)).toEqual({ values: [-2, -1, 0, 1, 2], step: 1 });
    expect(ticks(0, 0.00042).step).toBe(0.0001);
    expect(tickLabel(0.0003, 0.0001)).toBe('3e−4');
    expect(tickLabel(-1.5, 0.5)).toBe('−1.5');
    expect(tickLabel(250, 50)).toBe('250');
  });
});

describe.skipIf(!existsSync(CHROMIUM))('the phase portrait in a browser', () => {
  let browser: Browser;
  let svg: string;
  const request = {
    hamiltonian: { kinetic: 'demo-pendulum-T', potential: 'demo-pendulum-V' },
    method: 'stormer-verlet',
    h: 0.05,
    steps: 2000,
    every: 5,
    initial: [[1, 0], [0.5, 0.5], [2.5, 0]],
  };

  beforeAll(async () => {
    const { http } = await startApp();
    const response = await http.post('/flows').set('accept', 'image/svg+xml').send(request).buffer(true).parse((res, done) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => done(null, text));
    });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^image\/svg\+xml/);
    svg = response.body as string;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: flags });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  const open = async (): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width: 800, height: 820 } });
    await page.setContent(`<!doctype html><body style="margin:0">${svg.replace(/^<\?xml[^>]*>\s*/, '')}</body>`);
    return page;
  };

  it('parses as XML', async () => {
    const page = await browser.newPage();
    const parsed = await page.evaluate((text) => {
      const document = new DOMParser().parseFromString(text, 'image/svg+xml');
      return { error: document.querySelector('parsererror')?.textContent ?? null, root: document.documentElement.nodeName, polylines: document.querySelectorAll('polyline').length };
    }, svg);
    expect(parsed).toEqual({ error: null, root: 'svg', polylines: 6 });
  });

  it('lays out axes, ticks, labels and a legend inside the picture', async () => {
    const page = await open();
    const layout = await page.evaluate(() => {
      const root = document.querySelector('svg')!.getBoundingClientRect();
      const inside = (r: DOMRect) => r.width > 0 && r.height > 0 && r.left >= root.left - 0.5 && r.right <= root.right + 0.5 && r.top >= root.top - 0.5 && r.bottom <= root.bottom + 0.5;
      const texts: { text: string; box: DOMRect; cls: string | null }[] = [...document.querySelectorAll('text')].map((t: any) => ({ text: t.textContent ?? '', box: t.getBoundingClientRect(), cls: t.getAttribute('class') }));
      const curves: DOMRect[] = [...document.querySelectorAll('polyline')].map((p: any) => p.getBoundingClientRect());
      // No two labels overlap.
      let overlaps = 0;
      for (let i = 0; i < texts.length; i++) {
        for (let j = i + 1; j < texts.length; j++) {
          const a = texts[i].box;
          const b = texts[j].box;
          if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) overlaps++;
        }
      }
      return {
        allInside: texts.every((t) => inside(t.box)) && curves.every((c) => inside(c)),
        ticks: texts.filter((t) => t.cls === 'tick').length,
        labels: texts.filter((t) => t.cls === 'label').map((t) => t.text),
        legend: texts.filter((t) => t.cls === 'legend').map((t) => t.text),
        overlaps,
        curveSizes: curves.map((c) => Math.round(c.width * c.height)),
      };
    });
    expect(layout.allInside).toBe(true);
    expect(layout.overlaps).toBe(0);
    expect(layout.ticks).toBeGreaterThanOrEqual(12);
    expect(layout.labels).toEqual(expect.arrayContaining(['q', 'p', 't', 'H − H₀']));
    expect(layout.legend).toEqual(expect.arrayContaining(['(1, 0)', '(0.5, 0.5)', '(2.5, 0)', 'T: demo-pendulum-T', 'V: demo-pendulum-V']));
    expect(layout.curveSizes.every((size) => size > 100)).toBe(true);
  });

  it('renders visible curves in each trajectory’s colour', async () => {
    const page = await open();
    const png = await page.locator('svg').screenshot();
    const colours = await page.evaluate(async (base64) => {
      const image = new Image();
      image.src = `data:image/png;base64,${base64}`;
      await image.decode();
      const canvas = document.createElement('canvas');
      canvas.width = image.width;
      canvas.height = image.height;
      const context = canvas.getContext('2d')!;
      context.drawImage(image, 0, 0);
      const { data } = context.getImageData(0, 0, image.width, image.height);
      const count = (r: number, g: number, b: number) => {
        let n = 0;
        for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40 && Math.abs(data[i + 2] - b) < 40) n++;
        return n;
      };
      return [count(0x00, 0x72, 0xb2), count(0xd5, 0x5e, 0x00), count(0x00, 0x9e, 0x73)];
    }, png.toString('base64'));
    for (const pixels of colours) expect(pixels).toBeGreaterThan(200);
  });
});
