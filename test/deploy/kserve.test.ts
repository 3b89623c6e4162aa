/**
 * deploy/kserve, validated offline: the ClusterServingRuntime and the InferenceService against
 * JSON Schemas written from KServe's Go types (serving.kserve.io/v1alpha1 ServingRuntimeSpec and
 * SupportedModelFormat in servingruntime_types.go; v1beta1 PredictorSpec, ModelSpec and ModelFormat
 * in predictor_model.go and component.go; no maintained npm package has them), the runtime's
 * containers and volumes against Kubernetes' own Pod schema (kubernetes-models), and against the
 * service: the v2 protocol on port 8080 in kserve-container, its health routes as probes, a
 * configuration it accepts with MODELS_DIR at KServe's /mnt/models, a restricted securityContext
 * and Prometheus annotations. Each kind of mistake is caught, on a copy with one thing broken.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Pod } from 'kubernetes-models/v1/Pod';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../helpers/server.js';

type Manifest = Record<string, any>;

const dir = fileURLToPath(new URL('../../deploy/kserve/', import.meta.url));
const runtime = parse(readFileSync(`${dir}cluster-serving-runtime.yaml`, 'utf8')) as Manifest;
const service = parse(readFileSync(`${dir}inference-service.yaml`, 'utf8')) as Manifest;

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const objectMeta = { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 253 }, namespace: { type: 'string' }, labels: stringMap, annotations: stringMap } };
const protocol = { enum: ['v1', 'v2', 'grpc-v1', 'grpc-v2'] };

/** ServingRuntimeSpec with ServingRuntimePodSpec inline (servingruntime_types.go); unknown fields refused. */
const clusterServingRuntime = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 'serving.kserve.io/v1alpha1' },
    kind: { const: 'ClusterServingRuntime' },
    metadata: objectMeta,
    spec: {
      type: 'object',
      required: ['containers'],
      additionalProperties: false,
      properties: {
        supportedModelFormats: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name'],
            additionalProperties: false,
            properties: { name: { type: 'string' }, version: { type: 'string', pattern: '^\\d+(\\.\\d+){0,2}$' }, autoSelect: { type: 'boolean' }, priority: { type: 'integer', minimum: 1 } },
          },
        },
        multiModel: { type: 'boolean' },
        disabled: { type: 'boolean' },
        protocolVersions: { type: 'array', items: protocol },
        workerSpec: { type: 'object' },
        containers: { type: 'array', minItems: 1, items: { type: 'object' } },
        volumes: { type: 'array', items: { type: 'object' } },
        nodeSelector: stringMap,
        affinity: { type: 'object' },
        tolerations: { type: 'array' },
        labels: stringMap,
        annotations: stringMap,
        imagePullSecrets: { type: 'array' },
        hostIPC: { type: 'boolean' },
        grpcEndpoint: { type: 'string' },
        grpcDataEndpoint: { type: 'string' },
        httpDataEndpoint: { type: 'string' },
        replicas: { type: 'integer', minimum: 0, maximum: 65535 },
        storageHelper: { type: 'object', additionalProperties: false, properties: { disabled: { type: 'boolean' } } },
        builtInAdapter: { type: 'object' },
      },
    },
  },
};

/** InferenceService with a PredictorSpec of a ModelSpec (ModelFormat, runtime, PredictorExtensionSpec) and ComponentExtensionSpec. */
const inferenceService = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 'serving.kserve.io/v1beta1' },
    kind: { const: 'InferenceService' },
    metadata: objectMeta,
    spec: {
      type: 'object',
      required: ['predictor'],
      properties: {
        predictor: {
          type: 'object',
          properties: {
            minReplicas: { type: 'integer', minimum: 0 },
            maxReplicas: { type: 'integer', minimum: 0 },
            scaleTarget: { type: 'integer' },
            scaleMetric: { enum: ['cpu', 'memory', 'concurrency', 'rps'] },
            timeout: { type: 'integer' },
            labels: stringMap,
            annotations: stringMap,
            model: {
              type: 'object',
              required: ['modelFormat'],
              properties: {
                modelFormat: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string' }, version: { type: 'string' } } },
                runtime: { type: 'string' },
                storageUri: { type: 'string', pattern: '^(gs|s3|pvc|hdfs|webhdfs|oci|hf|https?)://' },
                runtimeVersion: { type: 'string' },
                protocolVersion: protocol,
              },
            },
          },
        },
      },
    },
  },
};

