/**
 * deploy/k8s, without a cluster: each kustomization assembled from its kustomization.yaml (and
 * compared with `kubectl kustomize` where kubectl exists), every object validated against the
 * Kubernetes, KEDA and prometheus-operator schemas (the kubernetes-models packages, offline), and
 * what schemas cannot see: Services select pods that exist on ports they have, every jobpipe
 * container reads only settings its role knows (with values it accepts), the endpoints a role
 * connects to are Services in front of the role that binds them, CURVE is on with keys from the
 * Secret jobpipe-curve that users make with `jobpipe keys --out` (its files mounted here as the
 * kubelet would, from a run of that command), each pod projecting only its role's items of it, so
 * that no worker pod can read server.secret, link.secret or events.secret, probes hit the metrics
 * port's /healthz and /readyz, the dashboard and rules are the same as deploy/grafana's and
 * deploy/prometheus's, and both autoscalers scale on the waiting work with one query (KEDA's
 * trigger, and prometheus-adapter's for the HPA's External metric).
 *
 * Worker pools: the ventilator and the sink serve several pipelines (primes and echo), and the
 * workers come in pools, one Deployment each (worker-primes, worker-echo, and worker-python, the
 * Python worker of workers/python serving primes), each with its own PodDisruptionBudget and its
 * own autoscaler scaling on its own pipeline's waiting work (pipeline="<name>" in every series of
 * the query). Every pipeline the ventilator serves has a pool; every pool serves pipelines the
 * ventilator serves. The Python worker is no jobpipe role here: its container is checked for the
 * settings it reads (PYTHON_WORKER_ENV), its endpoints, keys, probes and security context.
 *
 * The console (docs/console.md, base/console.yaml) is a role like the others here (its settings,
 * its events endpoint, CURVE as a client with the events key pair, probes, security context,
 * scraped as job jobpipe-console), and beside that: its Service's API port, its bearer tokens from
 * the Secret jobpipe-console-tokens that users make (mounted read-only, never in the manifests),
 * and the NetworkPolicy that lets into its pods only the API port, from anywhere, and the metrics
 * port, from Prometheus.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
// One module per kind (the packages' barrels load every schema, seconds of import time). A kind
// that is not here fails the schema test with "no schema": import its model here.
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { loadConfig } from '@jobpipe/config';
import { curveClientFrom, curvePublicKey, sinkCurveFrom } from '@jobpipe/transport';
import {
  curveFileSettingsOf,
  expectNoSecretOf,
  expectOneKeySet,
  expectWorkerKeysFit,
  FLAT_KEY_FILES,
  keyFilesOf,
  NOT_FOR_WORKERS,
} from './deploy-fixtures/curve-keys.js';
import { entrypointHere, hostPath, pythonWorkerEnv, repoRoot, roleSettings } from './deploy-fixtures/compose.js';
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

/**
 * The Prometheus the autoscalers ask (prometheus-adapter's values; KEDA's serverAddress is checked
 * to be the same below): its Service's namespace is where Prometheus runs, which the console's
 * NetworkPolicy lets in.
 */
const PROMETHEUS_URL = (parse(readFileSync(resolve(k8sDir, 'autoscalers/hpa/prometheus-adapter-values.yaml'), 'utf8')) as { prometheus: { url: string } })
  .prometheus.url;

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
  NetworkPolicy,
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
const userSecrets: Record<string, string> = { 'jobpipe-curve': join(scratch, 'keys'), 'jobpipe-console-tokens': join(scratch, 'console-tokens') };
const keysRun = spawnSync(entrypointHere()[0]!, [...entrypointHere().slice(1), 'keys', '--out', userSecrets['jobpipe-curve']!], { encoding: 'utf8' });
/**
 * The console's tokens, made as the README says (`openssl rand -hex 32 > admin.tokens`, the same
 * for read.tokens, then `kubectl create secret generic jobpipe-console-tokens --from-file=...`).
 */
const CONSOLE_TOKENS = { 'admin.tokens': randomBytes(32).toString('hex'), 'read.tokens': randomBytes(32).toString('hex') };
mkdirSync(userSecrets['jobpipe-console-tokens']!);
for (const [file, token] of Object.entries(CONSOLE_TOKENS)) writeFileSync(join(userSecrets['jobpipe-console-tokens']!, file), `${token}\n`);

const WORKLOADS = new Set(['Deployment', 'StatefulSet']);
const isJobpipeImage = (image: string) => /(^|\/)jobpipe(:|@|$)/.test(image);
/** The Python worker's image (the Dockerfile's target python-worker). */
const isPythonWorkerImage = (image: string) => /(^|\/)jobpipe-python-worker(:|@|$)/.test(image);
/** What the Python worker (workers/python) reads. */
const PYTHON_WORKER_ENV = pythonWorkerEnv();

