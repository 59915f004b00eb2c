/**
 * deploy/k8s, without a cluster: each kustomization assembled from its kustomization.yaml (and
 * compared with `kubectl kustomize` where kubectl exists), every object validated against the
 * Kubernetes, KEDA and prometheus-operator schemas (the kubernetes-models packages, offline), and
 * what schemas cannot see: Services select pods that exist on ports they have, every jobpipe
 * container reads only settings its role knows (with values it accepts), the endpoints a role
 * connects to are Services in front of the role that binds them, CURVE is on with keys from the
 * Secret jobpipe-curve that users make with `jobpipe keys --out` (its files mounted here as the
 * kubelet would, from a run of that command), probes hit the metrics port's /healthz and /readyz,
 * the dashboard and rules are the same as deploy/grafana's and deploy/prometheus's, and both
 * autoscalers scale on the waiting work with one query (KEDA's trigger, and prometheus-adapter's
 * for the HPA's External metric).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
// One module per kind (the packages' barrels load every schema, seconds of import time). A kind
// that is not here fails the schema test with "no schema": import its model here.
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { loadConfig } from '@jobpipe/config';
import { expectOneKeySet } from './deploy-fixtures/curve-keys.js';
import { entrypointHere, hostPath, repoRoot, roleSettings } from './deploy-fixtures/compose.js';
import { kustomize, objectKey, type K8sObject } from './deploy-fixtures/kustomize.js';

const k8sDir = resolve(repoRoot, 'deploy/k8s');
/**
 * Every kustomization users apply: the default (HPA), KEDA's, and docs/deployment.md's overlay for
 * a managed Redis (base, HPA and monitoring, with a Secret of its own instead of redis/).
 */
const variants = [
  { name: 'deploy/k8s', dir: k8sDir, redis: true, autoscaler: 'HorizontalPodAutoscaler' },
  { name: 'deploy/k8s/keda', dir: resolve(k8sDir, 'keda'), redis: true, autoscaler: 'ScaledObject' },
  {
    name: 'a managed-Redis overlay',
    dir: resolve(repoRoot, 'test/integration/deploy-fixtures/managed-redis'),
    redis: false,
    autoscaler: 'HorizontalPodAutoscaler',
  },
] as const;

/** Model classes by `apiVersion/kind`, from the schema packages. */
const models = new Map<string, { new (data: unknown): { validate(): void } }>();
for (const model of [
  ConfigMap,
  Namespace,
  Secret,
  Service,
  Deployment,
  StatefulSet,
  HorizontalPodAutoscaler,
  PodDisruptionBudget,
  ScaledObject,
  PrometheusRule,
  ServiceMonitor,
] as unknown as { apiVersion: string; kind: string; new (data: unknown): { validate(): void } }[]) {
  models.set(`${model.apiVersion}/${model.kind}`, model);
}

