import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[]; optional?: boolean }>;
};

describe('engines', () => {
  const ours = manifest.engines.node;

  it('admits the Node release running the tests', () => {
    expect(semver.satisfies(process.versions.node, ours)).toBe(true);
  });

  // npm ci prints EBADENGINE for any locked package whose range leaves out the running Node;
  // every release that package.json admits must satisfy every locked package.
  it('claims no Node release that a locked package refuses', () => {
    const refusing = Object.entries(lock.packages)
      .filter(([path]) => path !== '')
      .flatMap(([path, entry]) => {
        const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
        if (range === undefined) return [];
        const valid = semver.validRange(range) !== null;
        return valid && semver.subset(ours, range) ? [] : [`${path}@${entry.version}: node ${range}`];
      });
    expect(refusing, `package.json claims node ${ours}`).toEqual([]);
  });
});
