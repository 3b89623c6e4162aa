/**
 * Answers and compute requests as the codecs make and read them, without HTTP: a JSON answer is
 * the same text whether written as a string, as bytes here, or as bytes by the pool's threads as
 * slice follow-ups, and reads back to the result's doubles; the raw-float64 answer is the result's block; raw points
 * are the same whether they arrive with a length or are gathered; numeric arrays become points
 * with their shape kept.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { binaryAnswer, pointSetOf, readBinaryCompute } from '../../src/codecs/compute.js';
import { JsonAnswer, TEXT_POINTS } from '../../src/codecs/json/answer.js';
import { exactJson } from '../../src/codecs/json/exact.js';
import { scanWhole } from '../../src/codecs/json/numbers.js';
import { bytesSource } from '../../src/codecs/source.js';
import { createExecutor, sharedFloat64, type Result } from '../../src/compute/executor.js';
import { evaluate, gradientOperation, type Operation, type Output } from '../../src/compute/operations.js';
import { createPool } from '../../src/compute/pool.js';
import { createModel, randomParameters } from '../../src/kernels/index.js';
import { randomDoubles, sameBits } from '../helpers/bits.js';

const model = createModel(randomParameters({ layers: 3, dim: 3, inputDim: 2, seed: 4 }));
const pool = createPool(2);
afterAll(() => pool.close());

/** A result with the given outputs' numbers, as the executor would give it. */
function resultOf(operation: Operation, count: number, seed: bigint, pooled = false): Result {
  const sizes = operation.outputs.map((output: Output) => output.shape(model).reduce((a, b) => a * b, 1));
  const total = count * sizes.reduce((a, b) => a + b, 0);
  const numbers = randomDoubles(total, seed).map((x, i) => (i === 3 ? -0 : x / 2 ** 900));
  const block = sharedFloat64(total);
  block.set(numbers);
  const outputs: Float64Array[] = [];
  let at = 0;
  for (const size of sizes) {
    outputs.push(block.subarray(at, at + count * size));
    at += count * size;
  }
  return { operation, model, count, block, outputs, pooled, followUps: null };
}

/** The answer exactJson writes for the same result: the text every path must give. */
function expectedText(head: Record<string, unknown>, result: Result): string {
  const members: Record<string, unknown> = { ...head };
  result.operation.outputs.forEach((output, o) => {
    const shape = output.shape(model);
    const values = [...result.outputs[o]];
    members[output.name] = shape.length === 0 ? values : Array.from({ length: result.count }, (_, p) => values.slice(p * shape[0], (p + 1) * shape[0]));
  });
  return exactJson(members);
}

const text = (answer: string | Buffer[]) => (typeof answer === 'string' ? answer : Buffer.concat(answer).toString());

const memory = { shared: sharedFloat64, local: (length: number) => new Float64Array(length) };
const writeHere = (head: Record<string, unknown>, result: Result) => new JsonAnswer(result.operation, memory).write(head, result);

describe('JSON answers', () => {
  it.each([1, TEXT_POINTS - 1, TEXT_POINTS, 5_001])('of %i points: the same text as a string, as bytes here, and as bytes written by the pool’s threads', async (count) => {
    for (const operation of [evaluate, gradientOperation]) {
      const head = { modelId: 'm' };
      const expected = resultOf(operation, count, 9n);
      const here = writeHere(head, expected);
      expect(typeof here).toBe(count < TEXT_POINTS ? 'string' : 'object');
      expect(text(here) === expectedText(head, expected)).toBe(true);
      // The same numbers computed on the pool, in slices whose follow-ups write the text.
      const points = randomDoubles(count * model.inputDim, 9n).map((x) => x / 2 ** 1000);
      const answer = new JsonAnswer(operation, memory);
      const executor = createExecutor({ pool, poolMinFlops: 0, maxPoints: 1e6, maxRequestFlops: 1e12 });
      const pooled = await executor.run(operation, model, { points: { kind: 'set', name: 'points', data: Float64Array.from(points), count, width: model.inputDim, irregular: null, finite: false } }, { followUp: answer.followUp });
      expect(pooled.pooled).toBe(true);
      // The threads write the text of long answers only: a short one is a string, written here.
      if (count < TEXT_POINTS) expect(pooled.followUps).toBeNull();
      else expect(pooled.followUps?.length).toBe(2);
      expect(text(answer.write(head, pooled)) === text(writeHere(head, { ...pooled, followUps: null }))).toBe(true);
    }
  });

  it('read back to the result’s doubles, −0 included', () => {
    const result = resultOf(gradientOperation, 200, 3n);
    const answer = JSON.parse(text(writeHere({}, result)));
    expect(sameBits(Float64Array.from(answer.values), result.outputs[0])).toBe(true);
    expect(sameBits(Float64Array.from(answer.gradients.flat()), result.outputs[1])).toBe(true);
    expect(text(writeHere({}, result))).toContain('-0');
  });
});

describe('raw float64s', () => {
  it('the answer is the block as it is, with the points and inputDim in headers', () => {
    const result = resultOf(gradientOperation, 10, 5n);
    const { body, headers } = binaryAnswer(result);
    expect(sameBits(new Float64Array(new Uint8Array(body).buffer), result.block)).toBe(true);
    expect(headers).toEqual({ 'x-points': '10', 'x-input-dim': '2' });
  });

  it('points with a declared length and points gathered (no length) reach the executor as the same numbers', async () => {
    const points = Float64Array.from(randomDoubles(2 * 3_000, 11n));
    const bytes = new Uint8Array(points.buffer);
    const executor = createExecutor({ pool: null, poolMinFlops: 1e12, maxPoints: 1e6, maxRequestFlops: 1e12 });
    const answers: Float64Array[] = [];
    for (const declared of [true, false]) {
      const decoded = await readBinaryCompute(bytesSource(bytes, declared), { id: 'm' }, (length) => new Uint8Array(length));
      expect(decoded.inputs.points.kind).toBe('incoming');
      // Random bit patterns are mostly huge: the kernels' results may overflow; the points are what matters.
      const result = await Promise.resolve().then(() => executor.run(evaluate, model, decoded.inputs)).catch((error: Error) => error);
      answers.push(result instanceof Error ? new Float64Array(0) : result.block);
    }
    expect(sameBits(answers[0], answers[1])).toBe(true);
  });
});

describe('numeric arrays as points', () => {
  it('keep their count, the width of the first point, and the first point of another width', () => {
    const regular = pointSetOf('points', scanWhole(Buffer.from('[[1,2],[3,4],[5,6]]'), { minRank: 2, maxRank: 2, maxOuter: 10, maxNumbers: 100 }));
    expect(regular).toMatchObject({ count: 3, width: 2, irregular: null, finite: true });
    const ragged = pointSetOf('points', scanWhole(Buffer.from('[[1,2],[3,4],[5]]'), { minRank: 2, maxRank: 2, maxOuter: 10, maxNumbers: 100 }));
    expect(ragged).toMatchObject({ count: 3, width: 2, irregular: { index: 2, length: 1 } });
  });
});