/** Scratch space for this file: the user's keys, and each container's mounted files. */
const scratch = mkdtempSync(join(tmpdir(), 'jobpipe-k8s-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * Secrets that no kustomization holds because users create them (docs/deployment.md), by name:
 * the directory whose files become its keys. jobpipe-curve is made as the docs say:
 * `jobpipe keys --out keys && kubectl -n jobpipe create secret generic jobpipe-curve --from-file=keys/`.
 */
const userSecrets: Record<string, string> = { 'jobpipe-curve': join(scratch, 'keys') };
const keysRun = spawnSync(entrypointHere()[0]!, [...entrypointHere().slice(1), 'keys', '--out', userSecrets['jobpipe-curve']!], { encoding: 'utf8' });

const WORKLOADS = new Set(['Deployment', 'StatefulSet']);
const isJobpipeImage = (image: string) => /(^|\/)jobpipe(:|@|$)/.test(image);
const kubectlAvailable = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

interface PodTemplate {
  owner: K8sObject;
  labels: Record<string, string>;
  spec: any;
}

function podTemplates(objects: K8sObject[]): PodTemplate[] {
  return objects
    .filter((object) => WORKLOADS.has(object.kind))
    .map((owner) => ({ owner, labels: owner.spec.template.metadata?.labels ?? {}, spec: owner.spec.template.spec }));
}

const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([key, value]) => labels[key] === value);

function find(objects: K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((object) => object.kind === kind && object.metadata.name === name);
}

/** The text of a ConfigMap's or Secret's key, wherever the manifest put it. */
function keyValue(objects: K8sObject[], kind: 'ConfigMap' | 'Secret', name: string, key: string): string | undefined {
  const object = find(objects, kind, name);
  if (!object) return undefined;
  if (object.stringData?.[key] !== undefined) return String(object.stringData[key]);
  if (object.data?.[key] !== undefined) return kind === 'Secret' ? Buffer.from(String(object.data[key]), 'base64').toString('utf8') : String(object.data[key]);
  return undefined;
}

function keysOf(objects: K8sObject[], kind: 'ConfigMap' | 'Secret', name: string): string[] {
  const object = find(objects, kind, name);
  if (!object) throw new Error(`${kind} ${name} is referenced but not in the set`);
  return [...Object.keys(object.data ?? {}), ...Object.keys(object.stringData ?? {})];
}

/** A container's environment as the kubelet builds it: envFrom first, then env. Throws on a dangling reference. */
function containerEnv(objects: K8sObject[], container: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const [kind, ref] = source.configMapRef ? (['ConfigMap', source.configMapRef] as const) : (['Secret', source.secretRef] as const);
    for (const key of keysOf(objects, kind, ref.name)) env[`${source.prefix ?? ''}${key}`] = keyValue(objects, kind, ref.name, key)!;
  }
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined)
      env[entry.name] = String(entry.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_: string, name: string) => env[name] ?? `$(${name})`);
    else if (entry.valueFrom?.configMapKeyRef || entry.valueFrom?.secretKeyRef) {
      const [kind, ref] = entry.valueFrom.configMapKeyRef
        ? (['ConfigMap', entry.valueFrom.configMapKeyRef] as const)
        : (['Secret', entry.valueFrom.secretKeyRef] as const);
      const value = keyValue(objects, kind, ref.name, ref.key);
      if (value === undefined) throw new Error(`${container.name}: ${entry.name} refers to ${kind} ${ref.name} key ${ref.key}, which does not exist`);
      env[entry.name] = value;
    } else throw new Error(`${container.name}: ${entry.name} has neither value nor a ConfigMap/Secret reference`);
  }
  return env;
}

interface JobpipeContainer {
  template: PodTemplate;
  container: any;
  role: string;
  env: Record<string, string>;
}

interface SecretMount {
  mountPath: string;
  readOnly: boolean;
  secretName: string;
  /** Paths in the mount (relative) -> the Secret's keys they hold. */
  files: Record<string, string>;
  /** Where the files are here. */
  dir: string;
}

let mounts = 0;
/**
 * A container's Secret volumes as the kubelet mounts them: each in a directory of its own, with the
 * Secret's keys (all, or the volume's `items`) as files. The Secret is one of the set or one users
 * make; a key the Secret does not hold throws, as the kubelet fails the mount.
 */
function mountSecrets(objects: K8sObject[], template: PodTemplate, container: any): SecretMount[] {
  return (container.volumeMounts ?? []).flatMap((mount: any) => {
    const volume = (template.spec.volumes ?? []).find((candidate: any) => candidate.name === mount.name);
    if (!volume) throw new Error(`${container.name}: volumeMount ${mount.name} names no volume of the pod`);
    if (!volume.secret) return [];
    const { secretName, items } = volume.secret;
    const fromUser = userSecrets[secretName];
    const keys = fromUser !== undefined ? readdirSync(fromUser) : keysOf(objects, 'Secret', secretName);
    const read = (key: string) => {
      if (!keys.includes(key)) throw new Error(`${container.name}: Secret ${secretName} has no key ${key}`);
      return fromUser !== undefined ? readFileSync(join(fromUser, key), 'utf8') : keyValue(objects, 'Secret', secretName, key)!;
    };
    const files: Record<string, string> = Object.fromEntries(items ? items.map((item: any) => [item.path, item.key]) : keys.map((key) => [key, key]));
    const dir = join(scratch, `mount-${++mounts}`);
    for (const [path, key] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), read(key));
    }
    return [{ mountPath: mount.mountPath, readOnly: mount.readOnly === true, secretName, files, dir }];
  });
}

