import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'durability-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const awkward = [-0, 5e-324, 1.7976931348623157e308, -2.2250738585072014e-308, 0.1 + 0.2, 1 / 3];
let counter = 0;
/** A model body in JSON text (so that −0 survives), and the numbers it holds, in order. */
function modelText(): { text: string; numbers: number[] } {
  const next = () => {
    counter++;
    return counter % 4 === 0 ? awkward[counter % awkward.length] : Math.sin(counter) * 10 ** ((counter % 7) - 3);
  };
  const W = [0, 1].map(() => [0, 1, 2].map(() => [0, 1, 2].map(next)));
  const b = [0, 1].map(() => [0, 1, 2].map(next));
  const w = [0, 1, 2].map(next);
  const mu = next();
  const h = next();
  const json = (x: unknown): string => (Array.isArray(x) ? `[${x.map(json).join(',')}]` : Object.is(x, -0) ? '-0' : String(x));
  return {
    text: `{"h":${json(h)},"W":${json(W)},"b":${json(b)},"w":${json(w)},"mu":${json(mu)}}`,
    numbers: [h, ...W.flat(2), ...b.flat(), ...w, mu],
  };
}

describe('the durable registry under kill -9', () => {
  it('loses no acknowledged create and revives no acknowledged delete, bit for bit', async () => {
    const acknowledged = new Map<string, number[]>();
    const deleted = new Set<string>();
    // A delete sent but not acknowledged may or may not have happened.
    const deleteSent = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const server = await startServer({ REGISTRY_DIR: dir });
      let stop = false;
      const client = async () => {
        while (!stop) {
          const { text, numbers } = modelText();
          try {
            const response = await fetch(`${server.url}/models`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
            if (response.status !== 201) continue;
            const { id } = (await response.json()) as { id: string };
            acknowledged.set(id, numbers);
            if (acknowledged.size % 3 === 0) {
              deleteSent.add(id);
              const removal = await fetch(`${server.url}/models/${id}`, { method: 'DELETE' });
              if (removal.status === 204) deleted.add(id);
            }
          } catch {
            return; // the process is gone
          }
        }
      };
      const clients = Array.from({ length: 6 }, client);
      await new Promise((resolve) => setTimeout(resolve, 300 + 200 * round));
      server.child.kill('SIGKILL');
      await server.exited;
      stop = true;
      await Promise.all(clients);
    }
    expect(acknowledged.size).toBeGreaterThan(30);

    const server = await startServer({ REGISTRY_DIR: dir });
    try {
      for (const [id, numbers] of acknowledged) {
        const response = await fetch(`${server.url}/models/${id}`);
        if (deleted.has(id)) {
          expect(response.status, id).toBe(404);
          continue;
        }
        if (deleteSent.has(id) && response.status === 404) continue;
        expect(response.status, id).toBe(200);
        const model = JSON.parse(await response.text());
        const stored = [model.h, ...model.W.flat(2), ...model.b.flat(), ...model.w, model.mu];
        expect(stored.length).toBe(numbers.length);
        stored.forEach((x: number, i: number) => expect(Object.is(x, numbers[i]), `${id} number ${i}: ${x} ≠ ${numbers[i]}`).toBe(true));
      }
      // Nothing that failed part-way was logged as corrupt: every file that exists is whole.
      expect(server.logs.filter((line) => line.msg === 'skipped a model file that cannot be read')).toEqual([]);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 120_000);
});

describe('versions in the durable registry under kill -9', () => {
  it('keeps every acknowledged version bit for bit, and never gives an acknowledged version number again', async () => {
    const versionsDir = mkdtempSync(join(tmpdir(), 'durability-versions-'));
    const names = ['live-a', 'live-b', 'live-c'];
    /** name@version → the numbers acknowledged for it. */
    const acknowledged = new Map<string, number[]>();
    const deleted = new Set<string>();
    const deleteSent = new Set<string>();
    const highest = new Map<string, number>();
    try {
      for (let round = 0; round < 3; round++) {
        const server = await startServer({ REGISTRY_DIR: versionsDir, MAX_MODEL_VERSIONS: '1000' });
        let stop = false;
        const client = async (name: string) => {
          while (!stop) {
            const { text, numbers } = modelText();
            try {
              const response = await fetch(`${server.url}/models/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: text });
              if (response.status !== 200 && response.status !== 201) continue;
              const { version } = (await response.json()) as { version: number };
              acknowledged.set(`${name}@${version}`, numbers);
              highest.set(name, Math.max(highest.get(name) ?? 0, version));
              if (version % 3 === 0) {
                deleteSent.add(`${name}@${version}`);
                const removal = await fetch(`${server.url}/models/${name}/versions/${version}`, { method: 'DELETE' });
                if (removal.status === 204) deleted.add(`${name}@${version}`);
              }
            } catch {
              return; // the process is gone
            }
          }
        };
        const clients = [...names, ...names].map(client);
        await new Promise((resolve) => setTimeout(resolve, 300 + 200 * round));
        server.child.kill('SIGKILL');
        await server.exited;
        stop = true;
        await Promise.all(clients);
      }
      expect(acknowledged.size).toBeGreaterThan(20);

      const server = await startServer({ REGISTRY_DIR: versionsDir, MAX_MODEL_VERSIONS: '1000' });
      try {
        for (const [key, numbers] of acknowledged) {
          const [name, version] = key.split('@');
          const response = await fetch(`${server.url}/models/${name}/versions/${version}`);
          if (deleted.has(key)) {
            expect(response.status, key).toBe(404);
            continue;
          }
          if (deleteSent.has(key) && response.status === 404) continue;
          expect(response.status, key).toBe(200);
          const model = JSON.parse(await response.text());
          const stored = [model.h, ...model.W.flat(2), ...model.b.flat(), ...model.w, model.mu];
          stored.forEach((x: number, i: number) => expect(Object.is(x, numbers[i]), `${key} number ${i}: ${x} ≠ ${numbers[i]}`).toBe(true));
        }
        for (const name of names) {
          const next = await fetch(`${server.url}/models/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: modelText().text });
          expect(((await next.json()) as { version: number }).version, name).toBeGreaterThan(highest.get(name)!);
        }
        expect(server.logs.filter((line) => line.msg === 'skipped a model file that cannot be read')).toEqual([]);
      } finally {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    } finally {
      rmSync(versionsDir, { recursive: true, force: true });
    }
  }, 120_000);
});
