/**
 * The TypeScript client (clients/typescript) as another project uses it: its generated types are
 * those of openapi/openapi.json as it is now; it builds into a package (JavaScript and
 * declarations); a separate project that depends on that package type-checks and runs against a
 * real service, over JSON and raw float64s; and a Störmer–Verlet loop written with it agrees with
 * POST /flows.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const clientDir = join(root, 'clients/typescript');
const bin = (name: string) => join(root, 'node_modules/.bin', name);

const work = mkdtempSync(join(tmpdir(), 'ts-client-'));
let server: RunningServer;
let client: typeof import('../../clients/typescript/src/index.js');

beforeAll(async () => {
  server = await startServer();
  // The package as it would be published: package.json and the built dist/.
  const pkg = join(work, 'node_modules/@resnet-gradient/client');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(clientDir, 'package.json'), join(pkg, 'package.json'));
  await run(bin('tsc'), ['-p', join(clientDir, 'tsconfig.json'), '--outDir', join(pkg, 'dist')], { cwd: root });
  // Its one dependency, as npm would install it beside it.
  symlinkSync(join(root, 'node_modules/openapi-fetch'), join(work, 'node_modules/openapi-fetch'));
  client = await import(join(pkg, 'dist/index.js'));
}, 120_000);
afterAll(() => {
  server?.child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

describe('the TypeScript client', () => {
  it("has the types openapi-typescript generates from the service's OpenAPI document now", async () => {
    const fresh = join(work, 'schema.ts');
    await run(bin('openapi-typescript'), [join(root, 'openapi/openapi.json'), '-o', fresh], { cwd: root });
    expect(readFileSync(join(clientDir, 'src/schema.ts'), 'utf8')).toBe(readFileSync(fresh, 'utf8'));
  }, 60_000);

  it('works against the service: typed JSON calls, raw float64s both ways, ProblemError with the problem details', async () => {
    const api = client.createClient({ baseUrl: server.url });
    const { values, gradients, modelVersion } = await api.gradient('demo', [[0.5, -0.25]]);
    expect([values, gradients, modelVersion]).toEqual([[0.27701583406928443], [[0.08008308634359138, -0.34667681253370525]], 1]);
    const points = Float64Array.from({ length: 2000 }, (_, i) => Math.sin(i));
    const batch = await api.gradientBinary('demo', points, 2);
    expect([batch.count, batch.width, batch.modelVersion]).toEqual([1000, 2, 1]);
    const asJson = await api.gradient('demo', [Array.from(points.subarray(1998))]);
    expect(batch.values[999]).toBe(asJson.values[0]);
    expect(Array.from(batch.gradients!.subarray(1998))).toEqual(asJson.gradients[0]);
    const hessian = await api.hessianBinary('demo', points.subarray(0, 2), 2);
    expect(Array.from(hessian.hessians!)).toEqual((await api.hessian('demo', [[points[0], points[1]]])).hessians[0].flat());
    const models = api.unwrap(await api.api.GET('/models/{id}', { params: { path: { id: 'demo-pendulum-T' } } }));
    expect(models.inputDim).toBe(1);

    const wrongWidth = await api.gradient('demo', [[1, 2, 3]]).catch((error: unknown) => error);
    expect(wrongWidth).toBeInstanceOf(client.ProblemError);
    expect([(wrongWidth as InstanceType<typeof client.ProblemError>).status, (wrongWidth as InstanceType<typeof client.ProblemError>).kind]).toEqual([422, 'invalid-points']);
    expect((wrongWidth as InstanceType<typeof client.ProblemError>).problem.detail).toBe("points[0] has 3 coordinates, expected 2 (the model's inputDim)");
    const missing = await api.gradientBinary('nothing', points, 2).catch((error: unknown) => error);
    expect((missing as InstanceType<typeof client.ProblemError>).status).toBe(404);
  });

  it('is a package another project depends on: it compiles against its declarations and runs a Störmer–Verlet loop that agrees with POST /flows', async () => {
    writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
    writeFileSync(
      join(work, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2023', lib: ['ES2023', 'DOM'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', skipLibCheck: false, types: [] }, include: ['loop.ts'] }),
    );
    writeFileSync(
      join(work, 'loop.ts'),
      `import { createClient, ProblemError } from '@resnet-gradient/client';

const client = createClient({ baseUrl: process.argv[2] });
const h = 0.05;
const steps = 40;
const grad = async (modelId: string, x: number): Promise<number> => (await client.gradient(modelId, [[x]])).gradients[0][0];
let q = 1;
let p = 0;
const trajectory: [number, number][] = [[q, p]];
for (let step = 0; step < steps; step++) {
  const half = p - (h / 2) * (await grad('demo-pendulum-V', q));
  q = q + h * (await grad('demo-pendulum-T', half));
  p = half - (h / 2) * (await grad('demo-pendulum-V', q));
  trajectory.push([q, p]);
}
const served = client.unwrap(
  await client.api.POST('/flows', {
    body: { hamiltonian: { kinetic: 'demo-pendulum-T', potential: 'demo-pendulum-V' }, method: 'stormer-verlet', h, steps, every: 1, initial: [[1, 0]] },
  }),
);
const worst = Math.max(...served.states[0].map((state: number[], i: number) => Math.max(Math.abs(state[0] - trajectory[i][0]), Math.abs(state[1] - trajectory[i][1]))));
console.log(JSON.stringify({ saves: served.states[0].length, worst, isProblem: new ProblemError(400, {}) instanceof Error }));
declare const process: { argv: string[] };
`,
    );
    await run(bin('tsc'), ['-p', join(work, 'tsconfig.json')], { cwd: work });
    const { stdout } = await run(process.execPath, [join(work, 'out/loop.js'), server.url], { cwd: work });
    const { saves, worst, isProblem } = JSON.parse(stdout) as { saves: number; worst: number; isProblem: boolean };
    expect(saves).toBe(41);
    expect(worst).toBeLessThanOrEqual(1e-12);
    expect(isProblem).toBe(true);
  }, 120_000);
});