const ajv = new Ajv2020({ strict: false, allErrors: true });
const validators = { runtime: ajv.compile(clusterServingRuntime), service: ajv.compile(inferenceService) };

/** Every problem with the runtime and the service, as they fit each other and the service's configuration. */
function problems(runtimeManifest: Manifest, serviceManifest: Manifest): string[] {
  const found: string[] = [];
  if (!validators.runtime(runtimeManifest)) found.push(`ClusterServingRuntime: ${ajv.errorsText(validators.runtime.errors)}`);
  if (!validators.service(serviceManifest)) found.push(`InferenceService: ${ajv.errorsText(validators.service.errors)}`);
  const spec = runtimeManifest.spec ?? {};
  try {
    new Pod({ metadata: { name: 'runtime' }, spec: { containers: spec.containers, volumes: spec.volumes } } as never).validate();
  } catch (error) {
    found.push(`containers: ${(error as Error).message}`);
  }
  if (!(spec.protocolVersions ?? []).includes('v2')) found.push('the runtime declares protocolVersions: [v2]');
  const container = (spec.containers ?? []).find((c: Manifest) => c.name === 'kserve-container');
  if (container === undefined) return [...found, 'the runtime\'s container is named kserve-container'];
  const env = Object.fromEntries((container.env ?? []).map((variable: Manifest) => [variable.name, variable.value]));
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    return [...found, `env: ${(error as Error).message}`];
  }
  if (config.PORT !== 8080 || !(container.ports ?? []).some((port: Manifest) => port.containerPort === 8080)) found.push('the service listens on 8080, the port KServe sends v2 traffic to');
  if (config.MODELS_DIR !== '/mnt/models') found.push("MODELS_DIR is /mnt/models, where KServe's storage initializer puts the model files");
  if (container.readinessProbe?.httpGet?.path !== '/v2/health/ready' || container.readinessProbe?.httpGet?.port !== config.PORT) found.push('readinessProbe: GET /v2/health/ready on PORT');
  if (container.livenessProbe?.httpGet?.path !== '/v2/health/live' || container.livenessProbe?.httpGet?.port !== config.PORT) found.push('livenessProbe: GET /v2/health/live on PORT');
  const context = container.securityContext ?? {};
  if (context.allowPrivilegeEscalation !== false || context.readOnlyRootFilesystem !== true || context.runAsNonRoot !== true || !(context.capabilities?.drop ?? []).includes('ALL') || context.seccompProfile?.type !== 'RuntimeDefault') {
    found.push('a restricted securityContext: no privilege escalation, read-only root, non-root, every capability dropped, RuntimeDefault seccomp');
  }
  if (!(container.volumeMounts ?? []).some((mount: Manifest) => mount.mountPath === '/tmp')) found.push('a writable /tmp under the read-only root filesystem');
  if (container.resources?.requests === undefined || container.resources?.limits === undefined) found.push('requests and limits');
  const annotations = spec.annotations ?? {};
  if (annotations['prometheus.io/scrape'] !== 'true' || annotations['prometheus.io/path'] !== '/metrics' || annotations['prometheus.io/port'] !== String(config.PORT)) found.push('pod annotations: prometheus.io/scrape, path /metrics, port PORT');
  // The InferenceService finds this runtime: by name, with a model format it supports, on v2.
  const model = serviceManifest.spec?.predictor?.model ?? {};
  if (model.runtime !== runtimeManifest.metadata?.name) found.push('the InferenceService names the runtime');
  if (!(spec.supportedModelFormats ?? []).some((format: Manifest) => format.name === model.modelFormat?.name)) found.push("the InferenceService's modelFormat is one the runtime supports");
  if (model.protocolVersion !== 'v2') found.push('the InferenceService asks for protocolVersion v2');
  if (model.storageUri === undefined) found.push('the InferenceService serves a model from a storageUri');
  return found;
}

