/**
 * The Python client's own tests (clients/python/test_resnet_gradient.py), against a real service:
 * once with numpy, once as on a machine without it.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';

const run = promisify(execFile);
const folder = fileURLToPath(new URL('../../clients/python/', import.meta.url));

let server: RunningServer;
beforeAll(async () => {
  server = await startServer();
}, 30_000);
afterAll(() => server?.child.kill('SIGKILL'));

describe('the Python client', () => {
  it.each([
    ['with numpy', '0', 0],
    ['without numpy', '1', 1],
  ])('passes its tests %s', async (_, hide, skipped) => {
    const { stderr } = await run('python3', ['-m', 'unittest', '-v', 'test_resnet_gradient'], {
      cwd: folder,
      env: { ...process.env, RESNET_URL: server.url, RESNET_HIDE_NUMPY: hide, PYTHONDONTWRITEBYTECODE: '1' },
      timeout: 60_000,
    });
    // unittest reports on stderr; a failure rejects (exit status 1) with the report.
    expect(stderr).toMatch(/^Ran 8 tests in /m);
    expect(stderr).toMatch(skipped === 0 ? /^OK$/m : new RegExp(`^OK \\(skipped=${skipped}\\)$`, 'm'));
    expect(stderr).toContain('test_stormer_verlet_by_hand_matches_the_server_flow');
  }, 60_000);
});
