import { readFileSync } from 'node:fs';

/** One case of test/fixtures/resnet-vectors.json: a model in the API's body shape, with expected results. */
export interface FixtureCase {
  readonly case: string;
  readonly K: number;
  readonly d: number;
  readonly inputDim: number;
  readonly model: {
    readonly name: string;
    readonly activation: string;
    readonly output: string;
    readonly h: number;
    readonly W: number[][][];
    readonly b: number[][];
    readonly w: number[];
    readonly mu: number;
    readonly inputDim?: number;
  };
  readonly points: number[][];
  readonly values: number[];
  readonly gradients: number[][];
}

/** Vectors from an independent float64 numpy implementation of the network. */
export const fixtureCases: readonly FixtureCase[] = JSON.parse(
  readFileSync(new URL('../fixtures/resnet-vectors.json', import.meta.url), 'utf8'),
).cases;

/** |got − want| ≤ rtol · max(1, |want|), the agreement the fixtures are held to. */
export const agrees = (got: number, want: number, rtol = 1e-12): boolean =>
  Math.abs(got - want) <= rtol * Math.max(1, Math.abs(want));
