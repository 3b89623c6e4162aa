/** Models for registry tests, and a bit-for-bit comparison of two models. */
import { exactJson } from '../../src/codecs/json/exact.js';
import { createModel, type ResNetModel } from '../../src/kernels/index.js';
import { sameBits } from './bits.js';

/** A model whose parameters include the float64s that text formats lose most easily. */
export const awkwardModel = (): ResNetModel =>
  createModel({
    layers: 2,
    dim: 2,
    inputDim: 1,
    activation: 'relu',
    output: 'logistic',
    h: -0,
    mu: 5e-324,
    W: [-0, 1.7976931348623157e308, 0.1 + 0.2, -2.2250738585072014e-308, 1 / 3, 2 / 3, -1e-300, 42],
    b: [0, -0, 1e-310, 7],
    w: [Math.PI, -Math.E],
    inputScaling: { min: [-0], max: [1e-300], range: [-1, 5e-324] },
    outputScaling: { scale: -0.1, offset: -0 },
  });

export const sameModel = (a: ResNetModel, b: ResNetModel): boolean =>
  sameBits(a.W, b.W) &&
  sameBits(a.b, b.b) &&
  sameBits(a.w, b.w) &&
  Object.is(a.h, b.h) &&
  Object.is(a.mu, b.mu) &&
  a.layers === b.layers &&
  a.dim === b.dim &&
  a.inputDim === b.inputDim &&
  a.activation === b.activation &&
  a.output === b.output &&
  exactJson([a.inputScaling, a.outputScaling]) === exactJson([b.inputScaling, b.outputScaling]) &&
  (a.affine === null ? b.affine === null : b.affine !== null && sameBits(a.affine.a, b.affine.a) && sameBits(a.affine.c, b.affine.c) && Object.is(a.affine.s, b.affine.s) && Object.is(a.affine.t, b.affine.t));

