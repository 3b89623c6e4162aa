import Type from 'typebox';
import { defaultConfig } from '../../config.js';
import { MAX_TRACE_POINTS } from '../../compute/operations.js';
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

const checkSummary = Type.Optional(
  Type.Object(
    {
      method: Type.Literal('central differences', { description: 'How the derivatives were checked.', examples: ['central differences'] }),
      stepFactor: Type.Number({ description: 'ε_i / max(1, |x_i|): ∛(2⁻⁵²).', examples: [0.0000060554544523933395] }),
      maxRelativeDifference: Type.Number({ description: 'The largest, over the points, of max |difference − exact| / max |exact| at the point.', examples: [7.321973436296487e-12] }),
    },
    {
      additionalProperties: false,
      description: 'With ?check=fd: how the finite differences were taken, and how far they are from the exact derivatives.',
      examples: [{ method: 'central differences', stepFactor: 0.0000060554544523933395, maxRelativeDifference: 7.321973436296487e-12 }],
    },
  ),
);

export const GradientResponse = Type.Object(
  {
    modelId: ModelId,
    modelVersion: usedVersion,
    check: checkSummary,
    values,
    gradients: Type.Array(Type.Array(Type.Number()), {
      description: '∇F(y) at each point, with respect to its inputDim coordinates.',
      examples: [computeExample.gradients],
    }),
    finiteDifferences: Type.Optional(
      Type.Array(Type.Array(Type.Number()), { description: 'With ?check=fd: central differences of F at each point, beside the gradient.', examples: [[[0.08008308634428361, -0.3466768125362436]]] }),
    ),
  },
  { additionalProperties: false, description: 'The value and gradient of the network at every point.' },
);

/** The Hessian at one point of the demo model, and the product with (1, 0) (a test keeps them in step). */
export const hessianExample = {
  modelId: 'demo',
  modelVersion: 1,
  values: [0.27701583406928443],
  gradients: [[0.08008308634359138, -0.34667681253370525]],
  hessians: [[[-0.034502406477782334, 0.016141165469458617], [0.016141165469458617, -0.00796871972161298]]],
};
/** ∇²F·(1, 0): the Hessian's first row, by its own sweep (to rounding: the last digit may differ). */
export const hvpExample = { modelId: 'demo', modelVersion: 1, values: hessianExample.values, gradients: hessianExample.gradients, hessianVectorProducts: [[-0.03450240647778234, 0.01614116546945861]] };

