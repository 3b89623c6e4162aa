/**
 * A throwaway PostgreSQL cluster, for the tests and `npm run load -- --registry postgres`:
 * Debian's `postgresql` binaries, `initdb` into a temporary folder (as the `postgres` user when
 * this runs as root, since initdb refuses root), a server on a free loopback port, removed by
 * destroy() or when the process exits.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { freePort } from './free-port.js';

/** The folder of initdb, pg_ctl and postgres: PG_BIN, or the newest of Debian's. */
function findBinaries(): string | undefined {
  const candidates = process.env.PG_BIN
    ? [process.env.PG_BIN]
    : existsSync('/usr/lib/postgresql')
      ? readdirSync('/usr/lib/postgresql')
          .filter((version) => /^\d+$/.test(version))
          .sort((a, b) => Number(b) - Number(a))
          .map((version) => `/usr/lib/postgresql/${version}/bin`)
      : [];
  return candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
}

const binaries = findBinaries();

/** Whether a cluster can be started here. */
export const havePostgres = binaries !== undefined;

const asRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL program, as `postgres` when this is root. */
function run(program: string, args: readonly string[]): string {
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(binaries!, program), ...args]] : [join(binaries!, program), [...args]];
  return execFileSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Cluster {
  readonly port: number;
  /** A URL for `database` on this cluster. */
  url(database?: string): string;
  /** A new, empty database; its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server (fast shutdown: open connections are closed). */
  stop(): void;
  /** Starts it again on the same port and data. */
  start(): void;
  /** Stops it and removes its files. */
  destroy(): void;
}

/** Every cluster started and not yet destroyed. */
export const clusters = new Set<Cluster>();
process.once('exit', () => {
  for (const cluster of clusters) cluster.destroy();
});

/** initdb into a temporary folder and start a server on a free port. */
export async function startCluster(): Promise<Cluster> {
  if (binaries === undefined) throw new Error('no PostgreSQL binaries');
  const root = mkdtempSync(join(tmpdir(), 'resnet-pg-'));
  const data = join(root, 'data');
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(root, uid, gid);
  }
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
  const port = await freePort();
  const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`;
  let running = false;
  let destroyed = false;
  const cluster: Cluster = {
    port,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async createDatabase() {
      const name = `t_${randomBytes(6).toString('hex')}`;
      const client = new pg.Client({ connectionString: cluster.url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return cluster.url(name);
    },
    start() {
      run('pg_ctl', ['-D', data, '-l', join(root, 'server.log'), '-o', options, '-w', '-t', '60', 'start']);
      running = true;
    },
    stop() {
      if (!running) return;
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      running = false;
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      clusters.delete(cluster);
      if (running) spawnSync(asRoot ? 'runuser' : join(binaries, 'pg_ctl'), asRoot ? ['-u', 'postgres', '--', join(binaries, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop'] : ['-D', data, '-m', 'immediate', '-w', 'stop']);
      running = false;
      rmSync(root, { recursive: true, force: true });
    },
  };
  clusters.add(cluster);
  cluster.start();
  return cluster;
}
