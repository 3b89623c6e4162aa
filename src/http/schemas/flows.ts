import Type from 'typebox';
import { flowMethods } from '../../kernels/index.js';
import { ModelVersion } from './compute.js';
import { ModelId } from './models.js';

/** The most initial states one /flows request integrates, and the most states /flows/vector-field takes. */
export const MAX_FLOW_STATES = 10_000;
/** The most steps of one /flows request. */
export const MAX_FLOW_STEPS = 10_000_000;
/** The most saved states (trajectories × saves) of one /flows answer. */
export const MAX_FLOW_SAVES = 1_000_000;
/** The media types of a /flows answer beside JSON. */
export const NDJSON_MEDIA_TYPE = 'application/x-ndjson';
export const SVG_MEDIA_TYPE = 'image/svg+xml';

const reference = Type.Union(
  [
    Type.String({ minLength: 1, maxLength: 100, description: 'The model id; its latest version.', examples: ['demo-pendulum-T'] }),
    Type.Object({ modelId: ModelId, modelVersion: Type.Optional(ModelVersion) }, { additionalProperties: false, description: 'The model id and a version of it.' }),
  ],
  { description: 'A model: its id, or {modelId, modelVersion} to pin a version.' },
);

const separable = Type.Object(
  {
    kinetic: { ...reference, description: 'T(p): a model with inputDim n.', examples: ['demo-pendulum-T', { modelId: 'demo-pendulum-T', modelVersion: 1 }] },
    potential: { ...reference, description: 'V(q): a model with inputDim n, the same n as T.', examples: ['demo-pendulum-V'] },
  },
  { additionalProperties: false, description: 'A separable H(q, p) = T(p) + V(q).' },
);
const general = Type.Object(
  { model: { ...reference, description: 'H(q, p): a model with inputDim 2n, whose first n coordinates are q.', examples: ['demo-pendulum-H'] } },
  { additionalProperties: false, description: 'A general H(q, p), one model.' },
);

export const Hamiltonian = Type.Union([separable, general], {
  description: 'The Hamiltonian: {kinetic, potential} for H = T(p) + V(q), or {model} for one network H(q, p). Each model\'s scaling applies.',
  examples: [{ kinetic: 'demo-pendulum-T', potential: 'demo-pendulum-V' }, { model: 'demo-pendulum-H' }],
});

const states = (description: string) =>
  Type.Array(Type.Array(Type.Number(), { minItems: 2, description: 'One state: 2n numbers, q then p.' }), {
    minItems: 1,
    description: `${description} At most ${MAX_FLOW_STATES}.`,
    examples: [[[1, 0], [0.5, 0.5]]],
  });

export const flowExample = {
  request: {
    hamiltonian: { kinetic: 'demo-pendulum-T', potential: 'demo-pendulum-V' },
    method: 'stormer-verlet',
    h: 0.1,
    steps: 20,
    every: 10,
    initial: [
      [1, 0],
      [0.5, 0.5],
    ],
  },
  /** The demo's answer to it (a test keeps them in step). */
  answer: {"hamiltonian":{"kinetic":{"modelId":"demo-pendulum-T","modelVersion":1},"potential":{"modelId":"demo-pendulum-V","modelVersion":1}},"method":"stormer-verlet","h":0.1,"steps":20,"every":10,"times":[0,1,2],"states":[[[1,0],[0.6050898061988952,-0.7478431475846047],[-0.2854985304975586,-0.9112824472853644]],[[0.5,0.5],[0.7116712021337561,-0.09303760839390493],[0.33540598572047614,-0.6098931141342505]]],"energy":[[0.45662148578012807,0.45607865640310963,0.45573013154738645],[0.24654251132743685,0.24679053010573815,0.2463968071920446]],"maxEnergyError":[0.000989531944501354,0.00025834531006097006],"ended":[null,null]},
};

const methodDescription =
  'stormer-verlet, symplectic-euler-p and symplectic-euler-q need a separable H; implicit-midpoint (Newton\'s method with the exact Hessian), rk4 and euler take either. docs/flows.md gives each step.';

export const FlowBody = Type.Object(
  {
    hamiltonian: Hamiltonian,
    method: Type.Enum([...flowMethods], { description: methodDescription, examples: ['stormer-verlet'] }),
    h: Type.Number({ description: 'The step size, not 0 (a negative h integrates backwards in time).', examples: [0.01] }),
    steps: Type.Integer({ minimum: 1, maximum: MAX_FLOW_STEPS, description: `The number of steps, at most ${MAX_FLOW_STEPS}.`, examples: [10000] }),
    every: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_FLOW_STEPS,
        description: 'Save every this many steps: states are saved at steps 0, every, 2·every, …, and at the last step. Defaults to ⌈steps / 100⌉.',
        examples: [100],
      }),
    ),
    initial: states('The initial states, integrated together.'),
  },
  { additionalProperties: false },
);

export const documentedFlowBody = {
  ...FlowBody,
  'x-examples': {
    pendulum: { summary: 'Størmer–Verlet on the learned pendulum T(p) + V(q)', value: flowExample.request },
    general: {
      summary: 'the implicit midpoint rule on the learned pendulum H(q, p)',
      value: { hamiltonian: { model: 'demo-pendulum-H' }, method: 'implicit-midpoint', h: 0.05, steps: 200, every: 20, initial: [[1, 0]] },
    },
  },
};

