import Type from 'typebox';
import { defaultConfig } from '../../config.js';
import { ModelId } from './models.js';

/** The example request and the demo model's answer to it (a test keeps them in step). */
export const computeExample = {
  request: { modelId: 'demo', points: [[0.5, -0.25], [1, 0]] },
  values: [0.27701583406928443, 0.23163011664253594],
  gradients: [
    [0.08008308634359138, -0.34667681253370525],
    [0.07485179582391852, -0.3215427331553811],
  ],
};

const points = Type.Array(Type.Array(Type.Number(), { description: 'One point: inputDim coordinates.' }), {
  minItems: 1,
  description: `The points, each with the model's inputDim coordinates. At most MAX_POINTS (default ${defaultConfig.MAX_POINTS}) points.`,
  examples: [computeExample.request.points],
});

export const ModelVersion = Type.Integer({
  minimum: 1,
  maximum: 999999999,
  description: 'A version of the model (PUT /models/{id} makes them); the latest when absent.',
  examples: [1],
});
const usedVersion = Type.Integer({ minimum: 1, description: 'The version of the model that computed this answer.', examples: [1] });

export const ComputeBody = Type.Object({ modelId: ModelId, modelVersion: Type.Optional(ModelVersion), points }, { additionalProperties: false });

/** The body as the document shows it, with named examples. */
export const documentedComputeBody = {
  ...ComputeBody,
  'x-examples': {
    twoPoints: { summary: 'two points on the demo model', value: computeExample.request },
    onePoint: { summary: 'one point, as an integrator asks at each step', value: { modelId: 'demo', points: [[0.5, -0.25]] } },
  },
};

const values = Type.Array(Type.Number(), {
  description: 'F(y) at each point, in order.',
  examples: [computeExample.values],
});

export const EvaluateResponse = Type.Object(
  { modelId: ModelId, modelVersion: usedVersion, values },
  { additionalProperties: false, description: 'The value of the network at every point.' },
);

export const GradientResponse = Type.Object(
  {
    modelId: ModelId,
    modelVersion: usedVersion,
    values,
    gradients: Type.Array(Type.Array(Type.Number()), {
      description: '∇F(y) at each point, with respect to its inputDim coordinates.',
      examples: [computeExample.gradients],
    }),
  },
  { additionalProperties: false, description: 'The value and gradient of the network at every point.' },
);

/** The Hessian at one point of the demo model, and the product with (1, 0) (a test keeps them in step). */
export const hessianExample = {
  modelId: 'demo',
  modelVersion: 1,
  values: [0.27701583406928443],
  gradients: [[0.08008308634359138, -0.34667681253370525]],
  hessians: [[[-0.034502406477782334, 0.016141165469458617], [0.016141165469458627, -0.007968719721612956]]],
};
export const hvpExample = { modelId: 'demo', modelVersion: 1, values: hessianExample.values, gradients: hessianExample.gradients, hessianVectorProducts: [hessianExample.hessians[0][0]] };

export const HessianResponse = Type.Object(
  {
    modelId: ModelId,
    modelVersion: usedVersion,
    values,
    gradients: Type.Array(Type.Array(Type.Number()), { description: '∇F(y) at each point.', examples: [hessianExample.gradients] }),
    hessians: Type.Array(Type.Array(Type.Array(Type.Number())), {
      description: '∇²F(y) at each point: d₀ rows of d₀ numbers, symmetric up to rounding.',
      examples: [hessianExample.hessians],
    }),
  },
  { additionalProperties: false, description: 'The value, gradient and Hessian of the network at every point.' },
);

const vectors = Type.Array(Type.Array(Type.Number(), { description: 'One direction: inputDim numbers.' }), {
  minItems: 1,
  description: 'One direction v per point, in the same order, each with the model\'s inputDim coordinates.',
  examples: [[[1, 0]]],
});

export const HvpBody = Type.Object({ modelId: ModelId, modelVersion: Type.Optional(ModelVersion), points, vectors }, { additionalProperties: false });

export const hvpBody = {
  content: {
    'application/json': {
      schema: {
        ...HvpBody,
        'x-examples': { onePoint: { summary: 'the Hessian times (1, 0) at one point', value: { modelId: 'demo', points: [[0.5, -0.25]], vectors: [[1, 0]] } } },
      },
    },
  },
};

export const HvpResponse = Type.Object(
  {
    modelId: ModelId,
    modelVersion: usedVersion,
    values,
    gradients: Type.Array(Type.Array(Type.Number()), { description: '∇F(y) at each point.', examples: [hessianExample.gradients] }),
    hessianVectorProducts: Type.Array(Type.Array(Type.Number()), { description: '∇²F(y)·v at each point, for its direction v.', examples: [hvpExample.hessianVectorProducts] }),
  },
  { additionalProperties: false, description: 'The value, gradient and Hessian–vector product of the network at every point.' },
);

export const BINARY_LAYOUT =
  'Raw little-endian float64s, point-major: N·inputDim numbers, point p at [p·inputDim, (p + 1)·inputDim). ' +
  'The model is given as ?modelId=. The length must be a positive multiple of 8·inputDim bytes, every number finite.';

/** The binary body: bytes (Swagger UI offers a file to send), its layout in words. */
export const BinaryPoints = Type.Unsafe<Uint8Array>({
  type: 'string',
  format: 'binary',
  description: `${BINARY_LAYOUT} From a shell: python3 -c "import numpy as np; np.array([[0.5, -0.25], [1, 0]]).tofile('points.f64')", then curl --data-binary @points.f64 -H 'content-type: application/octet-stream' 'http://localhost:3000/gradient?modelId=demo'.`,
});

export const ComputeQuery = Type.Object(
  {
    modelId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        description: 'The model, for a body of raw float64s (application/octet-stream) only: a JSON body names its model in modelId, and a ?modelId= that names another gets 400.',
      }),
    ),
    modelVersion: Type.Optional(
      Type.String({
        pattern: '^[1-9][0-9]{0,8}$',
        description: 'A version of the model, for a body of raw float64s; the latest when absent. A JSON body gives it as modelVersion.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const binaryAnswer = (withGradients: boolean) =>
  Type.Unsafe<Uint8Array>({
    type: 'string',
    format: 'binary',
    description: withGradients
      ? 'With Accept: application/octet-stream: raw little-endian float64s, the N values followed by the N·inputDim gradients, point-major. Headers X-Points and X-Input-Dim give N and inputDim, and Model-Version the version that computed them.'
      : 'With Accept: application/octet-stream: raw little-endian float64s, the N values. The header X-Points gives N, and Model-Version the version that computed them.',
  });
