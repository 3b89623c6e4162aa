import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface RunningServer {
  readonly child: ChildProcess;
  readonly url: string;
  /** Every stdout line, parsed as JSON (the logs). */
  readonly logs: Record<string, unknown>[];
  readonly stderr: () => string;
  /** Settles when the process exits, with its code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every process started here: none outlives its test file, whatever the tests did. */
const started = new Set<ChildProcess>();
afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** How long a server may take to listen before the test gives up on it (and kills it). */
const LISTEN_TIMEOUT_MS = 20_000;

/** Starts the service as a real process (src/server.ts) on an ephemeral loopback port; it must log at info to be found. */
export async function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  let timer: NodeJS.Timeout | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        logs.push(line);
        const listening = /^Server listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(String(line.msg));
        if (listening) resolve(listening[1]);
      }
    });
    void exited.then(({ code }) => reject(new Error(`the server exited with code ${code} before listening: ${stderr}`)));
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server did not listen within ${LISTEN_TIMEOUT_MS} ms: ${stderr}`));
    }, LISTEN_TIMEOUT_MS);
  }).finally(() => clearTimeout(timer));
  return { child, url, logs, stderr: () => stderr, exited };
}

/** Runs the service with `env` and waits for it to exit on its own (for start-up failures). */
export async function runServerToExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const [code] = await once(child, 'exit');
  return { code, stderr };
}
