import Type from 'typebox';
import { defaultConfig } from '../../config.js';
import { DEFAULT_RANDOM_STEP, hiddenActivationNames, outputActivationNames } from '../../kernels/index.js';

/** Also Fastify's maxParamLength: a longer path parameter never reaches a route. */
export const MODEL_ID_MAX_LENGTH = 100;

export const ModelId = Type.String({
  minLength: 1,
  maxLength: MODEL_ID_MAX_LENGTH,
  description: 'The id the server gave the model when it was registered (the demo model\'s id is `demo`).',
  examples: ['demo'],
});

export const ModelIdParams = Type.Object({ id: ModelId }, { additionalProperties: false });

/** A name a client gives its model with PUT: letters, digits, '.', '_' and '-', starting with a letter or digit. */
export const ModelName = Type.String({
  minLength: 1,
  maxLength: MODEL_ID_MAX_LENGTH,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: "The model's name, which is its id: letters, digits, '.', '_' and '-', starting with a letter or digit.",
  examples: ['pendulum-T'],
});

export const ModelNameParams = Type.Object({ id: ModelName }, { additionalProperties: false });


export const VersionParams = Type.Object(
  { id: ModelId, version: Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: 'A version of the model: 1, 2, 3, … in the order they were made.', examples: ['1'] }) },
  { additionalProperties: false },
);

/** If-Match and If-None-Match, as a write's preconditions (RFC 9110 §13.1). */
export const ConditionalWriteHeaders = Type.Object({
  'if-match': Type.Optional(
    Type.String({ description: "Change the model only if its latest version has one of these entity tags (its ETag), or `*` for any: a write that another came before gets 412.", examples: ['"Vq0nS3c1mA1qg0xwTQ2c7kTgS8wFZk2R"'] }),
  ),
  'if-none-match': Type.Optional(Type.String({ description: '`*`: create the model only if there is none by this name; else 412.', examples: ['*'] })),
});

/** If-None-Match on a read: 304 when the representation has one of these entity tags. */
export const ConditionalReadHeaders = Type.Object({
  'if-none-match': Type.Optional(Type.String({ description: 'The entity tags the client holds: 304 Not Modified when the version has one of them.', examples: ['"Vq0nS3c1mA1qg0xwTQ2c7kTgS8wFZk2R"'] })),
});

export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ description: 'Delete only if the version (for a whole model, its latest) has one of these entity tags; else 412.', examples: ['"Vq0nS3c1mA1qg0xwTQ2c7kTgS8wFZk2R"'] })),
});

const name = Type.String({
  minLength: 1,
  maxLength: 200,
  description: 'A label for people; it need not be unique. Defaults to the id.',
  examples: ['pendulum-T'],
});
const activation = Type.Enum(hiddenActivationNames, {
  default: 'tanh',
  description: 'σ, applied inside every layer: Z^{k+1} = Z^k + h·σ(W_k Z^k + b_k).',
  examples: ['tanh'],
});
const output = Type.Enum(outputActivationNames, {
  default: 'identity',
  description: 'η, applied to the output: F(y) = η(wᵀZ^K + μ). `logistic` is (1 + tanh(x/2))/2.',
  examples: ['identity'],
});
const inputDim = Type.Integer({
  minimum: 1,
  description: 'd₀ ≤ d: a point has d₀ coordinates and is padded with zeros to d. Defaults to d.',
  examples: [2],
});
const h = Type.Number({ description: 'The step h of every residual layer.', examples: [0.1] });

const range = Type.Array(Type.Number(), {
  minItems: 2,
  maxItems: 2,
  description: 'The interval [lo, hi] the network sees (input) or gives (output); [0, 1] by default. Under a logistic η, for example [0.2, 0.8].',
  examples: [[0, 1]],
});
const inputScaling = Type.Union(
  [
    Type.Object(
      {
        scale: Type.Array(Type.Number(), { minItems: 1, description: 'a: d₀ numbers, none of them 0.', examples: [[0.5, 2]] }),
        offset: Type.Array(Type.Number(), { minItems: 1, description: 'c: d₀ numbers.', examples: [[0, -1]] }),
      },
      { additionalProperties: false, title: 'affine', description: 'x = a ⊙ y + c.' },
    ),
    Type.Object(
      {
        min: Type.Array(Type.Number(), { minItems: 1, description: "Each coordinate's minimum over the training data (d₀ numbers).", examples: [[-3.14, -2]] }),
        max: Type.Array(Type.Number(), { minItems: 1, description: "Each coordinate's maximum (d₀ numbers, each other than its min).", examples: [[3.14, 2]] }),
        range: Type.Optional(range),
      },
      { additionalProperties: false, title: 'min–max', description: "Each coordinate's [min, max] is mapped onto range = [lo, hi]: x = lo + (y − min)·(hi − lo)/(max − min)." },
    ),
  ],
  {
    description:
      'How a point y is transformed before the network: F(y) = s·F̃(a ⊙ y + c) + t and ∇F(y) = s · a ⊙ ∇F̃(a ⊙ y + c). Kept and returned as sent. None by default.',
    examples: [{ min: [-3.14, -2], max: [3.14, 2] }],
  },
);
const outputScaling = Type.Union(
  [
    Type.Object(
      {
        scale: Type.Number({ description: 's, other than 0.', examples: [2] }),
        offset: Type.Number({ description: 't.', examples: [-1] }),
      },
      { additionalProperties: false, title: 'affine', description: 'F = s·F̃ + t.' },
    ),
    Type.Object(
      {
        min: Type.Number({ description: 'The minimum of the training targets.', examples: [-0.5] }),
        max: Type.Number({ description: 'Their maximum, other than min.', examples: [2.5] }),
        range: Type.Optional(range),
      },
      { additionalProperties: false, title: 'min–max', description: "The network's range = [lo, hi] is mapped back onto [min, max]: F = min + (F̃ − lo)·(max − min)/(hi − lo)." },
    ),
  ],
  { description: "How the network's value is transformed: F = s·F̃ + t. Kept and returned as sent. None by default.", examples: [{ min: -0.5, max: 2.5, range: [0.2, 0.8] }] },
);