/** The pipeline names (definePipeline's `name`) of a JOBPIPE_PIPELINE value: modules inside the image, comma-separated, loaded from this checkout's built tree. */
async function pipelineNames(value: string): Promise<string[]> {
  const names: string[] = [];
  for (const path of value.split(',').map((part) => part.trim())) {
    const module = (await import(pathToFileURL(hostPath(path)).href)) as { default: { name: string } };
    names.push(module.default.name);
  }
  return names;
}

/** The pipeline a Python worker container serves: its module argument, jobpipe_worker.examples.<pipeline>. */
const pythonPipeline = (container: any) =>
  String((container.args ?? container.command ?? []).at(-1))
    .split('.')
    .at(-1)!;
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
    } else if (entry.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[entry.name] = `${container.name}-pod-name`;
    else throw new Error(`${container.name}: ${entry.name} has neither value nor a ConfigMap/Secret reference`);
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

/**
 * The keys of the Secret jobpipe-curve a pod can read: its Secret and projected volumes' items
 * (every key, when a volume names none), and what its containers take from it into their
 * environment. Sorted.
 */
function curveItemsOf(template: PodTemplate): string[] {
  const all = readdirSync(userSecrets['jobpipe-curve']!);
  const items = new Set<string>();
  const from = (name: string | undefined, list: { key: string }[] | undefined) => {
    if (name === 'jobpipe-curve') for (const key of list ? list.map((item) => item.key) : all) items.add(key);
  };
  for (const volume of template.spec.volumes ?? []) {
    from(volume.secret?.secretName, volume.secret?.items);
    for (const source of volume.projected?.sources ?? []) from(source.secret?.name, source.secret?.items);
  }
  for (const container of [...(template.spec.initContainers ?? []), ...template.spec.containers]) {
    for (const source of container.envFrom ?? []) from(source.secretRef?.name, undefined);
    for (const entry of container.env ?? []) if (entry.valueFrom?.secretKeyRef) from(entry.valueFrom.secretKeyRef.name, [entry.valueFrom.secretKeyRef]);
  }
  return [...items].sort();
}

/** A jobpipe container's environment with paths turned into paths here: its mounted Secrets, and the image's /app as this checkout. */
function envHere(objects: K8sObject[], entry: JobpipeContainer): Record<string, string> {
  const mounted = mountSecrets(objects, entry.template, entry.container);
  return Object.fromEntries(
    Object.entries(entry.env).map(([name, value]) => {
      const mount = mounted.find((candidate) => value.startsWith(`${candidate.mountPath}/`));
      if (mount) return [name, join(mount.dir, value.slice(mount.mountPath.length + 1))];
      // A list of paths (JOBPIPE_PIPELINE of a role serving several pipelines): each one mapped.
      return [name, value.startsWith('/') ? value.split(',').map(hostPath).join(',') : value];
    }),
  );
}

/** The Python worker's containers, as workers: what they read is checked against PYTHON_WORKER_ENV, not a role's settings. */
function pythonWorkerContainers(objects: K8sObject[]): JobpipeContainer[] {
  return podTemplates(objects).flatMap((template) =>
    (template.spec.containers as any[])
      .filter((container) => isPythonWorkerImage(container.image))
      .map((container) => ({ template, container, role: 'worker', env: containerEnv(objects, container) })),
  );
}

/** The worker Deployments: every pool's. */
const workerDeployments = (objects: K8sObject[]) =>
  objects.filter((object) => object.kind === 'Deployment' && object.spec.template.metadata?.labels?.['app.kubernetes.io/component'] === 'worker');

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
    // One PodDisruptionBudget per worker pool, each selecting its pool's pods only.
    const budgets = objects.filter((object) => object.kind === 'PodDisruptionBudget');
    for (const budget of budgets) {
      const owners = templates.filter((template) => selects(budget.spec.selector.matchLabels, template.labels)).map((template) => template.owner);
      expect(
        owners.map((owner) => owner.metadata.name),
        `PodDisruptionBudget ${budget.metadata.name}`,
      ).toEqual([budget.metadata.name]);
      expect(workerDeployments(objects), `PodDisruptionBudget ${budget.metadata.name} is a worker pool's`).toContain(owners[0]);
    }
    expect(budgets.map((budget) => budget.metadata.name).sort()).toEqual(
      workerDeployments(objects)
        .map((deployment) => deployment.metadata.name)
        .sort(),
    );
  });

  it('one worker Deployment per pool: worker-primes, worker-echo and worker-python; every pipeline the ventilator serves has one, and every pool serves pipelines it serves', async () => {
    expect(
      workerDeployments(objects)
        .map((deployment) => deployment.metadata.name)
        .sort(),
    ).toEqual(['worker-echo', 'worker-primes', 'worker-python']);
    const containers = jobpipeContainers(objects);
    const ventilator = await pipelineNames(containers.find((entry) => entry.role === 'ventilator')!.env.JOBPIPE_PIPELINE!);
    expect(ventilator.sort()).toEqual(['echo', 'primes']);
    const served = new Map<string, string[]>();
    for (const entry of containers.filter((candidate) => candidate.role === 'worker'))
      served.set(entry.template.owner.metadata.name, await pipelineNames(entry.env.JOBPIPE_PIPELINE!));
    for (const entry of pythonWorkerContainers(objects)) served.set(entry.template.owner.metadata.name, [pythonPipeline(entry.container)]);
    expect(Object.fromEntries(served)).toEqual({ 'worker-primes': ['primes'], 'worker-echo': ['echo'], 'worker-python': ['primes'] });
    for (const [pool, pipelines] of served) for (const pipeline of pipelines) expect(ventilator, `${pool} serves ${pipeline}`).toContain(pipeline);
    for (const pipeline of ventilator) expect([...served.values()].flat(), `a pool serves ${pipeline}`).toContain(pipeline);
    // Each pool's pods, and only they, carry its pool label (the Service, the PDB and the ServiceMonitor's `pool` use it).
    for (const deployment of workerDeployments(objects))
      expect(deployment.spec.selector.matchLabels['jobpipe/pool'], deployment.metadata.name).toBe(deployment.metadata.name.replace(/^worker-/, ''));
  });

  it('every env var a jobpipe container reads is one its role knows, with a value its role accepts', () => {
    const containers = jobpipeContainers(objects);
    expect(containers.map((entry) => entry.role).sort()).toEqual(['console', 'sink', 'ventilator', 'worker', 'worker']);
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
    // The Python worker reads only what it knows, and no pipeline module: its pipeline is its argument.
    const python = pythonWorkerContainers(objects);
    expect(python.map((entry) => entry.template.owner.metadata.name)).toEqual(['worker-python']);
    for (const entry of python) {
      for (const name of Object.keys(entry.env)) expect(PYTHON_WORKER_ENV.has(name), `the Python worker does not read ${name}`).toBe(true);
      expect(entry.container.args, 'python3 -m jobpipe_worker <module>: the image entrypoint and one module').toEqual([
        expect.stringMatching(/^jobpipe_worker\.examples\.[a-z_]+$/),
      ]);
      expect(entry.env.JOBPIPE_WORKER_ID, 'each pod its own worker id').toBeDefined();
    }
    // Other containers (Redis) refer only to keys that exist.
    for (const template of podTemplates(objects)) for (const container of template.spec.containers) containerEnv(objects, container);
    // Settings two roles share agree.
    const env = Object.fromEntries(containers.filter((entry) => entry.role !== 'worker').map((entry) => [entry.role, entry.env]));
    // The console takes every pipeline the ventilator serves, from the same Redis and prefix, and the sink's events as the ventilator does.
    for (const name of ['JOBPIPE_PIPELINE', 'JOBPIPE_REDIS_URL', 'JOBPIPE_REDIS_PREFIX', 'JOBPIPE_EVENTS_CONNECT'])
      expect(env.console![name], `console ${name}`).toBe(env.ventilator![name]);
    for (const worker of [...containers.filter((entry) => entry.role === 'worker'), ...python]) {
      const name = worker.template.owner.metadata.name;
      expect(worker.env.JOBPIPE_HEARTBEAT_MS, name).toBe(env.ventilator!.JOBPIPE_HEARTBEAT_MS);
      expect(worker.env.JOBPIPE_RESULTS_CONNECT, name).toBe(env.ventilator!.JOBPIPE_RESULTS_CONNECT);
    }
    expect(env.sink!.JOBPIPE_REDIS_PREFIX).toBe(env.ventilator!.JOBPIPE_REDIS_PREFIX);
    expect(env.sink!.JOBPIPE_REDIS_URL).toBe(env.ventilator!.JOBPIPE_REDIS_URL);
    // One ventilator and one sink serve every pipeline: the same list.
    expect(env.sink!.JOBPIPE_PIPELINE).toBe(env.ventilator!.JOBPIPE_PIPELINE);
  });

  it('what a role connects to is a Service in front of the role that binds it, on the port it binds', () => {
    const containers = jobpipeContainers(objects);
    const templates = podTemplates(objects);
    for (const entry of [...containers, ...pythonWorkerContainers(objects)]) {
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
      // Least privilege: a container gets the keys it reads and no others (a worker never server.secret, link.secret or events.secret).
      const given = mounted.filter((mount) => mount.secretName === 'jobpipe-curve').flatMap((mount) => Object.values(mount.files));
      expect(given.sort(), `${entry.role}: keys of jobpipe-curve it gets`).toEqual([...read].sort());
      // ...which are its role's files, each setting naming the file the key model says.
      expect(given.sort(), `${entry.role}: its role's key files`).toEqual([...keyFilesOf(entry.role)].sort());
      for (const [name, file] of Object.entries(curveFileSettingsOf(entry.role))) {
        const path = entry.env[name]!;
        const mount = mounted.find((candidate) => path.startsWith(`${candidate.mountPath}/`))!;
        expect(mount.files[relative(mount.mountPath, path)], `${entry.role}: ${name}`).toBe(file);
      }
      // The image's user reads them: group fsGroup, mode at least group-readable.
      expect(entry.template.spec.securityContext.fsGroup, `${entry.role}: fsGroup`).toBe(entry.template.spec.securityContext.runAsGroup);
      // (A YAML `0440` would be decimal 440 to a YAML 1.2 reader, 0o670: the write bits catch it.)
      const mode = volume.secret.defaultMode ?? 0o644;
      expect(mode & 0o040, `${entry.role}: key files readable by the group`).toBe(0o040);
      expect(mode & ~0o440, `${entry.role}: key files read-only, closed to others (mode 0${mode.toString(8)})`).toBe(0);
      configs[entry.role] = loadConfig(roleSettings[entry.role]!, { env: envHere(objects, entry) });
    }
    expectOneKeySet(configs);
    // The console subscribes to the sink's events with the events key pair: admitted there, and holding no worker's key.
    const consoleKey = curvePublicKey(curveClientFrom(configs.console)!.secretKey);
    expect(sinkCurveFrom(configs.sink)!.eventsKeys.has(consoleKey), "the console's key is on the sink's events list").toBe(true);
    expect(curveClientFrom(configs.console)!.secretKey, "the console's key is not the workers'").not.toBe(curveClientFrom(configs.worker)!.secretKey);
    // The Python worker: the same two files as a TypeScript worker, from the same Secret, read-only.
    for (const entry of pythonWorkerContainers(objects)) {
      const name = entry.template.owner.metadata.name;
      const mounted = mountSecrets(objects, entry.template, entry.container).filter((mount) => mount.secretName === 'jobpipe-curve');
      expect(mounted.length, `${name} mounts jobpipe-curve`).toBe(1);
      expect(mounted[0]!.readOnly, `${name}: mounted read-only`).toBe(true);
      expect(Object.values(mounted[0]!.files).sort(), `${name}: keys of jobpipe-curve it gets`).toEqual(['client-1.secret', 'server.public']);
      const volume = entry.template.spec.volumes.find((candidate: any) => candidate.secret?.secretName === 'jobpipe-curve');
      expect(volume.secret.optional ?? false, `${name}: jobpipe-curve is required`).toBe(false);
      expect((volume.secret.defaultMode ?? 0o644) & ~0o440, `${name}: key files read-only`).toBe(0);
      const here = envHere(objects, entry);
      expect(
        Object.keys(entry.env)
          .filter((key) => key.startsWith('JOBPIPE_CURVE_'))
          .sort(),
      ).toEqual(['JOBPIPE_CURVE_SECRET_FILE', 'JOBPIPE_CURVE_SERVER_KEY_FILE']);
      expectWorkerKeysFit(
        configs,
        { serverKey: readFileSync(here.JOBPIPE_CURVE_SERVER_KEY_FILE!, 'utf8'), secretKey: readFileSync(here.JOBPIPE_CURVE_SECRET_FILE!, 'utf8') },
        name,
      );
    }
  });

  it("CURVE: no worker pod can read server.secret, link.secret or events.secret: each pod projects only its role's items of jobpipe-curve, and no container holds another role's secret in a file or its environment", () => {
    expect(keysRun.status, keysRun.stderr).toBe(0);
    const keysDir = userSecrets['jobpipe-curve']!;
    expect(readdirSync(keysDir).sort(), 'the flat set the Secret is made from').toEqual([...FLAT_KEY_FILES]);
    const roles = new Map<K8sObject, string>();
    for (const entry of [...jobpipeContainers(objects), ...pythonWorkerContainers(objects)]) roles.set(entry.template.owner, entry.role);
    expect(
      [...roles]
        .filter(([, role]) => role === 'worker')
        .map(([owner]) => owner.metadata.name)
        .sort(),
    ).toEqual(['worker-echo', 'worker-primes', 'worker-python']);
    for (const template of podTemplates(objects)) {
      const name = objectKey(template.owner);
      const projected = curveItemsOf(template);
      const role = roles.get(template.owner);
      if (role === undefined) {
        expect(projected, `${name}, no jobpipe role, gets no CURVE key`).toEqual([]);
        continue;
      }
      expect(projected, `${name}: the items of jobpipe-curve it projects`).toEqual([...keyFilesOf(role)].sort());
      if (role === 'worker') for (const secret of NOT_FOR_WORKERS) expect(projected, `${name} projects ${secret}`).not.toContain(secret);
      // By content as well, wherever it would come from: every file its containers mount, and their environment.
      const forbidden = role === 'worker' ? NOT_FOR_WORKERS : FLAT_KEY_FILES.filter((file) => file.endsWith('.secret') && !keyFilesOf(role).includes(file));
      for (const container of [...(template.spec.initContainers ?? []), ...template.spec.containers]) {
        const readable: Record<string, string> = { environment: JSON.stringify(containerEnv(objects, container)) };
        for (const mount of mountSecrets(objects, template, container))
          for (const path of Object.keys(mount.files)) readable[`${mount.mountPath}/${path}`] = readFileSync(join(mount.dir, path), 'utf8');
        expectNoSecretOf(keysDir, forbidden, readable, `${name}, container ${container.name}`);
      }
    }
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
    // The Python worker serves the same on JOBPIPE_METRICS_PORT, which must be set (its own default is 9102).
    for (const entry of pythonWorkerContainers(objects)) {
      const metricsPort = Number(entry.env.JOBPIPE_METRICS_PORT);
      expect(metricsPort, 'the Python worker: JOBPIPE_METRICS_PORT').toBe(9400);
      expect(entry.container.livenessProbe.httpGet.path).toBe('/healthz');
      expect(entry.container.readinessProbe.httpGet.path).toBe('/readyz');
      for (const probe of [entry.container.livenessProbe, entry.container.readinessProbe])
        expect(containerPort(entry.container, probe.httpGet.port)).toBe(metricsPort);
      expect(containerPort(entry.container, 'metrics'), 'the Python worker: port named metrics').toBe(metricsPort);
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
        // The Python worker's image runs as uid 1000 too, so that it reads the same key files.
        if (isJobpipeImage(container.image) || isPythonWorkerImage(container.image)) expect(pod.securityContext.runAsUser).toBe(1000);
      }
    }
  });

  it('the ventilator and the sink run one replica replaced with Recreate; the console rolls with none unavailable; workers get time to drain', () => {
    for (const entry of jobpipeContainers(objects)) {
      const deployment = entry.template.owner;
      if (entry.role === 'console') {
        // It holds no state: a new pod comes up (ready) before the old one goes.
        expect(deployment.spec.replicas).toBeGreaterThanOrEqual(1);
        expect(deployment.spec.strategy.type).toBe('RollingUpdate');
        expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
      } else if (entry.role === 'worker') {
        const drainMs = Number(entry.env.JOBPIPE_DRAIN_TIMEOUT_MS ?? roleSettings.worker!.drainTimeoutMs!.default);
        // The worker exits at most 5 s after its drain timeout (exitOnSignals' grace); keep 5 s more.
        expect(deployment.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(drainMs + 10_000);
        expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
      } else {
        expect(deployment.spec.replicas, entry.role).toBe(1);
        expect(deployment.spec.strategy.type, entry.role).toBe('Recreate');
      }
    }
    for (const entry of pythonWorkerContainers(objects)) {
      // Its drain timeout is 25 s unless set, and it exits within 5 s of it, as the TypeScript worker does.
      const drainMs = Number(entry.env.JOBPIPE_DRAIN_TIMEOUT_MS ?? 25_000);
      expect(entry.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(drainMs + 10_000);
      expect(entry.template.owner.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    }
  });

  it(`every worker pool has one autoscaler, a ${variant.autoscaler}, on its own pipeline's waiting work`, () => {
    const scalers = objects.filter((object) => object.kind === 'HorizontalPodAutoscaler' || object.kind === 'ScaledObject');
    const pools = workerDeployments(objects);
    expect(scalers.map((scaler) => scaler.kind)).toEqual(pools.map(() => variant.autoscaler));
    const python = new Map(pythonWorkerContainers(objects).map((entry) => [entry.template.owner, pythonPipeline(entry.container)]));
    for (const pool of pools) {
      const mine = scalers.filter(
        (scaler) => (scaler.spec.scaleTargetRef.kind ?? 'Deployment') === 'Deployment' && scaler.spec.scaleTargetRef.name === pool.metadata.name,
      );
      expect(mine, `autoscalers of ${pool.metadata.name}`).toHaveLength(1);
      const scaler = mine[0]!;
      expect(scaler.spec.minReplicas ?? scaler.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      // Its pipeline: the one the pool serves (a TypeScript pool's module is examples/<name>/...).
      const container = pool.spec.template.spec.containers[0];
      const served = python.get(pool) ?? /\/examples\/([a-z]+)\//.exec(containerEnv(objects, container).JOBPIPE_PIPELINE ?? '')?.[1] ?? 'none';
      const pipelines =
        scaler.kind === 'ScaledObject'
          ? [...scaler.spec.triggers.find((trigger: any) => trigger.type === 'prometheus').metadata.query.matchAll(/pipeline="([^"]+)"/g)].map(
              (match) => match[1],
            )
          : scaler.spec.metrics.filter((metric: any) => metric.type === 'External').map((metric: any) => metric.external.metric.selector.matchLabels.pipeline);
      expect(pipelines.length, `${scaler.metadata.name}: filtered by pipeline`).toBeGreaterThan(0);
      expect(new Set(pipelines), `${scaler.metadata.name} scales on ${served}'s waiting work`).toEqual(new Set([served]));
    }
  });

  it('the console: its Service on the API port and the metrics port, tokens from the Secret jobpipe-console-tokens (which users make) mounted read-only, listening beyond loopback', () => {
    const entries = jobpipeContainers(objects).filter((entry) => entry.role === 'console');
    expect(entries.map((entry) => entry.template.owner.metadata.name)).toEqual(['console']);
    const entry = entries[0]!;
    const consolePort = Number(entry.env.JOBPIPE_CONSOLE_PORT ?? roleSettings.console!.consolePort!.default);
    expect(containerPort(entry.container, 'http'), 'the API and the UI: container port named http').toBe(consolePort);
    // Its Service, in front of its pods only: the API (8480) and the metrics (9400, what the ServiceMonitor scrapes).
    const service = find(objects, 'Service', 'console')!;
    expect(service, 'Service console').toBeDefined();
    expect(selects(service.spec.selector, entry.template.labels)).toBe(true);
    const ports = Object.fromEntries(service.spec.ports.map((port: any) => [port.name, containerPort(entry.container, port.targetPort ?? port.port)]));
    expect(ports).toEqual({ http: consolePort, metrics: metricsPortOf(entry) });
    expect(service.spec.ports.find((port: any) => port.name === 'http').port).toBe(8480);
    expect(service.spec.type ?? 'ClusterIP', 'reached through port-forward or an Ingress of your own, not exposed by default').toBe('ClusterIP');

    // Tokens: made by users, never shipped (tokens in git would be everyone's), read from files of a required Secret mounted read-only.
    expect(find(objects, 'Secret', 'jobpipe-console-tokens'), 'no console tokens in the manifests').toBeUndefined();
    for (const name of ['JOBPIPE_CONSOLE_ADMIN_TOKENS', 'JOBPIPE_CONSOLE_READ_TOKENS'])
      expect(entry.env[name], `${name}: tokens from files only`).toBeUndefined();
    const mounted = mountSecrets(objects, entry.template, entry.container);
    const read: string[] = [];
    for (const name of ['JOBPIPE_CONSOLE_ADMIN_TOKENS_FILE', 'JOBPIPE_CONSOLE_READ_TOKENS_FILE']) {
      const path = entry.env[name]!;
      expect(path, name).toBeDefined();
      const mount = mounted.find((candidate) => path.startsWith(`${candidate.mountPath}/`));
      expect(mount?.secretName, `${name}=${path} is in a mounted Secret`).toBe('jobpipe-console-tokens');
      expect(mount!.readOnly, `${name}: mounted read-only`).toBe(true);
      read.push(mount!.files[relative(mount!.mountPath, path)]!);
    }
    expect(read).toEqual(['admin.tokens', 'read.tokens']);
    const volume = entry.template.spec.volumes.find((candidate: any) => candidate.secret?.secretName === 'jobpipe-console-tokens');
    expect(volume.secret.optional ?? false, 'jobpipe-console-tokens is required: without tokens the console cannot listen beyond loopback').toBe(false);
    expect((volume.secret.defaultMode ?? 0o644) & ~0o440, 'token files read-only, closed to others').toBe(0);
    // Only the console gets them.
    for (const template of podTemplates(objects).filter((candidate) => candidate.owner !== entry.template.owner))
      expect(
        (template.spec.volumes ?? []).some((candidate: any) => candidate.secret?.secretName === 'jobpipe-console-tokens'),
        objectKey(template.owner),
      ).toBe(false);
    // Loaded as the console would: the tokens users made, admin and read apart, and an address beyond loopback (its default with tokens).
    const config = loadConfig(roleSettings.console!, { env: envHere(objects, entry) }) as any;
    expect(config.consoleAdminTokensFile).toEqual([CONSOLE_TOKENS['admin.tokens']]);
    expect(config.consoleReadTokensFile).toEqual([CONSOLE_TOKENS['read.tokens']]);
    expect(config.consoleHost === undefined || !/^(127\.|localhost$|::1$)/.test(config.consoleHost), 'a Service reaches it: not on loopback').toBe(true);
  });

  it("the console's NetworkPolicy lets into its pods only the API port, from anywhere, and the metrics port, from Prometheus; no other pod is selected", () => {
    const policies = objects.filter((object) => object.kind === 'NetworkPolicy');
    expect(policies.map((policy) => policy.metadata.name)).toEqual(['console']);
    const policy = policies[0]!;
    const entry = jobpipeContainers(objects).find((candidate) => candidate.role === 'console')!;
    // It selects the console's pods, and theirs only: the other roles' traffic is as without it.
    const selected = podTemplates(objects).filter((template) => selects(policy.spec.podSelector.matchLabels, template.labels));
    expect(selected.map((template) => template.owner.metadata.name)).toEqual(['console']);
    expect(policy.spec.podSelector.matchExpressions).toBeUndefined();
    // Ingress only, so that its own connections (Redis, the sink's events, DNS) are untouched.
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.egress).toBeUndefined();
    const consolePort = Number(entry.env.JOBPIPE_CONSOLE_PORT ?? roleSettings.console!.consolePort!.default);
    const metricsPort = metricsPortOf(entry);
    const rules: any[] = policy.spec.ingress;
    const portsOf = (rule: any) =>
      (rule.ports ?? []).map((port: any) => {
        expect(port.protocol ?? 'TCP').toBe('TCP');
        expect(port.endPort, 'one port, not a range').toBeUndefined();
        return containerPort(entry.container, port.port);
      });
    // Every rule names its ports (a rule without ports would open every port), each a port the console listens on.
    for (const rule of rules) expect(portsOf(rule).length, 'a rule names its ports').toBeGreaterThan(0);
    expect(rules.flatMap(portsOf).sort()).toEqual([consolePort, metricsPort].sort());
    // The API and the UI: from anywhere by default (every request needs a token); operators narrow it with `from`.
    const api = rules.filter((rule) => portsOf(rule).includes(consolePort));
    expect(api).toHaveLength(1);
    expect(portsOf(api[0]), 'the API rule opens the API port only').toEqual([consolePort]);
    expect(api[0].from, 'the documented default: from anywhere').toBeUndefined();
    // The metrics: from the Prometheus operator's pods in the namespace the autoscalers reach Prometheus in, nothing else.
    const metrics = rules.filter((rule) => portsOf(rule).includes(metricsPort));
    expect(metrics).toHaveLength(1);
    expect(portsOf(metrics[0]), 'the metrics rule opens the metrics port only').toEqual([metricsPort]);
    const prometheusNamespace = new URL(PROMETHEUS_URL).hostname.split('.')[1];
    expect(metrics[0].from).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': prometheusNamespace } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
      },
    ]);
    // No rule lets anything in by IP block.
    for (const rule of rules) for (const peer of rule.from ?? []) expect(peer.ipBlock).toBeUndefined();
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
    const jobs = [...new Set(services.map((service) => jobRelabel.replacement.replace('$1', service.metadata.labels!['app.kubernetes.io/component'])))].sort();
    expect(jobs).toEqual(composeJobs);
    // Every worker pool's Service is scraped, and its targets get label `pool`, as compose's do.
    const workerServices = services.filter((service) => service.metadata.labels!['app.kubernetes.io/component'] === 'worker');
    expect(workerServices.map((service) => service.metadata.name).sort()).toEqual(
      workerDeployments(objects)
        .map((deployment) => deployment.metadata.name)
        .sort(),
    );
    const poolRelabel = endpoint.relabelings.find((rule: any) => rule.targetLabel === 'pool');
    expect(poolRelabel.sourceLabels).toEqual(['__meta_kubernetes_service_label_jobpipe_pool']);
    for (const service of workerServices)
      expect(service.metadata.labels!['jobpipe/pool'], service.metadata.name).toBe(service.metadata.name.replace(/^worker-/, ''));
    const containers = [...jobpipeContainers(objects), ...pythonWorkerContainers(objects)];
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

describe('the KEDA triggers, one per pool', () => {
  const scaledObjects = kustomize(resolve(k8sDir, 'autoscalers/keda')).filter((object) => object.kind === 'ScaledObject');
  const prometheusOf = (scaledObject: K8sObject) => scaledObject.spec.triggers.find((trigger: any) => trigger.type === 'prometheus');

  it('one ScaledObject per pool, each on worker-<pool>', () => {
    expect(scaledObjects.map((scaledObject) => scaledObject.metadata.name).sort()).toEqual(['worker-echo', 'worker-primes', 'worker-python']);
    for (const scaledObject of scaledObjects) expect(scaledObject.spec.scaleTargetRef.name).toBe(scaledObject.metadata.name);
  });

  it.each(scaledObjects.map((scaledObject) => [scaledObject.metadata.name, scaledObject] as const))(
    '%s queries metrics that jobpipe exports, in the namespace it runs in, of one pipeline',
    (_, scaledObject) => {
      const prometheus = prometheusOf(scaledObject);
      const exported = readFileSync(resolve(repoRoot, 'libs/observability/src/metrics.ts'), 'utf8');
      const names = [...new Set(prometheus.metadata.query.match(/jobpipe_[a-z_]+/g) as string[])];
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) expect(exported.includes(`'${name}'`), `${name} is not a jobpipe metric`).toBe(true);
      // Every series selected by namespace and by the pool's pipeline: as many of each as series.
      const selectors = [...prometheus.metadata.query.matchAll(/jobpipe_[a-z_]+\{([^}]*)\}/g)].map((match) => match[1]);
      expect(selectors.length).toBe((prometheus.metadata.query.match(/jobpipe_[a-z_]+/g) as string[]).length);
      const pipelines = new Set<string>();
      for (const selector of selectors) {
        expect(selector, 'namespace').toMatch(/(^|,)namespace="jobpipe"(,|$)/);
        pipelines.add(/(^|,)pipeline="([^"]+)"(,|$)/.exec(selector)?.[2] ?? 'none');
      }
      expect(pipelines.size, `one pipeline: ${[...pipelines]}`).toBe(1);
      expect(['primes', 'echo']).toContain([...pipelines][0]);
      expect(scaledObject.spec.triggers.map((trigger: any) => trigger.type).sort()).toEqual(['cpu', 'prometheus']);
    },
  );

  it("each scales on the waiting work (held by ventilators, on the job stream, in flight) over its workers' slots, not only in-flight jobs", () => {
    for (const scaledObject of scaledObjects) {
      const prometheus = prometheusOf(scaledObject);
      const names = new Set(prometheus.metadata.query.match(/jobpipe_[a-z_]+/g) as string[]);
      expect([...names].sort()).toEqual(['jobpipe_jobs_inflight', 'jobpipe_jobs_waiting', 'jobpipe_stream_jobs_waiting', 'jobpipe_worker_slots']);
      // observability.test.ts checks on a running pipeline that it is jobpipe:work_waiting over the slots.
      expect(prometheus.metadata.threshold).toBe('1');
    }
    // The same query for every pool, but for its pipeline.
    const queries = new Set(scaledObjects.map((scaledObject) => prometheusOf(scaledObject).metadata.query.replace(/pipeline="[^"]+"/g, 'pipeline="X"')));
    expect(queries.size).toBe(1);
  });

  it('are valid PromQL (promtool)', () => {
    expectValidPromql(Object.fromEntries(scaledObjects.map((scaledObject, i) => [`jobpipe:keda_trigger_${i}`, prometheusOf(scaledObject).metadata.query])));
  });
});