describe('deploy/kserve', () => {
  it("validates against KServe's types and Kubernetes' Pod schema, and fits the service", () => {
    expect(problems(runtime, service)).toEqual([]);
  });

  it.each([
    ['an unknown runtime field', (r: Manifest) => (r.spec.protocolVersion = ['v2']), /must NOT have additional properties/],
    ['a protocol KServe does not know', (r: Manifest) => (r.spec.protocolVersions = ['v3']), /must be equal to one of the allowed values/],
    ['a container port that is not a number', (r: Manifest) => (r.spec.containers[0].ports[0].containerPort = '8080'), /containerPort must be integer/],
    ['another container name', (r: Manifest) => (r.spec.containers[0].name = 'server'), /kserve-container/],
    ['another port', (r: Manifest) => (r.spec.containers[0].env.find((e: Manifest) => e.name === 'PORT').value = '3000'), /listens on 8080/],
    ['a value the service refuses', (r: Manifest) => (r.spec.containers[0].env.find((e: Manifest) => e.name === 'WORKERS').value = 'two'), /WORKERS must be integer/],
    ['models elsewhere than /mnt/models', (r: Manifest) => (r.spec.containers[0].env.find((e: Manifest) => e.name === 'MODELS_DIR').value = '/models'), /MODELS_DIR is \/mnt\/models/],
    ['the native readiness route', (r: Manifest) => (r.spec.containers[0].readinessProbe.httpGet.path = '/health/ready'), /readinessProbe: GET \/v2\/health\/ready/],
    ['root', (r: Manifest) => (r.spec.containers[0].securityContext.runAsNonRoot = false), /restricted securityContext/],
    ['no scrape annotations', (r: Manifest) => delete r.spec.annotations, /prometheus.io/],
    ['a priority of 0', (r: Manifest) => (r.spec.supportedModelFormats[0].priority = 0), /must be >= 1/],
  ])('catches %s in the runtime', (_, change, problem) => {
    const broken = structuredClone(runtime);
    change(broken);
    expect(problems(broken, service).join('\n')).toMatch(problem);
  });

  it.each([
    ['a format the runtime does not support', (s: Manifest) => (s.spec.predictor.model.modelFormat.name = 'sklearn'), /modelFormat is one the runtime supports/],
    ['the v1 protocol', (s: Manifest) => (s.spec.predictor.model.protocolVersion = 'v1'), /protocolVersion v2/],
    ['no storage URI', (s: Manifest) => delete s.spec.predictor.model.storageUri, /storageUri/],
    ['a name that is not a DNS label', (s: Manifest) => (s.metadata.name = 'Pendulum_T'), /must match pattern/],
    ['a storage URI of no known scheme', (s: Manifest) => (s.spec.predictor.model.storageUri = 'ftp://x/y'), /storageUri must match pattern/],
  ])('catches %s in the InferenceService', (_, change, problem) => {
    const broken = structuredClone(service);
    change(broken);
    expect(problems(runtime, broken).join('\n')).toMatch(problem);
  });
});

describe("the runtime's container, replayed", () => {
  it('starts with its environment on a storage folder as KServe fills it, passes its probes, and serves the model over v2', async () => {
    const models = mkdtempSync(join(tmpdir(), 'kserve-models-'));
    try {
      execFileSync('python3', ['-c', "import numpy as np, sys; r = np.random.default_rng(0); np.savez(sys.argv[1], W=r.normal(size=(4, 2, 2)), b=r.normal(size=(4, 2)), w=r.normal(size=2), mu=0.0)", join(models, 'pendulum-T.npz')]);
      writeFileSync(join(models, 'pendulum-T.options.json'), JSON.stringify({ h: 0.1, inputDim: 1 }));
      const container = runtime.spec.containers[0];
      const env = Object.fromEntries(container.env.map((variable: Manifest) => [variable.name, String(variable.value)]));
      // The manifest's environment, on a free loopback port and this folder in place of /mnt/models.
      const server = await startServer({ ...env, HOST: '127.0.0.1', PORT: '0', MODELS_DIR: models });
      try {
        for (const probe of [container.readinessProbe, container.livenessProbe]) expect((await fetch(`${server.url}${probe.httpGet.path}`)).status).toBe(200);
        const answer = await fetch(`${server.url}/v2/models/pendulum-T/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: [{ name: 'points', shape: [2, 1], datatype: 'FP64', data: [0.5, -0.25] }], outputs: [{ name: 'gradient' }] }),
        });
        expect(answer.status).toBe(200);
        const body = (await answer.json()) as { model_name: string; outputs: { shape: number[] }[] };
        expect([body.model_name, body.outputs[0].shape]).toEqual(['pendulum-T', [2, 1]]);
      } finally {
        server.child.kill('SIGKILL');
      }
    } finally {
      rmSync(models, { recursive: true, force: true });
    }
  }, 60_000);
});
