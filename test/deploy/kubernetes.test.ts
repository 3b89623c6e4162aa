/**
 * deploy/kubernetes, built as kustomize builds it and validated offline against Kubernetes' own
 * schemas (kubernetes-models) and against the service's configuration; and the check catches
 * each kind of mistake, on copies with one thing broken.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { build, checkManifests, kustomizations, type Manifest } from '../../scripts/kubernetes-check.js';
import { defaultConfig } from '../../src/config.js';

const root = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));
const base = build(join(root, 'base'));
const of = (objects: Manifest[], kind: string, name = 'resnet-gradient') => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
const container = (objects: Manifest[]) => of(objects, 'Deployment').spec.template.spec.containers[0];

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

describe('deploy/kubernetes', () => {
  it.each(kustomizations)('%s builds, validates against the Kubernetes schemas, and fits the service', (folder) => {
    const objects = build(join(root, folder));
    expect(checkManifests(objects)).toEqual([]);
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'ConfigMap']));
  });

  it("gives the service its own settings: the port, the grace period and the registry's Secret", () => {
    const data = of(base, 'ConfigMap').data;
    expect(Number(data.PORT)).toBe(container(base).ports[0].containerPort);
    expect(Number(data.SHUTDOWN_GRACE_MS)).toBe(defaultConfig.SHUTDOWN_GRACE_MS);
    expect(container(base).env.map((e: Manifest) => [e.name, e.valueFrom.secretKeyRef.name])).toEqual([
      ['REGISTRY_URL', 'resnet-gradient'],
      ['API_KEYS', 'resnet-gradient'],
    ]);
  });

  it('the postgres overlay adds the database and makes the replicas wait for it', () => {
    const overlay = build(join(root, 'overlays/postgres'));
    expect(of(overlay, 'StatefulSet', 'resnet-postgres').spec.template.spec.containers[0].image).toMatch(/^postgres:\d+\.\d+/);
    expect(of(overlay, 'Deployment').spec.template.spec.initContainers.map((c: Manifest) => c.name)).toEqual(['wait-for-postgres']);
    expect(of(base, 'Deployment').spec.template.spec.initContainers).toBeUndefined();
  });

  it.each([
    ['a port that is not an integer', (o: Manifest[]) => (container(o).ports[0].containerPort = '3000'), /containerPort must be integer/],
    ['a readiness probe on the wrong route', (o: Manifest[]) => (container(o).readinessProbe.httpGet.path = '/health/live'), /readinessProbe: GET \/health\/ready/],
    ['a liveness probe on the wrong port', (o: Manifest[]) => (container(o).livenessProbe.httpGet.port = 8080), /livenessProbe: on PORT \(3000\), not 8080/],
    ['one replica', (o: Manifest[]) => (of(o, 'Deployment').spec.replicas = 1), /at least 2 replicas/],
    ['a grace period within SHUTDOWN_GRACE_MS', (o: Manifest[]) => (of(o, 'Deployment').spec.template.spec.terminationGracePeriodSeconds = 12), /terminationGracePeriodSeconds \(12 s\)/],
    ['capabilities kept', (o: Manifest[]) => delete container(o).securityContext.capabilities, /capabilities.drop: \[ALL\]/],
    ['a writable root filesystem', (o: Manifest[]) => (container(o).securityContext.readOnlyRootFilesystem = false), /readOnlyRootFilesystem: true/],
    ['no limits', (o: Manifest[]) => delete container(o).resources.limits, /requests and limits/],
    ['an unknown variable', (o: Manifest[]) => (of(o, 'ConfigMap').data.MAX_MODEL = '3'), /MAX_MODEL is not a configuration variable/],
    ['a value the service refuses', (o: Manifest[]) => (of(o, 'ConfigMap').data.PORT = '70000'), /PORT must be <= 65535/],
    ['the registry URL in the ConfigMap', (o: Manifest[]) => (of(o, 'ConfigMap').data.REGISTRY_URL = 'postgres://x@db/x'), /REGISTRY_URL belongs in the Secret/],
    ['more workers than CPUs', (o: Manifest[]) => (of(o, 'ConfigMap').data.WORKERS = '8'), /WORKERS is set, to no more than the CPU limit/],
    ['no scrape annotations', (o: Manifest[]) => (of(o, 'Deployment').spec.template.metadata.annotations = {}), /prometheus.io\/scrape/],
    ['an autoscaler on another Deployment', (o: Manifest[]) => (of(o, 'HorizontalPodAutoscaler').spec.scaleTargetRef.name = 'other'), /HorizontalPodAutoscaler scales the Deployment/],
    ['a budget that selects nothing', (o: Manifest[]) => (of(o, 'PodDisruptionBudget').spec.selector.matchLabels = { app: 'other' }), /PodDisruptionBudget selects the pods/],
    ['a Service on another port', (o: Manifest[]) => (of(o, 'Service').spec.ports[0].targetPort = 'metrics'), /targetPort is the container's port/],
  ])('catches %s', (_, change, problem) => {
    const objects = structuredClone(base);
    change(objects);
    expect(checkManifests(objects).join('\n')).toMatch(problem);
  });

  it('refuses kustomization fields it does not apply, rather than ignoring them', () => {
    const folder = mkdtempSync(join(tmpdir(), 'kustomize-'));
    folders.push(folder);
    writeFileSync(join(folder, 'kustomization.yaml'), 'resources: []\nnamePrefix: x-\n');
    expect(() => build(folder)).toThrow(/kustomization field namePrefix is not supported/);
  });
});