/** A jobpipe container's environment with paths turned into paths here: its mounted Secrets, and the image's /app as this checkout. */
function envHere(objects: K8sObject[], entry: JobpipeContainer): Record<string, string> {
  const mounted = mountSecrets(objects, entry.template, entry.container);
  return Object.fromEntries(
    Object.entries(entry.env).map(([name, value]) => {
      const mount = mounted.find((candidate) => value.startsWith(`${candidate.mountPath}/`));
      if (mount) return [name, join(mount.dir, value.slice(mount.mountPath.length + 1))];
      return [name, value.startsWith('/') ? hostPath(value) : value];
    }),
  );
}

function jobpipeContainers(objects: K8sObject[]): JobpipeContainer[] {
  return podTemplates(objects).flatMap((template) =>
    (template.spec.containers as any[])
      .filter((container) => isJobpipeImage(container.image))
      .map((container) => ({ template, container, role: (container.command ?? container.args ?? [])[0], env: containerEnv(objects, container) })),
  );
}

/** A container port by name or number. */
function containerPort(container: any, port: string | number): number | undefined {
  const match = (container.ports ?? []).find((candidate: any) => candidate.name === port || candidate.containerPort === port);
  return match?.containerPort;
}

const metricsPortOf = (entry: JobpipeContainer) => Number(entry.env.JOBPIPE_METRICS_PORT ?? roleSettings[entry.role]!.metricsPort!.default);
const settingByEnv = (role: string, env: string) => Object.values(roleSettings[role]!).find((setting) => setting.env === env);
const tcpPort = (endpoint: string) => Number(/^tcp:\/\/[^:]+:(\d+)$/.exec(endpoint)?.[1]);

/** What each role connects to, and which role binds it with which setting. */
const CONNECTIONS = [
  { connect: 'JOBPIPE_JOBS_CONNECT', bind: 'JOBPIPE_JOBS_BIND', binder: 'ventilator' },
  { connect: 'JOBPIPE_RESULTS_CONNECT', bind: 'JOBPIPE_RESULTS_BIND', binder: 'sink' },
  { connect: 'JOBPIPE_EVENTS_CONNECT', bind: 'JOBPIPE_EVENTS_BIND', binder: 'sink' },
];

