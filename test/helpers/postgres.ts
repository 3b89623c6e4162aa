/**
 * The tests' PostgreSQL: a throwaway cluster (scripts/postgres-cluster.ts) removed when the test
 * file ends. Without the server binaries the PostgreSQL tests are skipped, except under CI=true,
 * where that fails the run.
 */
import { afterAll } from 'vitest';
import { clusters, havePostgres } from '../../scripts/postgres-cluster.js';

export { havePostgres, startCluster, type Cluster } from '../../scripts/postgres-cluster.js';

if (!havePostgres && process.env.CI === 'true') {
  throw new Error('CI=true and no PostgreSQL server binaries (apt-get install postgresql, or set PG_BIN): the PostgreSQL tests cannot be skipped in CI');
}

afterAll(() => {
  for (const cluster of clusters) cluster.destroy();
});
