import { describe, expect, it } from 'vitest';
import { createModel, evaluate, valueAndGradient } from '../../src/kernels/index.js';
import { agrees, fixtureCases } from '../helpers/fixtures.js';

describe('shared fixture vectors (independent numpy float64 implementation)', () => {
  it('cover every activation and output function', () => {
    const seen = new Set(fixtureCases.map((c) => `${c.model.activation}/${c.model.output}`));
    expect([...seen].sort()).toEqual(expect.arrayContaining(['relu/logistic', 'sigmoid/identity', 'tanh/identity', 'tanh/logistic']));
  });

  describe.each(fixtureCases.map((c) => [c.case, c] as const))('%s', (_name, fixture) => {
    const model = createModel({
      layers: fixture.K,
      dim: fixture.d,
      inputDim: fixture.inputDim,
      h: fixture.model.h,
      mu: fixture.model.mu,
      W: fixture.model.W.flat(2),
      b: fixture.model.b.flat(),
      w: fixture.model.w,
      activation: fixture.model.activation,
      output: fixture.model.output,
    });
    const points = Float64Array.from(fixture.points.flat());

    it('values and gradients agree to 1e-12 relative', () => {
      const { values, gradients } = valueAndGradient(model, points);
      expect(values).toHaveLength(fixture.values.length);
      expect(gradients).toHaveLength(fixture.points.length * fixture.inputDim);
      fixture.values.forEach((want, p) => {
        expect(agrees(values[p], want), `values[${p}] = ${values[p]}, want ${want}`).toBe(true);
        fixture.gradients[p].forEach((wantGrad, i) => {
          const got = gradients[p * fixture.inputDim + i];
          expect(agrees(got, wantGrad), `gradients[${p}][${i}] = ${got}, want ${wantGrad}`).toBe(true);
        });
      });
    });

    it('evaluate gives the same values, bit for bit', () => {
      expect(evaluate(model, points)).toEqual(valueAndGradient(model, points).values);
    });
  });
});
