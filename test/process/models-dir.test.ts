/**
 * MODELS_DIR as KServe and deployments use it: a real folder of model files (a JSON document, an
 * .npz numpy wrote with its options beside it, a safetensors file with its options inside), and
 * files that do not load, given to the real process at start-up.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../src/codecs/tensors/safetensors.js';
import { runServerToExit, startServer, type RunningServer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'models-dir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const K = 3;
const d = 4;
/** Seeded numbers, the same in numpy and here. */
const numbers = (count: number, offset: number) => Array.from({ length: count }, (_, i) => Math.sin(offset + 0.37 * i) / 2);
const W = numbers(K * d * d, 1);
const b = numbers(K * d, 2);
const w = numbers(d, 3);
const nested = (flat: number[], ...shape: number[]): unknown => (shape.length === 1 ? flat : Array.from({ length: shape[0] }, (_, i) => nested(flat.slice((i * flat.length) / shape[0], ((i + 1) * flat.length) / shape[0]), ...shape.slice(1))));

let server: RunningServer;
beforeAll(async () => {
  const document = { h: 0.2, mu: 0.1, W: nested(W, K, d, d), b: nested(b, K, d), w, activation: 'tanh', inputDim: 2 };
  writeFileSync(join(dir, 'from-json.json'), JSON.stringify(document));
  // numpy writes the .npz, as a trainer would.
  execFileSync('python3', [
    '-c',
    `import json, sys, numpy as np
d = json.loads(sys.argv[1])
np.savez(sys.argv[2], W=np.array(d['W']), b=np.array(d['b']), w=np.array(d['w']), mu=np.array(d['mu']))`,
    JSON.stringify(document),
    join(dir, 'from-npz.npz'),
  ]);
  writeFileSync(join(dir, 'from-npz.options.json'), JSON.stringify({ h: 0.2, activation: 'tanh', inputDim: 2 }));
  const tensors = new Map([
    ['W', { shape: [K, d, d], data: Float64Array.from(W) }],
    ['b', { shape: [K, d], data: Float64Array.from(b) }],
    ['w', { shape: [d], data: Float64Array.from(w) }],
    ['mu', { shape: [], data: Float64Array.of(0.1) }],
  ]);
  writeFileSync(join(dir, 'from-safetensors.safetensors'), writeSafetensors(tensors, { h: '0.2', activation: 'tanh', inputDim: '2' }));
  // What does not load: a broken archive, a document that is not a model, a bad name, a folder, options without h.
  writeFileSync(join(dir, 'broken.npz'), 'PK not really');
  writeFileSync(join(dir, 'not-a-model.json'), JSON.stringify({ h: 0.1 }));
  writeFileSync(join(dir, 'bad name.json'), JSON.stringify(document));
  mkdirSync(join(dir, 'folder.json'));
  execFileSync('cp', [join(dir, 'from-npz.npz'), join(dir, 'no-options.npz')]);
  writeFileSync(join(dir, 'README.txt'), 'not a model file');
  server = await startServer({ MODELS_DIR: dir });
}, 60_000);
afterAll(() => server?.child.kill('SIGKILL'));

describe('MODELS_DIR', () => {
  it('registers every model file that loads, and /health/ready says which did not and why', async () => {
    const ready = (await (await fetch(`${server.url}/health/ready`)).json()) as { modelsDir: { dir: string; loaded: number; skipped: { file: string; reason: string }[] } };
    expect(ready.modelsDir.dir).toBe(dir);
    expect(ready.modelsDir.loaded).toBe(3);
    expect(Object.fromEntries(ready.modelsDir.skipped.map(({ file, reason }) => [file, reason]))).toEqual({
      'bad name.json': "bad name is not a model name (letters, digits, '.', '_' and '-')",
      'broken.npz': expect.stringMatching(/zip|archive|central directory/i),
      'folder.json': 'not a regular file',
      'no-options.npz': 'h is required: give it as ?h= (or, in a safetensors file, in __metadata__)',
      'not-a-model.json': expect.stringMatching(/W|required/),
    });
    const warnings = server.logs.filter((line) => line.level === 40 && String(line.msg).startsWith('MODELS_DIR: skipped'));
    expect(warnings).toHaveLength(5);
  });

  it('gives the three files the same model, bit for bit, whatever their format', async () => {
    const answers = await Promise.all(
      ['from-json', 'from-npz', 'from-safetensors'].map(async (modelId) => {
        const response = await fetch(`${server.url}/gradient`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ modelId, points: [[0.3, -0.7]] }) });
        expect(response.status).toBe(200);
        const { values, gradients } = (await response.json()) as { values: number[]; gradients: number[][] };
        return { values, gradients };
      }),
    );
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    const model = (await (await fetch(`${server.url}/models/from-npz`)).json()) as { W: number[][][]; version: number };
    expect(model.version).toBe(1);
    expect(model.W.flat(2)).toEqual(W);
  });

  it('stops the process with a message naming MODELS_DIR when the folder cannot be read', async () => {
    const { code, stderr } = await runServerToExit({ MODELS_DIR: join(dir, 'no-such-folder') });
    expect(code).toBe(1);
    expect(stderr).toContain(`MODELS_DIR: cannot read the folder ${join(dir, 'no-such-folder')} (ENOENT)`);
  });
});