const maxWeights = `K·d² may be at most MAX_MODEL_WEIGHTS (default ${defaultConfig.MAX_MODEL_WEIGHTS}).`;

const explicitExample = {
  name: 'pendulum-T',
  activation: 'tanh',
  output: 'identity',
  h: 0.1,
  W: [
    [
      [0.5, -0.25],
      [0.125, 0.75],
    ],
  ],
  b: [[0, 0.1]],
  w: [1, -0.5],
  mu: 0,
};

const randomExample = { name: 'random-K20-d4', layers: 20, dim: 4, inputDim: 2, seed: 42 };

export const ExplicitModelBody = Type.Object(
  {
    name: Type.Optional(name),
    activation: Type.Optional(activation),
    output: Type.Optional(output),
    inputDim: Type.Optional(inputDim),
    inputScaling: Type.Optional(inputScaling),
    outputScaling: Type.Optional(outputScaling),
    h,
    W: Type.Array(Type.Array(Type.Array(Type.Number(), { minItems: 1 }), { minItems: 1 }), {
      minItems: 1,
      description: `The K weight matrices, each d × d: W[k][i][j] is row i, column j of W_k. ${maxWeights}`,
      examples: [explicitExample.W],
    }),
    b: Type.Union(
      [
        Type.Array(Type.Array(Type.Number(), { minItems: 1 }), { minItems: 1, title: 'K × d' }),
        Type.Array(Type.Array(Type.Array(Type.Number(), { minItems: 1 }), { minItems: 1 }), { minItems: 1, title: 'K × d × 1' }),
      ],
      {
        description: 'The K bias vectors, each of length d: a K × d array, or K × d × 1 (each bias a column of one number per row, as numpy code often keeps them).',
        examples: [explicitExample.b],
      },
    ),
    w: Type.Union(
      [
        Type.Array(Type.Number(), { minItems: 1, title: 'd' }),
        Type.Array(Type.Array(Type.Number(), { minItems: 1 }), { minItems: 1, title: 'd × 1' }),
      ],
      {
        description: 'The output weights; their number is the width d. A vector, or a d × 1 column.',
        examples: [explicitExample.w],
      },
    ),
    mu: Type.Number({ description: 'The output bias μ.', examples: [0] }),
  },
  {
    additionalProperties: false,
    title: 'Model given by its parameters',
    description: 'Every number is kept as the float64 it parses to and is returned bit for bit.',
    examples: [explicitExample],
  },
);

export const RandomModelBody = Type.Object(
  {
    name: Type.Optional(name),
    activation: Type.Optional(activation),
    output: Type.Optional(output),
    inputDim: Type.Optional(inputDim),
    inputScaling: Type.Optional(inputScaling),
    outputScaling: Type.Optional(outputScaling),
    h: Type.Optional(Type.Number({ default: DEFAULT_RANDOM_STEP, description: 'The step h of every residual layer.', examples: [0.1] })),
    layers: Type.Integer({ minimum: 1, description: `K, the number of residual layers. ${maxWeights}`, examples: [20] }),
    dim: Type.Integer({ minimum: 1, description: 'd, the width of every layer.', examples: [4] }),
    seed: Type.Integer({
      minimum: 0,
      maximum: 4294967295,
      description: 'The same seed gives the same parameters, on every version of the service.',
      examples: [42],
    }),
  },
  {
    additionalProperties: false,
    title: 'Model drawn from a seed',
    description:
      'Every entry of W, b and w is drawn from N(0, 1/d), in that order (W row-major), by xoshiro128** seeded through splitmix32 and Box–Muller; μ = 0.',
    examples: [randomExample],
  },
);

export const CreateModelBody = Type.Union([ExplicitModelBody, RandomModelBody], {
  description: 'A model given by its parameters, or drawn from a seed.',
});

