/**
 * Checks the Dockerfile's recipe without a Docker engine (npm run image:check).
 *
 * It reads the Dockerfile, checks what the runtime image must declare (NODE_ENV=production, a
 * non-root USER, EXPOSE, a HEALTHCHECK, tini as ENTRYPOINT, an exec-form CMD that starts node),
 * then replays the stages in a temporary folder: each stage's COPY takes a clean copy of what it
 * names (from the build context, filtered by .dockerignore, or from an earlier stage), and its RUN
 * lines run there, with a private npm cache, except system package installs (apt-get), which
 * only an image build can do. Finally it starts the runtime stage's own ENTRYPOINT and CMD, as
 * the Dockerfile's USER when this machine has that user and otherwise as another unprivileged
 * user, waits until the HEALTHCHECK command succeeds, makes a real /gradient call, sends SIGTERM
 * and expects exit code 0.
 */
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';

const context = fileURLToPath(new URL('../', import.meta.url));
const keep = process.argv.includes('--keep');

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

interface Stage {
  readonly name: string;
  readonly instructions: Instruction[];
}

function fail(message: string): never {
  console.error(`image:check: ${message}`);
  process.exit(1);
}

/** The Dockerfile's instructions grouped by stage, continuation lines joined and ARGs substituted. */
function parseDockerfile(text: string): Stage[] {
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i];
    while (line.trimEnd().endsWith('\\') && i + 1 < lines.length) line = `${line.trimEnd().slice(0, -1)} ${lines[++i].trim()}`;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [, keyword, rest] = /^(\S+)\s*(.*)$/s.exec(trimmed)!;
    const substituted = rest.replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? '');
    const instruction = { keyword: keyword.toUpperCase(), args: substituted, line: start + 1 };
    if (instruction.keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = substituted.split('=');
      args.set(name, value);
    } else if (instruction.keyword === 'FROM') {
      const name = /\bAS\s+(\S+)/i.exec(substituted)?.[1] ?? String(stages.length);
      stages.push({ name, instructions: [instruction] });
    } else {
      if (stages.length === 0) fail(`line ${instruction.line}: ${keyword} before FROM`);
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

const execForm = (instruction: Instruction): string[] => {
  try {
    const parsed: unknown = JSON.parse(instruction.args);
    if (Array.isArray(parsed) && parsed.every((part) => typeof part === 'string')) return parsed;
  } catch {}
  return fail(`line ${instruction.line}: ${instruction.keyword} must be in exec form (a JSON array), got ${instruction.args}`);
};

/** ENV lines in either form: `ENV A=1 B=2` or `ENV A 1`. */
function envOf(instruction: Instruction): Record<string, string> {
  if (!instruction.args.includes('=')) {
    const [name, ...value] = instruction.args.split(/\s+/);
    return { [name]: value.join(' ') };
  }
  return Object.fromEntries([...instruction.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map((m) => [m[1], m[2].replace(/^"|"$/g, '')]));
}

/** .dockerignore patterns as a predicate over context-relative paths (the subset this repo uses). */
function dockerignore(): (path: string) => boolean {
  const file = join(context, '.dockerignore');
  const patterns = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line && !line.startsWith('#'))
    : [];
  const regexes = patterns.map(
    (pattern) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`),
  );
  return (path) => regexes.some((regex) => regex.test(path));
}

function run(command: string, options: SpawnOptions): void {
  console.log(`  $ ${command}`);
  const result = spawnSync('sh', ['-c', command], { stdio: 'inherit', ...options });
  if (result.status !== 0) fail(`"${command}" exited with ${result.status}`);
}

/** The user to run as: the Dockerfile's when it exists here, another unprivileged one as root, or ourselves. */
function runAs(user: string | undefined): { uid?: number; gid?: number; name: string } {
  if (process.getuid?.() !== 0) return { name: `${userInfo().username} (not root, so no switch)` };
  for (const candidate of [user, 'nobody']) {
    if (!candidate) continue;
    const id = spawnSync('id', ['-u', candidate], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', candidate], { encoding: 'utf8' });
    if (id.status === 0) return { uid: Number(id.stdout), gid: Number(gid.stdout), name: candidate };
  }
  return fail('running as root, and neither the Dockerfile\'s USER nor nobody exists here');
}

const dockerfile = parseDockerfile(readFileSync(join(context, 'Dockerfile'), 'utf8'));
const runtime = dockerfile.at(-1)!;
const last = (keyword: string) => runtime.instructions.filter((i) => i.keyword === keyword).at(-1);

// What the runtime image must declare.
const env = Object.assign({}, ...runtime.instructions.filter((i) => i.keyword === 'ENV').map(envOf)) as Record<string, string>;
const user = last('USER')?.args;
const cmd = last('CMD') ? execForm(last('CMD')!) : fail('the runtime stage has no CMD');
const entrypoint = last('ENTRYPOINT') ? execForm(last('ENTRYPOINT')!) : [];
const healthcheck = last('HEALTHCHECK');
const checks: [boolean, string][] = [
  [env.NODE_ENV === 'production', 'ENV NODE_ENV=production'],
  [user !== undefined && user !== 'root' && user !== '0', 'a non-root USER'],
  [last('EXPOSE') !== undefined, 'EXPOSE'],
  [healthcheck !== undefined && /\bCMD\s+\[/.test(healthcheck.args), 'a HEALTHCHECK in exec form'],
  [/\/tini$/.test(entrypoint[0] ?? ''), 'tini as ENTRYPOINT'],
  [cmd[0] === 'node', 'CMD ["node", …] (never npm start)'],
  [/^node:2[24]\.\d+\.\d+-[a-z]+-slim$/.test(/^(\S+)/.exec(runtime.instructions[0].args)?.[1] ?? ''), 'a pinned Node 22 or 24 slim base'],
];
for (const [ok, what] of checks) console.log(`${ok ? 'ok  ' : 'FAIL'} runtime stage declares ${what}`);
if (checks.some(([ok]) => !ok)) fail('the runtime stage is missing declarations');

// Replay the stages.
const root = mkdtempSync(join(tmpdir(), 'image-check-'));
chmodSync(root, 0o755);
const npmCache = join(root, '.npm-cache');
const ignored = dockerignore();
const stageRoots = new Map<string, string>();
for (const stage of dockerfile) {
  const stageRoot = join(root, stage.name);
  stageRoots.set(stage.name, stageRoot);
  let workdir = '/';
  const stageEnv: Record<string, string> = {};
  console.log(`stage ${stage.name}`);
  for (const instruction of stage.instructions.slice(1)) {
    const inside = (path: string) => join(stageRoot, posix.resolve(workdir, path));
    switch (instruction.keyword) {
      case 'WORKDIR':
        workdir = posix.resolve(workdir, instruction.args);
        mkdirSync(inside('.'), { recursive: true });
        break;
      case 'ENV':
        Object.assign(stageEnv, envOf(instruction));
        break;
      case 'COPY': {
        const parts = instruction.args.split(/\s+/);
        const from = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length);
        const paths = parts.filter((p) => !p.startsWith('--'));
        const destination = paths.pop()!;
        for (const source of paths) {
          const origin = from ? join(stageRoots.get(from) ?? fail(`line ${instruction.line}: no stage ${from}`), source) : join(context, source);
          const target = destination.endsWith('/') ? join(inside(destination), posix.basename(source)) : inside(destination);
          console.log(`  COPY ${from ? `${from}:` : ''}${source} → ${posix.join(workdir, relative(inside('.'), target))}`);
          mkdirSync(dirname(target), { recursive: true });
          cpSync(origin, target, {
            recursive: true,
            filter: (path) => from !== undefined || !ignored(relative(context, path)) || relative(context, path) === source,
          });
        }
        break;
      }
      case 'RUN':
        if (/\bapt-get\b/.test(instruction.args)) {
          console.log(`  (skipped: ${instruction.args.slice(0, 60)}… installs system packages, which only an image build can do)`);
          break;
        }
        if (/\bchown\b|^mkdir -p \//.test(instruction.args)) {
          console.log(`  (skipped: ${instruction.args.slice(0, 60)}… prepares a path outside /app)`);
          break;
        }
        run(instruction.args, { cwd: inside('.'), env: { ...process.env, ...stageEnv, npm_config_cache: npmCache, npm_config_update_notifier: 'false' } });
        break;
      default:
        break;
    }
  }
}

// Start the runtime stage as the image would.
const appDir = join(stageRoots.get(runtime.name)!, runtime.instructions.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args ?? '/');
spawnSync('chmod', ['-R', 'a+rX', root]);
const port = await freePort();
// tini is PID 1 in the container; here it registers as a child subreaper instead.
const runEnv = { ...env, PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', TINI_SUBREAPER: '1' };
const account = runAs(user);
const hasInit = entrypoint.length > 0 && existsSync(entrypoint[0]);
const command = hasInit ? [...entrypoint, ...cmd] : cmd;
if (!hasInit) console.log(`note: ${entrypoint[0]} is not installed here (apt-get install tini); running CMD without it`);
console.log(`start: ${JSON.stringify(command)} in ${appDir} as ${account.name}, PORT=${port} (HOST=127.0.0.1 instead of ${env.HOST})`);
const child = spawn(command[0], command.slice(1), { cwd: appDir, env: runEnv, uid: account.uid, gid: account.gid, stdio: 'inherit' });
const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

try {
  const probe = execForm({ ...healthcheck!, args: /\bCMD\s+(\[.*\])\s*$/s.exec(healthcheck!.args)![1] });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const result = spawnSync(probe[0], probe.slice(1), { env: runEnv, uid: account.uid, gid: account.gid, timeout: 3000 });
    if (result.status === 0) break;
    if (child.exitCode !== null || Date.now() > deadline) fail('the HEALTHCHECK never succeeded');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  console.log('ok   HEALTHCHECK succeeds (readiness)');

  const response = await fetch(`http://127.0.0.1:${port}/gradient`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ modelId: 'demo', points: [[0.5, -0.25]] }),
  });
  const body = (await response.json()) as { values?: number[]; gradients?: number[][] };
  if (response.status !== 200 || body.values?.length !== 1 || body.gradients?.[0]?.length !== 2) {
    fail(`POST /gradient answered ${response.status}: ${JSON.stringify(body)}`);
  }
  console.log(`ok   POST /gradient → 200 ${JSON.stringify(body)}`);

  child.kill('SIGTERM');
  const [code, signal] = await Promise.race([
    exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no exit within 15 s of SIGTERM')), 15_000)),
  ]);
  if (code !== 0) fail(`after SIGTERM the process exited with code ${code} (signal ${signal})`);
  console.log('ok   SIGTERM → exit code 0');
} finally {
  if (child.exitCode === null) child.kill('SIGKILL');
  if (keep) console.log(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
}
console.log('image:check passed');
