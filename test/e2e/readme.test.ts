/**
 * The README, as a newcomer follows it: every shell snippet, the Python snippets (in order, as one
 * session) and the TypeScript snippet run against a started service, and a snippet followed by an
 * `output` block prints exactly that. The only change made to them is the port: the service runs
 * on a free one. Blocks marked `setup` (installing, starting) are the newcomer test's.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { startServer } from '../helpers/server.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');

/** The fenced blocks of the README, with their info strings. */
const blocks = [...readme.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({ info: m[1].trim(), code: m[2] }));

const server = await startServer();
const port = new URL(server.url).port;
const local = (code: string) => code.replaceAll('localhost:3000', `localhost:${port}`).replaceAll('("localhost", 3000)', `("localhost", ${port})`);

describe('the README', () => {
  it('is short enough to read first: under 250 lines', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
  });

  it('has shell, Python and TypeScript snippets, and setup blocks', () => {
    const kinds = blocks.map((b) => b.info);
    expect(kinds).toContain('sh');
    expect(kinds).toContain('python');
    expect(kinds).toContain('ts');
    expect(kinds).toContain('sh setup');
  });

  it.each(blocks.map((block, i) => ({ ...block, next: blocks[i + 1], at: i })).filter((b) => b.info === 'sh'))('shell snippet $at runs', async ({ code, next }) => {
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', local(code)], { cwd: mkdtempSync(join(tmpdir(), 'readme-')), timeout: 30_000 });
    expect(stdout.length).toBeGreaterThan(0);
    if (next?.info === 'json output') expect(JSON.parse(stdout)).toEqual(JSON.parse(next.code));
  });

  it('Python snippets run, in order, as one session (the Python client, numpy)', async () => {
    const script = blocks.filter((b) => b.info === 'python').map((b) => local(b.code)).join('\n');
    const { stdout } = await run('python3', ['-c', script], { timeout: 60_000 });
    expect(stdout).toMatch(/\(10000,\) \(10000, 2\)/);
  }, 60_000);

  it('the TypeScript snippet runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'readme-'));
    const file = join(dir, 'snippet.mts');
    writeFileSync(file, blocks.filter((b) => b.info === 'ts').map((b) => local(b.code)).join('\n'));
    const { stdout } = await run(process.execPath, ['--import', 'tsx', file], { cwd: root.pathname, timeout: 30_000 });
    expect(stdout).toContain('values');
  }, 30_000);
});