describe.each(variants)('$name', (variant) => {
  const dir = variant.dir;
  const objects = kustomize(dir);

  it('assembles from its kustomization: unique objects, all in the jobpipe namespace, all labelled part-of jobpipe', () => {
    const keys = objects.map(objectKey);
    expect(new Set(keys).size, `duplicates in ${keys.join(', ')}`).toBe(keys.length);
    expect(objects.filter((object) => object.kind === 'Namespace').map((object) => object.metadata.name)).toEqual(['jobpipe']);
    for (const object of objects) {
      if (object.kind !== 'Namespace') expect(object.metadata.namespace, objectKey(object)).toBe('jobpipe');
      expect(object.metadata.labels?.['app.kubernetes.io/part-of'], objectKey(object)).toBe('jobpipe');
    }
    for (const template of podTemplates(objects)) expect(template.labels['app.kubernetes.io/part-of'], objectKey(template.owner)).toBe('jobpipe');
  });

  // kubectl is not on every machine (the issue asks for a test that does not need it): where it
  // is, its rendering must match ours; where it is not, the assembly above still stands.
  it('is what `kubectl kustomize` makes of it, where kubectl is installed', () => {
    expect(objects.length).toBeGreaterThan(0);
    if (!kubectlAvailable) return;
    const run = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const theirs = parseAllDocuments(run.stdout)
      .map((document) => document.toJS() as K8sObject)
      .filter(Boolean);
    const byKey = (list: K8sObject[]) => Object.fromEntries(list.map((object) => [objectKey(object), object]));
    expect(byKey(objects)).toEqual(byKey(theirs));
  });

  it('every object validates against the Kubernetes, KEDA and prometheus-operator schemas', () => {
    for (const object of objects) {
      const Model = models.get(`${object.apiVersion}/${object.kind}`);
      expect(Model, `no schema for ${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(() => new Model!(object).validate(), objectKey(object)).not.toThrow();
    }
  });

  it('every Service selects pods that exist, on ports those pods have; workload selectors match their own pods', () => {
    const templates = podTemplates(objects);
    for (const template of templates) expect(selects(template.owner.spec.selector.matchLabels, template.labels), objectKey(template.owner)).toBe(true);
    for (const service of objects.filter((object) => object.kind === 'Service')) {
      const selected = templates.filter((template) => selects(service.spec.selector ?? { none: 'none' }, template.labels));
      expect(
        selected.map((template) => template.owner.metadata.name),
        `pods of Service ${service.metadata.name}`,
      ).toHaveLength(1);
      for (const port of service.spec.ports) {
        const target = port.targetPort ?? port.port;
        const found = selected[0]!.spec.containers.some((container: any) => containerPort(container, target) !== undefined);
        expect(found, `Service ${service.metadata.name} port ${port.name}: no container port ${target}`).toBe(true);
      }
    }
    for (const statefulSet of objects.filter((object) => object.kind === 'StatefulSet')) {
      expect(find(objects, 'Service', statefulSet.spec.serviceName)?.spec.clusterIP, `governing Service of ${statefulSet.metadata.name}`).toBe('None');
    }
    for (const budget of objects.filter((object) => object.kind === 'PodDisruptionBudget')) {
      expect(
        templates.filter((template) => selects(budget.spec.selector.matchLabels, template.labels)).map((template) => template.owner.metadata.name),
      ).toEqual(['worker']);
    }
  });

  it('every env var a jobpipe container reads is one its role knows, with a value its role accepts', () => {
    const containers = jobpipeContainers(objects);
    expect(containers.map((entry) => entry.role).sort()).toEqual(['sink', 'ventilator', 'worker']);
    for (const entry of containers) {
      const settings = roleSettings[entry.role];
      expect(settings, `role of container ${entry.container.name}`).toBeDefined();
      const known = new Set(Object.values(settings!).map((setting) => setting.env));
      for (const name of Object.keys(entry.env)) expect(known.has(name), `${entry.role} does not read ${name}`).toBe(true);
      // The image holds this checkout's built tree under /app, so the pipeline path maps to a file
      // here; the key files are those of a `jobpipe keys` run, mounted as the kubelet would.
      expect(keysRun.status, keysRun.stderr).toBe(0);
      expect(() => loadConfig(settings!, { env: envHere(objects, entry) }), `${entry.role}'s settings`).not.toThrow();
      expect(entry.env.JOBPIPE_PIPELINE, `${entry.role} needs a pipeline`).toBeDefined();
    }
    // Other containers (Redis) refer only to keys that exist.
    for (const template of podTemplates(objects)) for (const container of template.spec.containers) containerEnv(objects, container);
    // Settings two roles share agree.
    const env = Object.fromEntries(containers.map((entry) => [entry.role, entry.env]));
    expect(env.worker!.JOBPIPE_HEARTBEAT_MS).toBe(env.ventilator!.JOBPIPE_HEARTBEAT_MS);
    expect(env.worker!.JOBPIPE_RESULTS_CONNECT).toBe(env.ventilator!.JOBPIPE_RESULTS_CONNECT);
    expect(env.sink!.JOBPIPE_REDIS_PREFIX).toBe(env.ventilator!.JOBPIPE_REDIS_PREFIX);
    expect(env.sink!.JOBPIPE_REDIS_URL).toBe(env.ventilator!.JOBPIPE_REDIS_URL);
    expect(env.sink!.JOBPIPE_PIPELINE).toBe(env.ventilator!.JOBPIPE_PIPELINE);
    expect(env.worker!.JOBPIPE_PIPELINE).toBe(env.ventilator!.JOBPIPE_PIPELINE);
  });

  it('what a role connects to is a Service in front of the role that binds it, on the port it binds', () => {
    const containers = jobpipeContainers(objects);
    const templates = podTemplates(objects);
    for (const entry of containers) {
      for (const link of CONNECTIONS) {
        if (!settingByEnv(entry.role, link.connect)) continue;
        // The defaults name 127.0.0.1: in a cluster every role must be told where the others are.
        const endpoint = entry.env[link.connect];
        expect(endpoint, `${entry.role}: ${link.connect}`).toBeDefined();
        const [, host, port] = /^tcp:\/\/([^:]+):(\d+)$/.exec(endpoint!)!;
        const service = find(objects, 'Service', host!.split('.')[0]!);
        expect(service, `${entry.role}: ${link.connect} ${endpoint}: no Service ${host}`).toBeDefined();
        const servicePort = service!.spec.ports.find((candidate: any) => candidate.port === Number(port));
        expect(servicePort, `Service ${host} has no port ${port}`).toBeDefined();
        const binder = containers.find((candidate) => candidate.role === link.binder)!;
        expect(
          templates.find((template) => selects(service!.spec.selector, template.labels))?.owner.metadata.name,
          `Service ${host} selects the ${link.binder}`,
        ).toBe(binder.template.owner.metadata.name);
        const bound = binder.env[link.bind] ?? String(settingByEnv(link.binder, link.bind)!.default);
        expect(
          containerPort(binder.container, servicePort.targetPort ?? servicePort.port),
          `${link.binder} listens (${bound}) where Service ${host}:${port} sends`,
        ).toBe(tcpPort(bound));
      }
    }
  });

  it('CURVE on every jobpipe container: keys read from files of the Secret jobpipe-curve (which users make), mounted read-only, only those the role reads, one consistent set', () => {
    expect(keysRun.status, keysRun.stderr).toBe(0);
    // Made by users from `jobpipe keys`, never shipped: keys in git would be everyone's.
    expect(find(objects, 'Secret', 'jobpipe-curve'), 'no CURVE keys in the manifests').toBeUndefined();
    const configs: Record<string, any> = {};
    for (const entry of jobpipeContainers(objects)) {
      const curveFiles = Object.values(roleSettings[entry.role]!)
        .map((setting) => setting.env)
        .filter((name) => name.startsWith('JOBPIPE_CURVE_') && name.endsWith('_FILE'));
      const curveSet = Object.keys(entry.env).filter((name) => name.startsWith('JOBPIPE_CURVE_'));
      expect(curveSet.sort(), `${entry.role}: every CURVE setting it knows, each as a file`).toEqual(curveFiles.sort());
      const mounted = mountSecrets(objects, entry.template, entry.container);
      const read = new Set<string>();
      for (const name of curveFiles) {
        const path = entry.env[name]!;
        const mount = mounted.find((candidate) => path.startsWith(`${candidate.mountPath}/`));
        expect(mount?.secretName, `${entry.role}: ${name}=${path} is in a mounted Secret`).toBe('jobpipe-curve');
        expect(mount!.readOnly, `${entry.role}: mounted read-only`).toBe(true);
        const file = relative(mount!.mountPath, path);
        expect(Object.keys(mount!.files), `${entry.role}: ${name}=${path}`).toContain(file);
        read.add(mount!.files[file]!);
      }
      // A pod that would start without its keys would run in the clear, or exit 2 at once: the Secret is required.
      const volume = entry.template.spec.volumes.find((candidate: any) => candidate.secret?.secretName === 'jobpipe-curve');
      expect(volume.secret.optional ?? false, `${entry.role}: jobpipe-curve is required`).toBe(false);
      // Least privilege: a container gets the keys it reads and no others (a worker never the server's secret).
      const given = mounted.filter((mount) => mount.secretName === 'jobpipe-curve').flatMap((mount) => Object.values(mount.files));
      expect(given.sort(), `${entry.role}: keys of jobpipe-curve it gets`).toEqual([...read].sort());
      // The image's user reads them: group fsGroup, mode at least group-readable.
      expect(entry.template.spec.securityContext.fsGroup, `${entry.role}: fsGroup`).toBe(entry.template.spec.securityContext.runAsGroup);
      // (A YAML `0440` would be decimal 440 to a YAML 1.2 reader, 0o670: the write bits catch it.)
      const mode = volume.secret.defaultMode ?? 0o644;
      expect(mode & 0o040, `${entry.role}: key files readable by the group`).toBe(0o040);
      expect(mode & ~0o440, `${entry.role}: key files read-only, closed to others (mode 0${mode.toString(8)})`).toBe(0);
      configs[entry.role] = loadConfig(roleSettings[entry.role]!, { env: envHere(objects, entry) });
    }
    expectOneKeySet(configs);
  });

  it(
    variant.redis
      ? "Redis: the Secret's url is the in-cluster Redis Service, with its password; AOF and noeviction"
      : "with a managed Redis: no Redis of its own, and the Secret's url is the managed one",
    () => {
      if (!variant.redis) {
        expect(objects.filter((object) => object.metadata.labels?.['app.kubernetes.io/name'] === 'redis')).toEqual([]);
        const url = new URL(keyValue(objects, 'Secret', 'jobpipe-redis', 'url')!);
        expect(url.protocol).toBe('rediss:');
        expect(find(objects, 'Service', url.hostname.split('.')[0]!)).toBeUndefined();
        return;
      }
      const url = new URL(keyValue(objects, 'Secret', 'jobpipe-redis', 'url')!);
      const password = keyValue(objects, 'Secret', 'jobpipe-redis', 'password')!;
      expect(decodeURIComponent(url.password)).toBe(password);
      const service = find(objects, 'Service', url.hostname.split('.')[0]!)!;
      expect(service, `Service ${url.hostname}`).toBeDefined();
      expect(service.spec.clusterIP, 'clients use a stable virtual IP').not.toBe('None');
      const port = service.spec.ports.find((candidate: any) => candidate.port === Number(url.port || 6379));
      const redis = podTemplates(objects).find((template) => selects(service.spec.selector, template.labels))!;
      expect(containerPort(redis.spec.containers[0], port.targetPort)).toBe(6379);
      const args: string[] = redis.spec.containers[0].args;
      const flag = (name: string) => args[args.indexOf(name) + 1];
      expect(flag('--appendonly')).toBe('yes');
      expect(flag('--maxmemory-policy')).toBe('noeviction');
      expect(flag('--requirepass')).toBe('$(REDIS_PASSWORD)');
      expect(redis.spec.containers[0].env.find((entry: any) => entry.name === 'REDIS_PASSWORD').valueFrom.secretKeyRef).toEqual({
        name: 'jobpipe-redis',
        key: 'password',
      });
      expect(redis.owner.spec.volumeClaimTemplates[0].metadata.name).toBe(redis.spec.containers[0].volumeMounts[0].name);
    },
  );

  it('probes: liveness on /healthz and readiness on /readyz, at the metrics port the role listens on', () => {
    for (const entry of jobpipeContainers(objects)) {
      const metricsPort = metricsPortOf(entry);
      expect(entry.container.livenessProbe.httpGet.path).toBe('/healthz');
      expect(entry.container.readinessProbe.httpGet.path).toBe('/readyz');
      expect(containerPort(entry.container, entry.container.livenessProbe.httpGet.port), `${entry.role} liveness port`).toBe(metricsPort);
      expect(containerPort(entry.container, entry.container.readinessProbe.httpGet.port), `${entry.role} readiness port`).toBe(metricsPort);
      expect(containerPort(entry.container, 'metrics'), `${entry.role}: port named metrics`).toBe(metricsPort);
    }
  });

  it('restrictive security contexts and resource requests and limits on every container', () => {
    for (const template of podTemplates(objects)) {
      const pod = template.spec;
      expect(pod.securityContext.runAsNonRoot, objectKey(template.owner)).toBe(true);
      expect(pod.securityContext.seccompProfile.type).toBe('RuntimeDefault');
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const container of pod.containers) {
        const context = container.securityContext;
        expect(context.allowPrivilegeEscalation, container.name).toBe(false);
        expect(context.readOnlyRootFilesystem, container.name).toBe(true);
        expect(context.capabilities.drop).toEqual(['ALL']);
        expect(Object.keys(container.resources.requests).sort()).toEqual(['cpu', 'memory']);
        expect(container.resources.limits.memory, container.name).toBeDefined();
        // The image's user `node` has uid 1000 (node:20-bookworm-slim); runAsNonRoot needs a numeric uid.
        if (isJobpipeImage(container.image)) expect(pod.securityContext.runAsUser).toBe(1000);
      }
    }
  });

  it('the ventilator and the sink run one replica replaced with Recreate; workers get time to drain', () => {
    for (const entry of jobpipeContainers(objects)) {
      const deployment = entry.template.owner;
      if (entry.role === 'worker') {
        const drainMs = Number(entry.env.JOBPIPE_DRAIN_TIMEOUT_MS ?? roleSettings.worker!.drainTimeoutMs!.default);
        // The worker exits at most 5 s after its drain timeout (exitOnSignals' grace); keep 5 s more.
        expect(deployment.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(drainMs + 10_000);
        expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
      } else {
        expect(deployment.spec.replicas, entry.role).toBe(1);
        expect(deployment.spec.strategy.type, entry.role).toBe('Recreate');
      }
    }
  });

  it(`workers have one autoscaler, a ${variant.autoscaler}`, () => {
    const scalers = objects.filter((object) => object.kind === 'HorizontalPodAutoscaler' || object.kind === 'ScaledObject');
    expect(scalers.map((scaler) => scaler.kind)).toEqual([variant.autoscaler]);
    for (const scaler of scalers) {
      const target = scaler.spec.scaleTargetRef;
      expect(find(objects, target.kind ?? 'Deployment', target.name)?.metadata.name).toBe('worker');
      expect(scaler.spec.minReplicas ?? scaler.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    }
  });

  it('the ServiceMonitor scrapes every role at its metrics port, as the jobs the rules and the dashboard name', () => {
    const monitor = find(objects, 'ServiceMonitor', 'jobpipe')!;
    const composeJobs = (
      parse(readFileSync(resolve(repoRoot, 'deploy/prometheus/prometheus.yml'), 'utf8')) as { scrape_configs: { job_name: string }[] }
    ).scrape_configs
      .map((job) => job.job_name)
      .sort();
    const services = objects.filter((object) => object.kind === 'Service' && selects(monitor.spec.selector.matchLabels, object.metadata.labels ?? {}));
    const endpoint = monitor.spec.endpoints[0];
    expect(endpoint.path).toBe('/metrics');
    const jobRelabel = endpoint.relabelings.find((rule: any) => rule.targetLabel === 'job');
    const jobs = services.map((service) => jobRelabel.replacement.replace('$1', service.metadata.labels!['app.kubernetes.io/component'])).sort();
    expect(jobs).toEqual(composeJobs);
    const containers = jobpipeContainers(objects);
    for (const service of services) {
      const port = service.spec.ports.find((candidate: any) => candidate.name === endpoint.port);
      const entry = containers.find((candidate) => selects(service.spec.selector, candidate.template.labels))!;
      expect(containerPort(entry.container, port.targetPort), `Service ${service.metadata.name} port ${endpoint.port}`).toBe(metricsPortOf(entry));
    }
  });

  it('the Grafana dashboard ConfigMap holds deploy/grafana/dashboards/jobpipe.json, labelled for the sidecar', () => {
    const configMap = find(objects, 'ConfigMap', 'jobpipe-grafana-dashboard')!;
    expect(configMap.metadata.labels?.grafana_dashboard).toBe('1');
    const file = readFileSync(resolve(repoRoot, 'deploy/grafana/dashboards/jobpipe.json'), 'utf8');
    expect(configMap.data['jobpipe.json'] === file, 'stale: run node deploy/k8s/generate.mjs').toBe(true);
  });

  it('the PrometheusRule holds deploy/prometheus/rules/jobpipe.yml', () => {
    const rule = find(objects, 'PrometheusRule', 'jobpipe')!;
    const rules = parse(readFileSync(resolve(repoRoot, 'deploy/prometheus/rules/jobpipe.yml'), 'utf8'));
    expect(rule.spec, 'stale: run node deploy/k8s/generate.mjs').toEqual(rules);
  });
});

describe('the KEDA trigger', () => {
  const scaledObject = kustomize(resolve(k8sDir, 'autoscalers/keda')).find((object) => object.kind === 'ScaledObject')!;
  const prometheus = scaledObject.spec.triggers.find((trigger: any) => trigger.type === 'prometheus');

  it('queries metrics that jobpipe exports, in the namespace it runs in', () => {
    const exported = readFileSync(resolve(repoRoot, 'libs/observability/src/metrics.ts'), 'utf8');
    const names = [...new Set(prometheus.metadata.query.match(/jobpipe_[a-z_]+/g) as string[])];
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(exported.includes(`'${name}'`), `${name} is not a jobpipe metric`).toBe(true);
    for (const match of prometheus.metadata.query.matchAll(/namespace="([^"]+)"/g)) expect(match[1]).toBe('jobpipe');
    expect(scaledObject.spec.triggers.map((trigger: any) => trigger.type).sort()).toEqual(['cpu', 'prometheus']);
  });

  it("scales on the waiting work (held by ventilators, on the job stream, in flight) over a worker's slots, not only in-flight jobs", () => {
    const names = new Set(prometheus.metadata.query.match(/jobpipe_[a-z_]+/g) as string[]);
    expect([...names].sort()).toEqual(['jobpipe_jobs_inflight', 'jobpipe_jobs_waiting', 'jobpipe_stream_jobs_waiting', 'jobpipe_worker_slots']);
    // observability.test.ts checks on a running pipeline that it is jobpipe:work_waiting over the slots.
    expect(prometheus.metadata.threshold).toBe('1');
  });

  it('is valid PromQL (promtool)', () => {
    expectValidPromql({ 'jobpipe:keda_trigger': prometheus.metadata.query });
  });
});

describe("the HPA's waiting-work metric, served by prometheus-adapter", () => {
  const hpa = kustomize(resolve(k8sDir, 'autoscalers/hpa')).find((object) => object.kind === 'HorizontalPodAutoscaler')!;
  const values = parse(readFileSync(resolve(k8sDir, 'autoscalers/hpa/prometheus-adapter-values.yaml'), 'utf8')) as {
    prometheus: { url: string; port: number };
    rules: { external: { seriesQuery: string; name: { matches: string; as: string }; metricsQuery: string; resources: any }[] };
  };
  const rule = values.rules.external[0]!;
  const scaledObject = kustomize(resolve(k8sDir, 'autoscalers/keda')).find((object) => object.kind === 'ScaledObject')!;
  const trigger = scaledObject.spec.triggers.find((candidate: any) => candidate.type === 'prometheus');

  it('the HPA scales on the External metric the adapter serves, one worker per slots-worth of work, and on CPU', () => {
    const external = hpa.spec.metrics.filter((metric: any) => metric.type === 'External');
    expect(external.map((metric: any) => metric.external.metric.name)).toEqual([rule.name.as]);
    expect(external[0].external.target).toEqual({ type: 'AverageValue', averageValue: trigger.metadata.threshold });
    expect(hpa.spec.metrics.map((metric: any) => metric.type).sort()).toEqual(['External', 'Resource']);
  });

  it("the adapter's query is the KEDA trigger's, for the HPA's namespace, against the same Prometheus", () => {
    // The adapter puts the namespace of the HPA asking (jobpipe) where <<.LabelMatchers>> is.
    expect(rule.resources.overrides.namespace.resource).toBe('namespace');
    expect(rule.metricsQuery.replaceAll('<<.LabelMatchers>>', 'namespace="jobpipe"')).toBe(trigger.metadata.query);
    expect(`${values.prometheus.url}:${values.prometheus.port}`).toBe(trigger.metadata.serverAddress);
    expect(new RegExp(rule.name.matches).test('jobpipe_jobs_inflight')).toBe(true);
  });

  it('its series and metrics queries are valid PromQL (promtool)', () => {
    expectValidPromql({
      'jobpipe:adapter_series': rule.seriesQuery,
      'jobpipe:adapter_metric': rule.metricsQuery.replaceAll('<<.LabelMatchers>>', 'namespace="jobpipe"'),
    });
  });
});

/** Checks PromQL expressions with `promtool check rules`, as recording rules named by the keys. */
function expectValidPromql(expressions: Record<string, string>): void {
  const dir = mkdtempSync(join(tmpdir(), 'jobpipe-promql-'));
  try {
    const rules = Object.entries(expressions).map(([record, expr]) => ({ record, expr }));
    writeFileSync(join(dir, 'rules.yml'), JSON.stringify({ groups: [{ name: 'check', rules }] }));
    const run = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' });
    expect(run.status, run.stdout + run.stderr).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

it('deploy/k8s/generate.mjs --check agrees that the generated manifests are current', () => {
  const run = spawnSync(process.execPath, [resolve(k8sDir, 'generate.mjs'), '--check'], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
});