describe("the HPAs' waiting-work metric, served by prometheus-adapter", () => {
  const hpas = kustomize(resolve(k8sDir, 'autoscalers/hpa')).filter((object) => object.kind === 'HorizontalPodAutoscaler');
  const values = parse(readFileSync(resolve(k8sDir, 'autoscalers/hpa/prometheus-adapter-values.yaml'), 'utf8')) as {
    prometheus: { url: string; port: number };
    rules: { external: { seriesQuery: string; name: { matches: string; as: string }; metricsQuery: string; resources: any }[] };
  };
  const rule = values.rules.external[0]!;
  const scaledObjects = kustomize(resolve(k8sDir, 'autoscalers/keda')).filter((object) => object.kind === 'ScaledObject');
  const triggerOf = (name: string) =>
    scaledObjects.find((scaledObject) => scaledObject.metadata.name === name)?.spec.triggers.find((candidate: any) => candidate.type === 'prometheus');

  it('one HPA per pool, each on the External metric the adapter serves for its pipeline, one worker per slots-worth of work, and on CPU', () => {
    expect(hpas.map((hpa) => hpa.metadata.name).sort()).toEqual(['worker-echo', 'worker-primes', 'worker-python']);
    for (const hpa of hpas) {
      expect(hpa.spec.scaleTargetRef.name).toBe(hpa.metadata.name);
      const external = hpa.spec.metrics.filter((metric: any) => metric.type === 'External');
      expect(external.map((metric: any) => metric.external.metric.name)).toEqual([rule.name.as]);
      expect(Object.keys(external[0].external.metric.selector.matchLabels), `${hpa.metadata.name}: selected by pipeline only`).toEqual(['pipeline']);
      expect(external[0].external.target).toEqual({ type: 'AverageValue', averageValue: triggerOf(hpa.metadata.name).metadata.threshold });
      expect(hpa.spec.metrics.map((metric: any) => metric.type).sort()).toEqual(['External', 'Resource']);
    }
  });

  it("the adapter's query is each pool's KEDA trigger, for the HPA's namespace and its pipeline, against the same Prometheus", () => {
    // The adapter puts the namespace of the HPA asking (jobpipe) and its metric selector (pipeline) where <<.LabelMatchers>> is.
    expect(rule.resources.overrides.namespace.resource).toBe('namespace');
    for (const hpa of hpas) {
      const pipeline = hpa.spec.metrics.find((metric: any) => metric.type === 'External').external.metric.selector.matchLabels.pipeline;
      const trigger = triggerOf(hpa.metadata.name);
      expect(rule.metricsQuery.replaceAll('<<.LabelMatchers>>', `namespace="jobpipe",pipeline="${pipeline}"`), hpa.metadata.name).toBe(trigger.metadata.query);
      expect(`${values.prometheus.url}:${values.prometheus.port}`).toBe(trigger.metadata.serverAddress);
    }
    expect(new RegExp(rule.name.matches).test('jobpipe_jobs_inflight')).toBe(true);
  });

  it('its series and metrics queries are valid PromQL (promtool)', () => {
    expectValidPromql({
      'jobpipe:adapter_series': rule.seriesQuery,
      'jobpipe:adapter_metric': rule.metricsQuery.replaceAll('<<.LabelMatchers>>', 'namespace="jobpipe",pipeline="primes"'),
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
