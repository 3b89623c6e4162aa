/**
 * The durable registry's folder as it is in real deployments: a disk that fills up, files that
 * are not model files, a folder the service may not write. Real folders, a real (small) tmpfs and
 * the real process: a full disk is a 507 that leaves nothing behind, start-up skips what it must
 * not read, and a read-only folder is a configuration error that names REGISTRY_DIR.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runServerToExit, startServer } from '../helpers/server.js';
import { BUILT_IN_MODEL_IDS } from '../../src/registry/demo.js';

const folders: string[] = [];
const mounts: string[] = [];
afterAll(() => {
  for (const mount of mounts) spawnSync('umount', [mount]);
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

const folder = () => {
  const dir = mkdtempSync(join(tmpdir(), 'registry-dir-'));
  folders.push(dir);
  return dir;
};

/** A tmpfs of `size` at a new folder (needs root, as CI runs). */
function tmpfs(size: string, readOnly = false): string {
  const dir = folder();
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}${readOnly ? ',ro' : ''}`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

const canMount = process.getuid?.() === 0 && process.platform === 'linux';

describe('a full disk (REGISTRY_DIR on a 1 MiB tmpfs)', () => {
  it.runIf(canMount)('creates that do not fit get 507 and leave no temporary file; what fitted is served', async () => {
    const dir = tmpfs('1m');
    const server = await startServer({ REGISTRY_DIR: dir });
    try {
      const statuses: number[] = [];
      let refused: { type: string; detail: string } | undefined;
      // About 150 KB a model: the seventh or so does not fit.
      for (let i = 0; i < 12; i++) {
        const response = await fetch(`${server.url}/models`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ layers: 6, dim: 64, seed: i }),
        });
        statuses.push(response.status);
        const body = (await response.json()) as { type: string; detail: string };
        if (response.status === 507) refused = body;
      }
      expect(statuses.filter((status) => status === 201).length).toBeGreaterThan(2);
      expect(statuses.filter((status) => status === 507).length).toBeGreaterThan(2);
      expect(statuses.every((status) => status === 201 || status === 507)).toBe(true);
      expect(refused).toMatchObject({ type: '/problems/insufficient-storage', detail: "the registry's storage is full (ENOSPC); nothing was stored" });
      expect(readdirSync(dir).filter((file) => file.includes('.tmp-'))).toEqual([]);
      const listed = (await (await fetch(`${server.url}/models`)).json()) as { models: unknown[] };
      expect(listed.models).toHaveLength(BUILT_IN_MODEL_IDS.length + statuses.filter((status) => status === 201).length);
      expect((await fetch(`${server.url}/gradient`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"modelId":"demo","points":[[1,2]]}' })).status).toBe(200);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 60_000);
});

describe('files in the folder that are not model files', () => {
  it('a FIFO, a link to /dev/zero, a folder and an oversized file named *.model are skipped and logged; start-up is ready at once', async () => {
    const dir = folder();
    execFileSync('mkfifo', [join(dir, 'fifo.model')]);
    symlinkSync('/dev/zero', join(dir, 'zero.model'));
    mkdirSync(join(dir, 'folder.model'));
    writeFileSync(join(dir, 'huge.model'), Buffer.alloc(2 * 1024 * 1024));
    const started = Date.now();
    const server = await startServer({ REGISTRY_DIR: dir, MAX_MODEL_WEIGHTS: '10000' });
    try {
      expect(Date.now() - started).toBeLessThan(10_000);
      expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);
      const skipped = server.logs.filter((line) => line.msg === 'skipped a model file that cannot be read').map((line) => [String(line.file).split('/').pop(), line.reason]);
      expect(skipped).toEqual(
        expect.arrayContaining([
          ['fifo.model', 'not a regular file'],
          ['zero.model', 'not a regular file'],
          ['folder.model', 'not a regular file'],
          ['huge.model', expect.stringMatching(/^2097152 bytes, more than a model within MAX_MODEL_WEIGHTS takes/)],
        ]),
      );
      expect(existsSync(join(dir, 'demo@1.model'))).toBe(true);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 30_000);
});

describe('a folder the service may not write', () => {
  it.runIf(canMount)('an empty, read-only REGISTRY_DIR stops start-up with a message naming it, and no stack trace', async () => {
    const dir = tmpfs('1m', true);
    const { code, stderr } = await runServerToExit({ REGISTRY_DIR: dir });
    expect(code).toBe(1);
    expect(stderr).toContain(`REGISTRY_DIR "${dir}" cannot be written (EROFS)`);
    expect(stderr).not.toMatch(/\n\s+at /);
  }, 30_000);
});
