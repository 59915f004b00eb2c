/**
 * Builds a kustomization the way `kubectl kustomize` does, for the subset deploy/k8s keeps to:
 * `resources` (files, or directories with a kustomization of their own), `namespace`, `labels`
 * (with includeSelectors / includeTemplates) and `commonLabels`. Any other field throws, so the
 * manifests stay plain enough to be checked without kubectl. deploy-k8s.test.ts compares the
 * result with `kubectl kustomize` where kubectl exists.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // Manifests are free-form below metadata; the tests reach into them by path.
  [field: string]: any;
}

const SUPPORTED = new Set(['apiVersion', 'kind', 'namespace', 'labels', 'commonLabels', 'resources']);
/** Kinds that live outside namespaces (those that could appear here). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
]);
const POD_TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

interface LabelRule {
  pairs: Record<string, string>;
  includeSelectors?: boolean;
  includeTemplates?: boolean;
}

export function kustomizationFile(dir: string): string {
  for (const name of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`no kustomization in ${dir}`);
}

/** The objects the kustomization in `dir` produces, in resource order. */
export function kustomize(dir: string): K8sObject[] {
  const kustomization = parse(readFileSync(kustomizationFile(dir), 'utf8')) as Record<string, unknown>;
  const unsupported = Object.keys(kustomization).filter((key) => !SUPPORTED.has(key));
  if (unsupported.length > 0)
    throw new Error(`${dir}: kustomization fields ${unsupported.join(', ')} are not supported here: keep to resources, namespace and labels`);
  const objects: K8sObject[] = [];
  for (const entry of (kustomization.resources as string[] | undefined) ?? []) {
    const path = resolve(dir, entry);
    if (statSync(path).isDirectory()) {
      objects.push(...kustomize(path));
      continue;
    }
    for (const document of parseAllDocuments(readFileSync(path, 'utf8'))) {
      if (document.errors.length > 0) throw new Error(`${path}: ${document.errors[0]!.message}`);
      const object = document.toJS() as K8sObject | null;
      if (object) objects.push(object);
    }
  }
  const rules: LabelRule[] = [...((kustomization.labels as LabelRule[] | undefined) ?? [])];
  if (kustomization.commonLabels) rules.push({ pairs: kustomization.commonLabels as Record<string, string>, includeSelectors: true });
  for (const rule of rules) for (const object of objects) applyLabels(object, rule);
  if (typeof kustomization.namespace === 'string') {
    for (const object of objects) if (!CLUSTER_SCOPED.has(object.kind)) object.metadata.namespace = kustomization.namespace;
  }
  return objects;
}

function applyLabels(object: K8sObject, rule: LabelRule): void {
  const add = (target: Record<string, unknown>, key: string) => {
    target[key] = { ...(target[key] as Record<string, string> | undefined), ...rule.pairs };
  };
  add(object.metadata as Record<string, unknown>, 'labels');
  const templates = rule.includeSelectors || rule.includeTemplates;
  const spec = object.spec as Record<string, any> | undefined;
  if (!spec) return;
  if (templates && POD_TEMPLATE_KINDS.has(object.kind)) {
    spec.template ??= {};
    spec.template.metadata ??= {};
    add(spec.template.metadata, 'labels');
    if (object.kind === 'StatefulSet') for (const claim of spec.volumeClaimTemplates ?? []) add((claim.metadata ??= {}), 'labels');
  }
  if (templates && object.kind === 'CronJob') {
    add((spec.jobTemplate.metadata ??= {}), 'labels');
    add((spec.jobTemplate.spec.template.metadata ??= {}), 'labels');
  }
  if (rule.includeSelectors) {
    if (object.kind === 'Service') add(spec, 'selector');
    if (POD_TEMPLATE_KINDS.has(object.kind) || object.kind === 'PodDisruptionBudget') add((spec.selector ??= {}), 'matchLabels');
  }
}

/** `kind/namespace/name`: what makes an object unique in a cluster (with its API group). */
export function objectKey(object: K8sObject): string {
  return `${object.apiVersion.split('/').length > 1 ? object.apiVersion.split('/')[0] : 'core'}/${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}