const usedModel = (id: string) =>
  Type.Object(
    { modelId: ModelId, modelVersion: Type.Integer({ minimum: 1, description: 'The version that computed the answer.', examples: [1] }) },
    { additionalProperties: false, description: 'A model and the version of it that computed the answer.', examples: [{ modelId: id, modelVersion: 1 }] },
  );

export const UsedHamiltonian = Type.Union(
  [
    Type.Object({ kinetic: usedModel('demo-pendulum-T'), potential: usedModel('demo-pendulum-V') }, { additionalProperties: false }),
    Type.Object({ model: usedModel('demo-pendulum-H') }, { additionalProperties: false }),
  ],
  { description: 'The models and versions that computed the answer.', examples: [{ kinetic: { modelId: 'demo-pendulum-T', modelVersion: 1 }, potential: { modelId: 'demo-pendulum-V', modelVersion: 1 } }] },
);

const ended = Type.Union(
  [
    Type.Null(),
    Type.Object(
      {
        step: Type.Integer({ minimum: 0, description: 'The last step whose state is good; the trajectory stopped there.', examples: [412] }),
        reason: Type.Union([Type.Literal('non-finite'), Type.Literal('newton-not-converged')], {
          description: 'non-finite: the next state or its energy was not a finite number; newton-not-converged: Newton\'s method for the next implicit midpoint step did not converge.',
          examples: ['non-finite'],
        }),
        detail: Type.String({
          description: 'The same in words.',
          examples: ['the state after step 412 (or its energy) is not a finite number: the trajectory left the region where the networks are finite; try a smaller h'],
        }),
      },
      { additionalProperties: false },
    ),
  ],
  { description: 'null when the trajectory ran every step; otherwise where and why it ended.', examples: [null] },
);

const FLOW_ANSWER = flowExample.answer;

export const FlowResponse = Type.Object(
  {
    hamiltonian: UsedHamiltonian,
    method: Type.String({ description: 'The method.', examples: ['stormer-verlet'] }),
    h: Type.Number({ description: 'The step size.', examples: [0.1] }),
    steps: Type.Integer({ description: 'The steps asked for.', examples: [20] }),
    every: Type.Integer({ description: 'The save stride.', examples: [10] }),
    times: Type.Array(Type.Number(), { description: 'The time of each save, step·h: 0 first.', examples: [[0, 1, 2]] }),
    states: Type.Array(Type.Array(Type.Array(Type.Number())), {
      description: 'For each trajectory, its saved states (2n numbers each, q then p), the initial state first; a trajectory that ended early has only the saves it reached.',
      examples: [FLOW_ANSWER.states],
    }),
    energy: Type.Array(Type.Array(Type.Number()), { description: 'For each trajectory, H at each saved state.', examples: [FLOW_ANSWER.energy] }),
    maxEnergyError: Type.Array(Type.Number(), { description: 'For each trajectory, the largest |H − H₀| over every step it took, saved or not.', examples: [FLOW_ANSWER.maxEnergyError] }),
    ended: Type.Array(ended, { description: 'For each trajectory, null, or where and why it ended early.', examples: [[null, null]] }),
  },
  { additionalProperties: false, description: 'The trajectories, their energies, and the largest energy error of each.' },
);

export const VectorFieldBody = Type.Object(
  { hamiltonian: Hamiltonian, states: states('The states (q, p) at which to evaluate H and its gradient.') },
  { additionalProperties: false },
);

export const vectorFieldExample = {
  request: { hamiltonian: { kinetic: 'demo-pendulum-T', potential: 'demo-pendulum-V' }, states: [[1, 0], [0.5, 0.5]] },
  answer: {"hamiltonian":{"kinetic":{"modelId":"demo-pendulum-T","modelVersion":1},"potential":{"modelId":"demo-pendulum-V","modelVersion":1}},"energy":[0.45662148578012807,0.24654251132743685],"dHdq":[[0.841755756055729],[0.4625260300298884]],"dHdp":[[-0.006680190150236098],[0.49557932080086936]]},
};

export const VectorFieldResponse = Type.Object(
  {
    hamiltonian: UsedHamiltonian,
    energy: Type.Array(Type.Number(), { description: 'H(q, p) at each state.', examples: [vectorFieldExample.answer.energy] }),
    dHdq: Type.Array(Type.Array(Type.Number()), { description: '∂H/∂q at each state (n numbers): ṗ = −∂H/∂q.', examples: [vectorFieldExample.answer.dHdq] }),
    dHdp: Type.Array(Type.Array(Type.Number()), { description: '∂H/∂p at each state (n numbers): q̇ = ∂H/∂p.', examples: [vectorFieldExample.answer.dHdp] }),
  },
  { additionalProperties: false, description: 'H and its gradient at every state.' },
);

export const FLOW_BINARY_LAYOUT =
  'Raw little-endian float64s: the M·S·2n saved states (trajectory-major, then save, then coordinate), then the M·S energies, then the M largest energy errors, then M pairs [last step reached, end code (0: ran every step, 1: non-finite, 2: Newton did not converge)]. Saves after an early end are NaN. Headers Flow-Trajectories, Flow-Saves and Flow-State-Size give M, S and 2n.';