/** The create body as the document shows it, with named examples (Swagger UI lists them by summary). */
export const documentedCreateModelBody = {
  ...CreateModelBody,
  'x-examples': {
    parameters: { summary: 'a model given by its parameters', value: explicitExample },
    columns: {
      summary: 'the same model in the column layout of numpy code (b as K × d × 1, w as d × 1)',
      value: { ...explicitExample, b: explicitExample.b.map((bias) => bias.map((x) => [x])), w: explicitExample.w.map((x) => [x]) },
    },
    seeded: { summary: 'a model drawn from a seed', value: randomExample },
    minMaxScaled: {
      summary: 'a model trained on min–max-scaled data (q in [−π, π], p in [−2, 2], targets in [−0.5, 2.5] seen as [0.2, 0.8])',
      value: { ...randomExample, name: 'scaled-V', output: 'logistic', inputScaling: { min: [-3.14, -2], max: [3.14, 2] }, outputScaling: { min: -0.5, max: 2.5, range: [0.2, 0.8] } },
    },
  },
};

export const ModelSummary = Type.Object(
  {
    id: ModelId,
    name: Type.String({ description: 'The label given at registration, or the id.', examples: ['demo'] }),
    version: Type.Integer({ minimum: 1, description: 'The version: 1 for a model made by POST, and one more with every PUT.', examples: [1] }),
    layers: Type.Integer({ description: 'K, the number of residual layers.', examples: [8] }),
    dim: Type.Integer({ description: 'd, the width of every layer.', examples: [4] }),
    inputDim: Type.Integer({ description: 'd₀, the number of coordinates of a point.', examples: [2] }),
    activation: Type.Enum(hiddenActivationNames, { description: 'σ.', examples: ['tanh'] }),
    output: Type.Enum(outputActivationNames, { description: 'η.', examples: ['identity'] }),
    h: Type.Number({ description: 'The step h.', examples: [0.1] }),
    inputScaling: Type.Optional(inputScaling),
    outputScaling: Type.Optional(outputScaling),
    parameterCount: Type.Integer({
      description: 'The number of learned scalars: K·d² + K·d + d + 1.',
      examples: [165],
    }),
    createdAt: Type.String({ format: 'date-time', description: 'When the model was registered (UTC).', examples: ['2026-01-01T12:00:00.000Z'] }),
  },
  { additionalProperties: false, description: 'A registered model, without its parameters.' },
);

export const ModelDetail = Type.Object(
  {
    ...ModelSummary.properties,
    W: Type.Array(Type.Array(Type.Array(Type.Number())), {
      description: 'W[k][i][j] = (W_k)_{ij}, exactly as registered.',
      examples: [explicitExample.W],
    }),
    b: Type.Array(Type.Array(Type.Number()), { description: 'b[k][i] = (b_k)_i.', examples: [explicitExample.b] }),
    w: Type.Array(Type.Number(), { description: 'The output weights.', examples: [explicitExample.w] }),
    mu: Type.Number({ description: 'The output bias μ.', examples: [0] }),
  },
  { additionalProperties: false, description: 'A registered model with its parameters; every float64 is returned bit for bit.' },
);

export const ModelList = Type.Object(
  {
    models: Type.Array(ModelSummary, {
      description: 'Every registered model, oldest first.',
      examples: [
        [
          {
            id: 'demo',
            name: 'demo',
            version: 1,
            layers: 8,
            dim: 4,
            inputDim: 2,
            activation: 'tanh',
            output: 'identity',
            h: 0.1,
            parameterCount: 165,
            createdAt: '2026-01-01T12:00:00.000Z',
          },
        ],
      ],
    }),
  },
  { additionalProperties: false, description: 'The models in the registry.' },
);

export const VersionList = Type.Object(
  {
    versions: Type.Array(ModelSummary, {
      description: 'Every version of the model, oldest first.',
      examples: [[{ id: 'pendulum-T', name: 'pendulum-T', version: 1, layers: 1, dim: 2, inputDim: 2, activation: 'tanh', output: 'identity', h: 0.1, parameterCount: 9, createdAt: '2026-01-01T12:00:00.000Z' }]],
    }),
  },
  { additionalProperties: false, description: 'The versions of a model.' },
);

/** The rest of a model uploaded as a weight file (.npz, safetensors): its options, as text. */
export const WeightFileQuery = Type.Object(
  {
    h: Type.Optional(Type.String({ description: 'For a weight file: the step h (required, here or in a safetensors file\'s __metadata__).' })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'For a weight file: a label for people.' })),
    activation: Type.Optional(Type.Enum(hiddenActivationNames, { description: 'For a weight file: σ (tanh by default).' })),
    output: Type.Optional(Type.Enum(outputActivationNames, { description: 'For a weight file: η (identity by default).' })),
    inputDim: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: 'For a weight file: d₀ (d by default).' })),
    inputScaling: Type.Optional(Type.String({ description: 'For a weight file: the input scaling, as the JSON the model document takes.' })),
    outputScaling: Type.Optional(Type.String({ description: 'For a weight file: the output scaling, as JSON.' })),
  },
  {
    additionalProperties: false,
    description: 'Options of a model uploaded as a weight file; a JSON body gives them as its own fields instead.',
  },
);
