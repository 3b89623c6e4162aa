import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { startApp } from '../helpers/app.js';

v8.setFlagsFromString('--expose-gc');
// Buffers freed by a collection are otherwise swept on a background thread, and until then they
// still count in arrayBuffers: on a busy machine, right after gc(), up to ~13 MB of garbage.
v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping');
const gc = vm.runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;

/** Retained memory (heap and array buffers) after a full collection. */
function retained(): number {
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

describe('requests over a size limit are refused before anything large is allocated', () => {
  it('a seeded model with K·d² over MAX_MODEL_WEIGHTS: 413, and the peak memory does not move', async () => {
    const { http } = await startApp();
    // K·d² = 64·1024² = 67,108,864 weights: 512 MiB had W been allocated before the check.
    const huge = { layers: 64, dim: 1024, seed: 1 };
    await http.post('/models').send(huge).expect(413);
    const peakBefore = process.resourceUsage().maxRSS * 1024;
    const before = retained();
    for (let i = 0; i < 20; i++) await http.post('/models').send(huge).expect(413);
    expect(process.resourceUsage().maxRSS * 1024 - peakBefore).toBeLessThan(64 * MiB);
    expect(retained() - before).toBeLessThan(4 * MiB);
  });

  it('an absurd seeded model (K = d = 10⁹) is a 413, not a crash', async () => {
    const { http } = await startApp();
    const response = await http.post('/models').send({ layers: 1e9, dim: 1e9, seed: 1 }).expect(413);
    expect(response.body.detail).toContain('(MAX_MODEL_WEIGHTS)');
  });

  it('points over MAX_POINTS: 413 each time, and retained memory stays flat', async () => {
    const { http } = await startApp({ MAX_POINTS: '1000' });
    const text = JSON.stringify({ modelId: 'demo', points: Array.from({ length: 100_000 }, (_, i) => [i, -i]) });
    const send = () => http.post('/gradient').set('content-type', 'application/json').send(text).expect(413);
    await send();
    const before = retained();
    for (let i = 0; i < 30; i++) await send();
    expect(retained() - before).toBeLessThan(4 * MiB);
  });
});
