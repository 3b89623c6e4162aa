/**
 * Checks deploy/kubernetes without a cluster (npm run kubernetes:check): builds each kustomization
 * (resources and JSON 6902 patches, the parts these manifests use; anything else is refused
 * rather than ignored), validates every object against Kubernetes' own schemas with
 * kubernetes-models, and checks that the manifests fit the service: probes on its health routes
 * and port, a ConfigMap the service's configuration accepts, a grace period longer than
 * SHUTDOWN_GRACE_MS, a restricted securityContext, requests and limits, and selectors that match.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { configSchema, loadConfig } from '../src/config.js';

export type Manifest = Record<string, any>;

/** The kinds these manifests may hold, each with its validating model. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'patches']);

/** A JSON pointer's segments (RFC 6901). */
const pointer = (path: string) => path.split('/').slice(1).map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'));

/** Applies JSON 6902 add, replace and remove operations. */
function applyPatch(target: Manifest, operations: { op: string; path: string; value?: unknown }[]): void {
  for (const { op, path, value } of operations) {
    const segments = pointer(path);
    const last = segments.pop()!;
    let parent: Manifest = target;
    for (const segment of segments) {
      parent = parent?.[Array.isArray(parent) ? Number(segment) : segment];
      if (parent === undefined) throw new Error(`patch ${op} ${path}: ${segment} does not exist`);
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (op === 'add') parent.splice(index, 0, value);
      else if (op === 'replace') parent[index] = value;
      else if (op === 'remove') parent.splice(index, 1);
      else throw new Error(`patch: the operation ${op} is not supported here`);
    } else if (op === 'add' || op === 'replace') {
      if (op === 'replace' && !(last in parent)) throw new Error(`patch replace ${path}: nothing to replace`);
      parent[last] = value;
    } else if (op === 'remove') delete parent[last];
    else throw new Error(`patch: the operation ${op} is not supported here`);
  }
}

/** The objects a kustomization folder makes, in order. */
export function build(folder: string): Manifest[] {
  const kustomization = parse(readFileSync(join(folder, 'kustomization.yaml'), 'utf8')) as Manifest;
  for (const field of Object.keys(kustomization)) if (!KUSTOMIZATION_FIELDS.has(field)) throw new Error(`${folder}: kustomization field ${field} is not supported by this check`);
  const objects: Manifest[] = [];
  for (const resource of kustomization.resources ?? []) {
    const path = resolve(folder, resource);
    if (!existsSync(path)) throw new Error(`${folder}: resource ${resource} does not exist`);
    if (statSync(path).isDirectory()) objects.push(...build(path));
    else for (const document of parseAllDocuments(readFileSync(path, 'utf8'))) if (document.contents !== null) objects.push(document.toJS() as Manifest);
  }
  for (const { target, patch, path } of kustomization.patches ?? []) {
    const operations = parse(patch ?? readFileSync(resolve(folder, path), 'utf8'));
    const matches = objects.filter((object) => object.kind === target.kind && object.metadata?.name === target.name);
    if (matches.length !== 1) throw new Error(`${folder}: a patch's target ${target.kind}/${target.name} matches ${matches.length} objects`);
    applyPatch(matches[0], operations);
  }
  return objects;
}

const find = (objects: Manifest[], kind: string) => objects.filter((object) => object.kind === kind);
const selects = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels?.[key] === value);