export const HessianResponse = Type.Object(
  {
    modelId: ModelId,
    modelVersion: usedVersion,
    check: checkSummary,
    values,
    gradients: Type.Array(Type.Array(Type.Number()), { description: '∇F(y) at each point.', examples: [hessianExample.gradients] }),
    hessians: Type.Array(Type.Array(Type.Array(Type.Number())), {
      description: '∇²F(y) at each point: d₀ rows of d₀ numbers, symmetric up to rounding.',
      examples: [hessianExample.hessians],
    }),
    finiteDifferences: Type.Optional(
      Type.Array(Type.Array(Type.Array(Type.Number())), {
        description: 'With ?check=fd: central differences of ∇F at each point, beside the Hessian (row i: the derivatives of ∂F/∂x_i).',
        examples: [[[[-0.03450240647924708, 0.01614116546946506], [0.016141165460260936, -0.007968719721071705]]]],
      }),
    ),
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
    'application/octet-stream': {
      schema: Type.Unsafe<Uint8Array>({
        type: 'string',
        format: 'binary',
        description: 'Raw little-endian float64s: the N points (N·inputDim numbers, point-major), then the N directions in the same layout; the model in ?modelId=.',
      }),
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

/** /gradient's and /hessian's query: ComputeQuery, and the finite-difference check. */
export const CheckedComputeQuery = Type.Object(
  {
    ...ComputeQuery.properties,
    check: Type.Optional(
      Type.Literal('fd', {
        description:
          'fd: also answer central finite differences beside the exact derivatives (finiteDifferences: of F for the gradient, of ∇F for the Hessian) and their largest relative disagreement (check.maxRelativeDifference; in the header Check-Max-Relative-Difference of a binary answer, whose float64s then end with the differences). The step for coordinate i is ε_i = ∛(2⁻⁵²)·max(1, |x_i|) ≈ 6.06e-6·max(1, |x_i|), in the network\'s input coordinates: a correct derivative of a smooth network agrees to about 1e-9 relative.',
      }),
    ),
  },
  { additionalProperties: false },
);

export { MAX_TRACE_POINTS } from '../../compute/operations.js';

export const TraceBody = Type.Object(
  {
    modelId: ModelId,
    modelVersion: Type.Optional(ModelVersion),
    points: Type.Array(Type.Array(Type.Number(), { description: 'One point: inputDim coordinates.' }), {
      minItems: 1,
      description: `At most ${MAX_TRACE_POINTS} points (more get 413), each with the model's inputDim coordinates.`,
      examples: [[[0.5, -0.25]]],
    }),
  },
  { additionalProperties: false },
);

/** The demo model's sweeps at (0.5, −0.25) (a test keeps them in step). */
export const traceExample = {
  modelId: 'demo',
  modelVersion: 1,
  values: [0.27701583406928443],
  gradients: [[0.08008308634359138, -0.34667681253370525]],
  states: [
    [
      [0.5, -0.25, 0, 0],
      [0.44629191701217885, -0.2939012507194341, -0.027134212772274097, -0.0024514782573686698],
      [0.5033533449488974, -0.38708289389588046, 0.029211293201856434, -0.051014440083217566],
      [0.5723591314084314, -0.3664797489271305, 0.02607276713403966, -0.0008410255267220085],
      [0.5910882525047996, -0.3736550408880911, 0.02557569471874137, 0.03183532117571262],
      [0.6359160115380655, -0.4189763943144018, -0.020421787747071218, -0.007038005934809924],
      [0.5610968726120051, -0.4691341402930556, 0.06829054165285482, 0.020277355010381415],
      [0.5307692701791681, -0.43422639098076776, 0.029632201154139712, 0.015154210938480996],
      [0.48552028538548553, -0.5035843305973797, 0.07123982596737027, -0.05351662330104801],
    ],
  ],
  adjoints: [
    [
      [0.08008308634359138, -0.34667681253370525, 0.5755694017269996, 0.14100998017333655],
      [0.0890422372184809, -0.37603487469490526, 0.5491478109110094, 0.10967621293000027],
      [0.10029755248878428, -0.34136181843315927, 0.5634373983220986, 0.12409442094081052],
      [0.15401539241290946, -0.2649586652018419, 0.5811868450007586, 0.09596143983745585],
      [0.20032711999652836, -0.27785967552388585, 0.6048510896604773, 0.04749071626083055],
      [0.1838471124250145, -0.28489744558958313, 0.6371895074557642, 0.052090432102928214],
      [0.17213740529101446, -0.28635647871053266, 0.5943158190717587, 0.03961084262745052],
      [0.13512305860220894, -0.33206068197538324, 0.520224480069266, 0.047265234062790366],
      [0.13700547166284102, -0.35018111404715946, 0.5143976847720677, 0.046610285261516046],
    ],
  ],
};

export const traceBody = {
  content: {
    'application/json': {
      schema: { ...TraceBody, 'x-examples': { onePoint: { summary: 'the sweeps at one point of the demo model', value: { modelId: 'demo', points: [[0.5, -0.25]] } } } },
    },
  },
};

const layerRows = (description: string) => Type.Array(Type.Array(Type.Array(Type.Number())), { description, examples: [[[[0.5, -0.25, 0, 0]]]] });

export const TraceResponse = Type.Object(
  {
    modelId: ModelId,
    modelVersion: usedVersion,
    values,
    gradients: Type.Array(Type.Array(Type.Number()), { description: '∇F(y) at each point: the first d₀ coordinates of A^(0), rescaled as the model\'s scaling says.', examples: [[computeExample.gradients[0]]] }),
    states: layerRows('For each point, Z^(0) … Z^(K): K + 1 rows of d numbers, the states of the forward sweep (at the scaled point, when the model has input scaling).'),
    adjoints: layerRows('For each point, A^(0) … A^(K), row k being A^(k) = ∂F/∂Z^(k): the backward sweep runs from A^(K) = η′(wᵀZ^(K) + μ)·w down to A^(0).'),
  },
  { additionalProperties: false, description: 'The forward states and backward adjoints of the network at every point.' },
);

export const binaryAnswer = (withGradients: boolean) =>
  Type.Unsafe<Uint8Array>({
    type: 'string',
    format: 'binary',
    description: withGradients
      ? 'With Accept: application/octet-stream: raw little-endian float64s, the N values followed by the N·inputDim gradients, point-major. Headers X-Points and X-Input-Dim give N and inputDim, and Model-Version the version that computed them.'
      : 'With Accept: application/octet-stream: raw little-endian float64s, the N values. The header X-Points gives N, and Model-Version the version that computed them.',
  });