/** The restricted profile's container settings: non-root, read-only root, no privilege escalation, every capability dropped. */
function restricted(where: string, pod: Manifest, container: Manifest): string[] {
  const problems: string[] = [];
  const context = container.securityContext ?? {};
  if (context.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation: false`);
  if (context.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem: true`);
  if ((context.runAsNonRoot ?? pod.securityContext?.runAsNonRoot) !== true) problems.push(`${where}: runAsNonRoot: true`);
  if (!(context.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where}: capabilities.drop: [ALL]`);
  if (container.resources?.requests === undefined || container.resources?.limits === undefined) problems.push(`${where}: resources with requests and limits`);
  return problems;
}

/** CPUs in a quantity such as 500m or 2. */
const cpus = (quantity: string | number) => (String(quantity).endsWith('m') ? Number.parseFloat(String(quantity)) / 1000 : Number(quantity));

/** The problems with the objects of one build (none when they fit the service). */
export function checkManifests(objects: Manifest[]): string[] {
  const problems: string[] = [];
  for (const object of objects) {
    const model = MODELS[`${object.apiVersion}/${object.kind}`];
    const name = `${object.kind}/${object.metadata?.name}`;
    if (model === undefined) {
      problems.push(`${name}: ${object.apiVersion} ${object.kind} is not a kind this check knows`);
      continue;
    }
    try {
      new model(object as never).validate();
    } catch (error) {
      problems.push(`${name}: ${(error as Error).message}`);
    }
  }

  const deployments = find(objects, 'Deployment');
  if (deployments.length !== 1) return [...problems, 'one Deployment'];
  const [deployment] = deployments;
  const pod = deployment.spec.template.spec;
  const labels = deployment.spec.template.metadata?.labels;
  const container = pod.containers.find((c: Manifest) => c.name === 'resnet-gradient');
  if (container === undefined) return [...problems, 'the Deployment runs the resnet-gradient container'];

  // The configuration: the ConfigMap the container reads, as the service reads it.
  const configMaps = find(objects, 'ConfigMap');
  const configMapNames = (container.envFrom ?? []).map((source: Manifest) => source.configMapRef?.name).filter(Boolean);
  const data: Record<string, string> = Object.assign({}, ...configMaps.filter((map) => configMapNames.includes(map.metadata.name)).map((map) => map.data));
  if (configMapNames.length === 0 || Object.keys(data).length === 0) problems.push('the container reads its configuration from a ConfigMap');
  for (const key of Object.keys(data)) if (!Object.hasOwn(configSchema.properties, key)) problems.push(`ConfigMap: ${key} is not a configuration variable`);
  let config;
  try {
    config = loadConfig(data);
  } catch (error) {
    return [...problems, `ConfigMap: ${(error as Error).message}`];
  }
  const secrets = new Map<string, Manifest>((container.env ?? []).map((variable: Manifest) => [variable.name, variable.valueFrom?.secretKeyRef]));
  for (const secret of ['REGISTRY_URL', 'API_KEYS']) {
    if (secrets.get(secret) === undefined) problems.push(`the container takes ${secret} from a Secret`);
    if (secret in data) problems.push(`ConfigMap: ${secret} belongs in the Secret`);
  }
  if (secrets.get('REGISTRY_URL')?.optional === true) problems.push('REGISTRY_URL is required: replicas on separate registries disagree');

  // Replicas, probes and ports.
  if ((deployment.spec.replicas ?? 1) < 2) problems.push('Deployment: at least 2 replicas');
  const port = (container.ports ?? []).find((p: Manifest) => p.containerPort === config.PORT);
  if (port === undefined) problems.push(`the container's port is PORT (${config.PORT})`);
  const probePort = (probe: Manifest | undefined) => probe?.httpGet?.port;
  for (const [probe, path] of [
    ['livenessProbe', '/health/live'],
    ['readinessProbe', '/health/ready'],
  ] as const) {
    const spec = container[probe];
    if (spec?.httpGet?.path !== path) problems.push(`${probe}: GET ${path}`);
    else if (probePort(spec) !== config.PORT && probePort(spec) !== port?.name) problems.push(`${probe}: on PORT (${config.PORT}), not ${probePort(spec)}`);
  }
  const annotations = deployment.spec.template.metadata?.annotations ?? {};
  if (annotations['prometheus.io/scrape'] !== 'true' || annotations['prometheus.io/path'] !== '/metrics' || annotations['prometheus.io/port'] !== String(config.PORT)) {
    problems.push(`pod annotations: prometheus.io/scrape "true", path /metrics, port ${config.PORT}`);
  }
  if (config.WORKERS === undefined || config.WORKERS > Math.max(1, Math.floor(cpus(container.resources?.limits?.cpu ?? 0)))) {
    problems.push('ConfigMap: WORKERS is set, to no more than the CPU limit (a pod sees the node\'s cores)');
  }

  // Graceful termination: preStop, then SIGTERM and SHUTDOWN_GRACE_MS, all within the grace period.
  const preStop = container.lifecycle?.preStop?.exec?.command;
  const preStopSeconds = Array.isArray(preStop) && preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
  const grace = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
  if (grace <= preStopSeconds * 1000 + config.SHUTDOWN_GRACE_MS) {
    problems.push(`terminationGracePeriodSeconds (${grace / 1000} s) is longer than preStop (${preStopSeconds} s) + SHUTDOWN_GRACE_MS (${config.SHUTDOWN_GRACE_MS} ms)`);
  }
  if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault') problems.push('pod securityContext: seccompProfile RuntimeDefault');
  for (const [kind, list] of [
    ['containers', pod.containers],
    ['initContainers', pod.initContainers ?? []],
  ] as const) {
    for (const each of list) problems.push(...restricted(`Deployment ${kind} ${each.name}`, pod, each));
  }
  if ((container.securityContext?.readOnlyRootFilesystem ?? false) && !(container.volumeMounts ?? []).some((mount: Manifest) => mount.mountPath === '/tmp')) {
    problems.push('a writable /tmp under the read-only root filesystem');
  }

  // The Service, the autoscaler and the disruption budget point at these pods.
  const services = find(objects, 'Service').filter((service) => selects(service.spec.selector, labels));
  if (services.length !== 1) problems.push('one Service selects the pods');
  else if (!services[0].spec.ports.every((p: Manifest) => p.targetPort === port?.name || p.targetPort === config.PORT)) problems.push("the Service's targetPort is the container's port");
  const [hpa] = find(objects, 'HorizontalPodAutoscaler');
  if (hpa?.spec.scaleTargetRef?.kind !== 'Deployment' || hpa.spec.scaleTargetRef.name !== deployment.metadata.name) problems.push('a HorizontalPodAutoscaler scales the Deployment');
  else {
    if (!(hpa.spec.metrics ?? []).some((metric: Manifest) => metric.resource?.name === 'cpu')) problems.push('the HorizontalPodAutoscaler scales on CPU');
    if ((hpa.spec.minReplicas ?? 1) < 2) problems.push('the HorizontalPodAutoscaler keeps at least 2 replicas');
  }
  const [pdb] = find(objects, 'PodDisruptionBudget');
  if (!selects(pdb?.spec.selector?.matchLabels, labels)) problems.push('a PodDisruptionBudget selects the pods');
  else if (pdb.spec.minAvailable === undefined && pdb.spec.maxUnavailable === undefined) problems.push('the PodDisruptionBudget sets minAvailable or maxUnavailable');

  // A database in the build (the overlay): its Service reaches its pods, and they are restricted too.
  for (const statefulSet of find(objects, 'StatefulSet')) {
    const podSpec = statefulSet.spec.template.spec;
    for (const each of podSpec.containers) problems.push(...restricted(`StatefulSet ${statefulSet.metadata.name} ${each.name}`, podSpec, each));
    if (!find(objects, 'Service').some((service) => service.metadata.name === statefulSet.spec.serviceName && selects(service.spec.selector, statefulSet.spec.template.metadata.labels))) {
      problems.push(`StatefulSet ${statefulSet.metadata.name}: its serviceName is a Service that selects its pods`);
    }
  }
  return problems;
}

export const kustomizations = ['base', 'overlays/postgres'];

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('../deploy/kubernetes/', import.meta.url));
  let failed = false;
  for (const folder of kustomizations) {
    const objects = build(join(root, folder));
    const problems = checkManifests(objects);
    for (const problem of problems) console.error(`FAIL ${folder}: ${problem}`);
    failed ||= problems.length > 0;
    if (problems.length === 0) console.log(`ok   ${folder}: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  }
  if (failed) process.exit(1);
  console.log('kubernetes:check passed');
}
