/**
 * docker-compose.yml, the Dockerfile and .dockerignore, without a Docker engine: the compose file
 * passes `docker-compose config -q` (Debian's v1, where installed) and v1's own schema (always),
 * the ventilator and the sink serve both example pipelines (primes and echo) and the workers come
 * in pools, one service each (worker-primes, worker-echo, worker-python: the Python worker of
 * workers/python, built from the Dockerfile's target python-worker), each of which
 * `--scale <pool>=N` can size; every jobpipe role reads only settings its role knows, with values
 * it accepts, CURVE is on with the keys the one-shot `keys` service makes (its command run here,
 * into directories standing in for its volumes, the role volumes nested in the flat set's as
 * Docker mounts them), each role mounting only its own role's volume, so that no worker container
 * can read server.secret, link.secret or events.secret (checked by the keys' contents in every
 * volume a worker mounts), and the other services are wired to the files in deploy/, Prometheus
 * scraping every pool. The compose rehearsal (deploy-rehearsal.test.ts) runs the services;
 * container-check.sh builds the image.
 *
 * The console (docs/console.md): a service from the same image, command `console`, with the
 * pipelines, Redis and events endpoint the others use, CURVE as a client with the events key pair,
 * bearer tokens that the one-shot `console-tokens` service writes into a volume of their own
 * (deploy/compose/console-tokens.mjs, run here as that service would), published on the host's
 * loopback only unless JOBPIPE_CONSOLE_PUBLISH_IP says otherwise, ready on /readyz, scraped by
 * Prometheus. The rehearsal leaves it out (CONSOLE_SERVICES).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '@jobpipe/config';
import { curveClientFrom, curvePublicKey, sinkCurveFrom, ventilatorCurveFrom } from '@jobpipe/transport';
import {
  curveFileSettingsOf,
  expectNoSecretOf,
  expectOneKeySet,
  expectWorkerKeysFit,
  FLAT_KEY_FILES,
  keyFilesOf,
  NOT_FOR_WORKERS,
  ROLE_KEY_FILES,
} from './deploy-fixtures/curve-keys.js';
import {
  CONSOLE_SERVICES,
  composePath,
  containerPathHere,
  durationMs,
  entrypointHere,
  hostPath,
  isPythonWorker,
  jobpipeServices,
  keysService,
  loadCompose,
  nestMounts,
  pipelineModules,
  PYTHON_WORKER_TARGET,
  pythonWorkerEnv,
  readDockerfile,
  repoRoot,
  roleOf,
  roleServices,
  roleSettings,
  volumeFiles,
  volumeMounts,
  workerPools,
  type ComposeService,
  type VolumeMount,
} from './deploy-fixtures/compose.js';

const compose = loadCompose({});

/** The pipeline names (definePipeline's `name`) of a JOBPIPE_PIPELINE value, loaded from this checkout's built tree. */
async function pipelineNames(value: string): Promise<string[]> {
  const names: string[] = [];
  for (const path of pipelineModules(value)) names.push(((await import(pathToFileURL(hostPath(path)).href)) as { default: { name: string } }).default.name);
  return names;
}

/** What the Python worker (workers/python) reads. */
const PYTHON_WORKER_ENV = pythonWorkerEnv();
const POOLS = ['worker-echo', 'worker-primes', 'worker-python'];

/** A directory standing in for each named volume of the file. */
const volumeDirs = Object.fromEntries(Object.keys(compose.volumes ?? {}).map((volume) => [volume, mkdtempSync(join(tmpdir(), `jobpipe-compose-${volume}-`))]));
afterAll(() => {
  for (const dir of Object.values(volumeDirs)) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs a one-shot jobpipe service's command as its container would, its volumes being the
 * directories above: after the image's entrypoint, or its own (`node <script>`, the script one of
 * its bind mounts from this checkout).
 */
function runOneShot(service: ComposeService, dirs: Record<string, string> = volumeDirs) {
  const mounts = volumeMounts(compose, service);
  // Volumes mounted inside another (the keys service's /keys/<role> in /keys) show there, as Docker mounts them.
  nestMounts(mounts, dirs);
  const here = (arg: string) => (arg.startsWith('/') ? containerPathHere(arg, mounts, dirs) : arg);
  const [executable, ...entrypoint] =
    service.entrypoint === undefined
      ? entrypointHere()
      : service.entrypoint.map((arg, i) => {
          if (i === 0) return arg === 'node' ? process.execPath : arg;
          const bound = bindMounts(service).find((mount) => mount.target === arg);
          return bound ? bound.source : here(arg);
        });
  const args = service.command!.map(here);
  return spawnSync(executable!, [...entrypoint, ...args], { encoding: 'utf8', env: { ...process.env, ...service.environment } });
}

/** A role's environment with paths inside the image or its volumes turned into paths here. */
function roleEnvHere(service: ComposeService): Record<string, string> {
  const mounts = volumeMounts(compose, service);
  return Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([key, value]) => [key, value.startsWith('/') ? containerPathHere(value, mounts, volumeDirs) : value]),
  );
}

/** What `docker compose up` does first: the keys service runs, so that the roles' key files exist. */
const firstKeysRun = keysService(compose) ? runOneShot(keysService(compose)![1]) : undefined;
/** And the console's tokens service, so that the console's token files exist. */
const firstTokensRun = compose.services['console-tokens'] ? runOneShot(compose.services['console-tokens']) : undefined;

/**
 * The keys service's volumes: the one it writes the flat key set into (at its --out) and each
 * role's (at <out>/<role>, where `keys --by-role` writes that role's files), by role.
 */
function keysVolumes(): { out: string; flat: VolumeMount; roles: Record<string, VolumeMount> } {
  const [, service] = keysService(compose)!;
  const args = service.command!;
  const out = args[args.indexOf('--out') + 1]!;
  const mounts = volumeMounts(compose, service);
  const flat = mounts.find((mount) => mount.target === out)!;
  const roles = Object.fromEntries(mounts.filter((mount) => mount.target.startsWith(`${out}/`)).map((mount) => [mount.target.slice(out.length + 1), mount]));
  return { out, flat, roles };
}

/** Whose key files a service reads (ROLE_KEY_FILES): a worker pool's (either language) the workers', the console's the events follower's. */
function keyRoleOf(service: ComposeService): keyof typeof ROLE_KEY_FILES {
  if (isPythonWorker(service)) return 'worker';
  const role = roleOf(service);
  return (role === 'console' ? 'events' : role) as keyof typeof ROLE_KEY_FILES;
}

/** Every file a service's container can read in the named volumes it mounts (as the keys service left them), by path inside it. */
function readableInVolumes(service: ComposeService, dirs: Record<string, string> = volumeDirs): Record<string, string> {
  const readable: Record<string, string> = {};
  for (const mount of volumeMounts(compose, service))
    for (const [path, { text }] of volumeFiles(dirs[mount.volume]!)) readable[`${mount.target}/${path}`] = text;
  return readable;
}

/** A service's published ports, `[ip:][hostPort:]containerPort[/protocol]`. */
function published(service: ComposeService): { ip?: string; hostPort?: number; container: number }[] {
  return (service.ports ?? []).map((spec) => {
    const parts = String(spec)
      .replace(/\/(tcp|udp|sctp)$/, '')
      .split(':');
    const container = Number(parts.pop());
    const hostPort = parts.length > 0 ? Number(parts.pop()) : undefined;
    return { ...(parts.length > 0 ? { ip: parts.join(':') } : {}), ...(hostPort !== undefined ? { hostPort } : {}), container };
  });
}

/** `host:container[:ro]` bind mounts of a service, with host paths resolved from the repository root. */
function bindMounts(service: ComposeService): { source: string; target: string }[] {
  return (service.volumes ?? [])
    .map((spec) => String(spec).split(':'))
    .filter(([source]) => source!.startsWith('.'))
    .map(([source, target]) => ({ source: resolve(repoRoot, source!), target: target! }));
}

describe('docker-compose.yml', () => {
  it("passes `docker-compose config -q` (Debian's docker-compose v1)", () => {
    const run = spawnSync('docker-compose', ['-f', composePath, 'config', '-q'], {
      encoding: 'utf8',
      cwd: repoRoot,
      env: { ...process.env, JOBPIPE_REDIS_PASSWORD: '', JOBPIPE_IMAGE: '' },
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr.trim()).toBe('');
  });

  it("validates against docker-compose v1's Compose schema, so it keeps to fields v1 knows", () => {
    // Its `id`s are draft-04 style ("#/definitions/service"), which Ajv reads as $id; its $refs are
    // JSON pointers and need no ids, so drop them (and $schema, which would make Ajv insist on it).
    const schema = JSON.parse(readFileSync(resolve(repoRoot, 'test/integration/deploy-fixtures/compose-spec-v1.29.json'), 'utf8'), (key, value) =>
      (key === 'id' || key === '$schema') && typeof value === 'string' ? undefined : value,
    );
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    // The formats v1 checks itself (compose/config/validation.py), as patterns.
    ajv.addFormat('duration', /^(\d+(\.\d+)?(h|m|s|ms|us))+$/);
    ajv.addFormat('ports', /^((\d{1,3}\.){3}\d{1,3}:)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
    ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
    ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d+$/);
    const validate = ajv.compile(schema);
    const valid = validate(compose);
    expect(valid, JSON.stringify(validate.errors, null, 2)).toBe(true);
    // v2 calls `version` obsolete; v1 does not need it.
    expect(compose).not.toHaveProperty('version');
  });

  it('can run N workers of each pool (`--scale worker-primes=N`): no pool has a container_name, host ports, a fixed hostname or a replica count', () => {
    expect(
      workerPools(compose)
        .map(([name]) => name)
        .sort(),
    ).toEqual(POOLS);
    expect(compose.services.worker, 'one service per pool, none called worker').toBeUndefined();
    for (const [name, worker] of workerPools(compose)) {
      expect(worker.container_name, name).toBeUndefined();
      expect(worker.hostname, name).toBeUndefined();
      expect(worker.ports, name).toBeUndefined();
      expect(worker.scale, name).toBeUndefined();
      expect(worker.deploy, name).toBeUndefined();
    }
    // And nothing else claims a fixed name either, so two projects can run side by side.
    for (const [name, service] of Object.entries(compose.services)) expect(service.container_name, name).toBeUndefined();
  });

  it('runs the three roles and the one-shot keys service from the image built here, the Python worker from its target; each role reads only settings its role knows, with values it accepts', () => {
    expect(
      jobpipeServices(compose)
        .map(([name]) => name)
        .sort(),
    ).toEqual(['keys', 'sink', 'ventilator', ...POOLS]);
    for (const [name, service] of jobpipeServices(compose))
      expect(service.build, name).toEqual(isPythonWorker(service) ? { context: '.', target: PYTHON_WORKER_TARGET } : '.');
    const roles = roleServices(compose);
    expect(roles.map(([name]) => name).sort()).toEqual(['sink', 'ventilator', 'worker-echo', 'worker-primes']);
    expect(firstKeysRun?.status, firstKeysRun?.stderr).toBe(0);
    for (const [name, service] of roles) {
      expect(service.command, name).toEqual([name.startsWith('worker-') ? 'worker' : name]);
      const settings = roleSettings[roleOf(service)]!;
      const known = new Set(Object.values(settings).map((setting) => setting.env));
      for (const key of Object.keys(service.environment ?? {})) expect(known.has(key), `${name} does not read ${key}`).toBe(true);
      // Paths under /app are this checkout's built tree, paths under /keys the keys service's output.
      expect(() => loadConfig(settings, { env: roleEnvHere(service) }), name).not.toThrow();
    }
    // The Python worker: its image (another tag than the node image's), the module it serves as its command, settings it reads.
    for (const [name, service] of workerPools(compose).filter(([, candidate]) => isPythonWorker(candidate))) {
      expect(service.image, name).not.toBe(compose.services.ventilator!.image);
      expect(service.command, `${name}: python3 -m jobpipe_worker <module>`).toEqual([expect.stringMatching(/^jobpipe_worker\.examples\.[a-z_]+$/)]);
      for (const key of Object.keys(service.environment ?? {})) expect(PYTHON_WORKER_ENV.has(key), `the Python worker does not read ${key}`).toBe(true);
    }
  });

  it('the ventilator and the sink serve every pipeline (primes and echo); each pool serves some of them, and each pipeline has a pool', async () => {
    const env = (name: string) => compose.services[name]!.environment!;
    expect(env('sink').JOBPIPE_PIPELINE).toBe(env('ventilator').JOBPIPE_PIPELINE);
    const served = await pipelineNames(env('ventilator').JOBPIPE_PIPELINE!);
    expect([...served].sort()).toEqual(['echo', 'primes']);
    const pools: Record<string, string[]> = {};
    for (const [name, service] of workerPools(compose))
      pools[name] = isPythonWorker(service) ? [service.command![0]!.split('.').at(-1)!] : await pipelineNames(service.environment!.JOBPIPE_PIPELINE!);
    expect(pools).toEqual({ 'worker-primes': ['primes'], 'worker-echo': ['echo'], 'worker-python': ['primes'] });
    for (const [name, pipelines] of Object.entries(pools)) for (const pipeline of pipelines) expect(served, `${name} serves ${pipeline}`).toContain(pipeline);
    for (const pipeline of served) expect(Object.values(pools).flat(), `a pool serves ${pipeline}`).toContain(pipeline);
  });

  it('CURVE: the keys service runs `jobpipe keys --out <its volume> --by-role --keep` and nothing else, once per `up`, with a volume of its own for the flat set and one per role below it; a second run keeps the keys', () => {
    const [name, service] = keysService(compose)!;
    expect(service.entrypoint, "the image's entrypoint, the jobpipe CLI").toBeUndefined();
    const [command, ...args] = service.command!;
    expect(command).toBe('keys');
    const options = args.filter((arg) => arg.startsWith('--')).sort();
    expect(options).toEqual(['--by-role', '--keep', '--out']);
    expect(args).toHaveLength(4);
    const { out, flat, roles } = keysVolumes();
    expect(flat, `${out} is a named volume of ${name}`).toBeDefined();
    expect(flat.readOnly, 'the keys service writes its volume').toBe(false);
    // One volume per role, mounted where --by-role writes that role's files, each a volume of its own.
    expect(Object.keys(roles).sort()).toEqual(Object.keys(ROLE_KEY_FILES).sort());
    const volumes = [flat, ...Object.values(roles)].map((mount) => mount.volume);
    expect(new Set(volumes).size, `${name}: a volume each`).toBe(volumes.length);
    expect(volumeMounts(compose, service), `${name} mounts only its keys volumes`).toHaveLength(volumes.length);
    for (const mount of Object.values(roles)) expect(mount.readOnly, `${name} writes ${mount.volume}`).toBe(false);
    // A one-shot: restarted after its exit 0 it would run forever; it serves nothing and needs no settings.
    expect(service.restart).toBe('no');
    expect(service.healthcheck).toBeUndefined();
    expect(service.ports).toBeUndefined();
    expect(service.environment).toBeUndefined();
    expect(service.depends_on).toBeUndefined();

    expect(firstKeysRun!.status, firstKeysRun!.stderr).toBe(0);
    const written = () => volumes.map((volume) => [...volumeFiles(volumeDirs[volume]!)]);
    // The flat set, in the keys service's volume only; the role volumes mounted below it are theirs.
    const flatFiles = volumeFiles(volumeDirs[flat.volume]!);
    expect([...flatFiles.keys()].sort()).toEqual([...FLAT_KEY_FILES]);
    for (const [file, { mode }] of flatFiles) expect(mode, file).toBe(file.endsWith('.secret') ? 0o600 : 0o644);
    // Each role's volume: exactly its files, copies of the flat set's, secrets closed to other users.
    for (const [role, mount] of Object.entries(roles)) {
      const files = volumeFiles(volumeDirs[mount.volume]!);
      expect([...files.keys()].sort(), `${mount.volume} (${out}/${role})`).toEqual([...ROLE_KEY_FILES[role as keyof typeof ROLE_KEY_FILES]].sort());
      for (const [file, { text, mode }] of files) {
        expect(text, `${mount.volume}: ${file} is the flat set's`).toBe(flatFiles.get(file)!.text);
        expect(mode, `${mount.volume}: ${file}`).toBe(file.endsWith('.secret') ? 0o600 : 0o644);
      }
    }
    // The next `docker compose up` runs it again: it must succeed (the roles wait for that) and change nothing.
    const before = written();
    const second = runOneShot(service);
    expect(second.status, second.stderr).toBe(0);
    expect(written()).toEqual(before);
  });

  it('CURVE: a key volume from before the link and events keys (server, client-1, clients.allow only) is completed by the same command on the next `up`, its keys kept, every role volume filled', () => {
    const [, service] = keysService(compose)!;
    const { flat, roles } = keysVolumes();
    // Stand-ins of their own: a first run, then the set cut back to what the earlier keys service wrote.
    const dirs = Object.fromEntries(
      Object.keys(compose.volumes ?? {}).map((volume) => [volume, mkdtempSync(join(tmpdir(), `jobpipe-compose-old-${volume}-`))]),
    );
    try {
      const first = runOneShot(service, dirs);
      expect(first.status, first.stderr).toBe(0);
      const flatDir = dirs[flat.volume]!;
      for (const file of ['link.public', 'link.secret', 'events.public', 'events.secret']) unlinkSync(join(flatDir, file));
      for (const mount of Object.values(roles)) for (const file of readdirSync(dirs[mount.volume]!)) unlinkSync(join(dirs[mount.volume]!, file));
      const old = volumeFiles(flatDir);
      const upgrade = runOneShot(service, dirs);
      expect(upgrade.status, upgrade.stderr).toBe(0);
      const now = volumeFiles(flatDir);
      expect([...now.keys()].sort()).toEqual([...FLAT_KEY_FILES]);
      for (const [file, { text }] of old) expect(now.get(file)!.text, `${file} kept`).toBe(text);
      for (const [role, mount] of Object.entries(roles))
        expect([...volumeFiles(dirs[mount.volume]!).keys()].sort(), role).toEqual([...ROLE_KEY_FILES[role as keyof typeof ROLE_KEY_FILES]].sort());
      // The kept server key and the new link key fit: the link is a key pair of its own.
      expect(now.get('server.public')!.text.trim()).toBe(curvePublicKey(now.get('server.secret')!.text.trim()));
      expect(now.get('link.public')!.text.trim()).toBe(curvePublicKey(now.get('link.secret')!.text.trim()));
      expect(now.get('link.public')!.text).not.toBe(now.get('server.public')!.text);
    } finally {
      for (const dir of Object.values(dirs)) rmSync(dir, { recursive: true, force: true });
    }
  });

  it("CURVE: every role and worker pool waits for the keys service, mounts its own role's volume alone, read-only, and reads its keys from files there, one consistent set", () => {
    const [keysName] = keysService(compose)!;
    const { flat, roles } = keysVolumes();
    const configs: Record<string, any> = {};
    for (const [name, service] of [...roleServices(compose, { console: true }), ...workerPools(compose).filter(([, candidate]) => isPythonWorker(candidate))]) {
      expect(service.depends_on?.[keysName], `${name} waits for ${keysName}`).toEqual({ condition: 'service_completed_successfully' });
      const keyRole = keyRoleOf(service);
      // Of the keys service's volumes, its role's alone: never the flat set, never another role's.
      const keyMounts = volumeMounts(compose, service).filter(
        (mount) => mount.volume === flat.volume || Object.values(roles).some((role) => role.volume === mount.volume),
      );
      expect(
        keyMounts.map((mount) => mount.volume),
        `${name} mounts the volume of ${keyRole}`,
      ).toEqual([roles[keyRole]!.volume]);
      const mount = keyMounts[0]!;
      expect(mount.readOnly, `${name} mounts ${mount.volume} read-only`).toBe(true);
      // Every CURVE setting the role takes, each as a file of its volume, the file the key model says.
      const role = isPythonWorker(service) ? 'worker' : roleOf(service);
      const curve = Object.fromEntries(Object.entries(service.environment ?? {}).filter(([key]) => key.startsWith('JOBPIPE_CURVE_')));
      expect(curve, `${name}'s CURVE settings`).toEqual(
        Object.fromEntries(Object.entries(curveFileSettingsOf(role)).map(([key, file]) => [key, `${mount.target}/${file}`])),
      );
      // And the volume holds those files and no other.
      expect([...volumeFiles(volumeDirs[mount.volume]!).keys()].sort(), `${name}: what ${mount.volume} holds`).toEqual([...keyFilesOf(role)].sort());
      if (!isPythonWorker(service)) configs[name] = loadConfig(roleSettings[role]!, { env: roleEnvHere(service) });
    }
    expectOneKeySet({ ventilator: configs.ventilator, sink: configs.sink, worker: configs['worker-primes'], console: configs.console });
    // Every replica of every pool presents the same key (the shared-client-key option, SECURITY.md).
    for (const [name, service] of workerPools(compose)) expect(service.environment!.JOBPIPE_CURVE_SECRET_FILE, name).toMatch(/\/client-1\.secret$/);
    for (const [name] of workerPools(compose).filter(([, service]) => !isPythonWorker(service)))
      expect(curveClientFrom(configs[name]), name).toEqual(curveClientFrom(configs['worker-primes']));
    // The Python worker, which is no role here: its key files, one set with the others'.
    for (const [name, service] of workerPools(compose).filter(([, candidate]) => isPythonWorker(candidate))) {
      const here = roleEnvHere(service);
      expectWorkerKeysFit(
        { ventilator: configs.ventilator, sink: configs.sink },
        { serverKey: readFileSync(here.JOBPIPE_CURVE_SERVER_KEY_FILE!, 'utf8'), secretKey: readFileSync(here.JOBPIPE_CURVE_SECRET_FILE!, 'utf8') },
        name,
      );
    }
  });

  it('CURVE: no worker container can read server.secret, link.secret or events.secret; no service but keys mounts the flat set; each service can read only its own key files', () => {
    const [keysName] = keysService(compose)!;
    const { flat } = keysVolumes();
    const flatDir = volumeDirs[flat.volume]!;
    expect(firstKeysRun!.status, firstKeysRun!.stderr).toBe(0);
    for (const [name, service] of Object.entries(compose.services).filter(([name]) => name !== keysName))
      expect(
        volumeMounts(compose, service).map((mount) => mount.volume),
        `${name} mounts ${flat.volume}`,
      ).not.toContain(flat.volume);
    const pools = workerPools(compose);
    expect(pools.map(([name]) => name).sort()).toEqual(POOLS);
    for (const [name, service] of pools) {
      // Nothing from this checkout either: a worker's files are its image's and its volumes'.
      expect(bindMounts(service), `${name}: no bind mounts`).toEqual([]);
      const readable = readableInVolumes(service);
      expect(Object.keys(readable).length, `${name} reads its keys`).toBeGreaterThan(0);
      expectNoSecretOf(flatDir, NOT_FOR_WORKERS, readable, name);
      // Nor in its environment (a key set there, not as a file).
      expectNoSecretOf(flatDir, NOT_FOR_WORKERS, { environment: JSON.stringify(service.environment ?? {}) }, name);
    }
    // Least privilege for every service: no secret of the set but its own role's.
    for (const [name, service] of Object.entries(compose.services).filter(([name]) => name !== keysName)) {
      const own =
        service.build !== undefined && (isPythonWorker(service) || roleSettings[service.command?.[0] ?? ''] !== undefined)
          ? ROLE_KEY_FILES[keyRoleOf(service)]
          : [];
      const others = FLAT_KEY_FILES.filter((file) => file.endsWith('.secret') && !own.includes(file));
      expectNoSecretOf(flatDir, others, readableInVolumes(service), name);
    }
  });

  it('wires the roles by service name to the endpoints the others bind, and to Redis', () => {
    const env = (name: string) => compose.services[name]!.environment!;
    const port = (endpoint: string) => /:(\d+)$/.exec(endpoint)![1];
    for (const [name] of workerPools(compose)) {
      expect(env(name).JOBPIPE_JOBS_CONNECT, name).toBe(`tcp://ventilator:${port(env('ventilator').JOBPIPE_JOBS_BIND!)}`);
      expect(env(name).JOBPIPE_RESULTS_CONNECT, name).toBe(`tcp://sink:${port(env('sink').JOBPIPE_RESULTS_BIND!)}`);
    }
    expect(env('ventilator').JOBPIPE_RESULTS_CONNECT).toBe(`tcp://sink:${port(env('sink').JOBPIPE_RESULTS_BIND!)}`);
    expect(env('ventilator').JOBPIPE_EVENTS_CONNECT).toBe(`tcp://sink:${port(env('sink').JOBPIPE_EVENTS_BIND!)}`);
    const withPassword = loadCompose({ JOBPIPE_REDIS_PASSWORD: 's3cret' });
    for (const role of ['ventilator', 'sink']) {
      const url = new URL(withPassword.services[role]!.environment!.JOBPIPE_REDIS_URL!);
      expect([url.hostname, url.port, url.password], role).toEqual(['redis', '6379', 's3cret']);
    }
    const redis = withPassword.services.redis!;
    const args = redis.command!;
    expect(args[args.indexOf('--requirepass') + 1]).toBe('s3cret');
    expect(redis.environment!.REDISCLI_AUTH).toBe('s3cret');
  });

  it('Redis keeps its data: AOF on, noeviction, a named volume at /data', () => {
    const redis = compose.services.redis!;
    const args = redis.command!;
    expect(args[args.indexOf('--appendonly') + 1]).toBe('yes');
    expect(args[args.indexOf('--maxmemory-policy') + 1]).toBe('noeviction');
    const [volume, target] = redis.volumes![0]!.split(':');
    expect(target).toBe('/data');
    expect(compose.volumes).toHaveProperty(volume!);
    for (const port of published(redis)) expect(port.ip, 'Redis published on loopback only').toBe('127.0.0.1');
    // On 6379 unless a local Redis has it already.
    expect(published(redis).map((port) => port.hostPort)).toEqual([6379]);
    expect(published(loadCompose({ JOBPIPE_REDIS_PUBLISH_PORT: '16379' }).services.redis!)).toEqual([{ ip: '127.0.0.1', hostPort: 16379, container: 6379 }]);
  });

  it('healthchecks on /readyz at the metrics port; depends_on waits for healthy services; restarts; a worker has time to drain', () => {
    for (const [name, service] of roleServices(compose)) {
      const metricsPort = Number(service.environment!.JOBPIPE_METRICS_PORT ?? roleSettings[roleOf(service)]!.metricsPort!.default);
      expect(service.healthcheck!.test.join(' '), name).toContain(`http://127.0.0.1:${metricsPort}/readyz`);
      expect(service.restart, name).toBe('unless-stopped');
      for (const port of published(service)) expect(port.container, `${name} publishes its metrics port only`).toBe(metricsPort);
    }
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(compose.services[dependency], `${name} depends on ${dependency}`).toBeDefined();
        if (condition === 'service_healthy') expect(compose.services[dependency]!.healthcheck, `${dependency} has a healthcheck`).toBeDefined();
        // A service that is restarted after it exits never "completes": waiting for it would stall.
        if (condition === 'service_completed_successfully') expect(compose.services[dependency]!.restart, `${dependency} runs once`).toBe('no');
      }
    }
    for (const [name, worker] of workerPools(compose)) {
      expect(worker.depends_on, name).toEqual({
        keys: { condition: 'service_completed_successfully' },
        ventilator: { condition: 'service_healthy' },
        sink: { condition: 'service_healthy' },
      });
      const drainMs = Number(worker.environment!.JOBPIPE_DRAIN_TIMEOUT_MS ?? roleSettings.worker!.drainTimeoutMs!.default);
      // A worker exits at most 5 s after its drain timeout; Docker's default is a SIGKILL after 10 s.
      expect(durationMs(worker.stop_grace_period!), name).toBeGreaterThanOrEqual(drainMs + 10_000);
      expect(worker.restart, name).toBe('unless-stopped');
    }
    // The Python worker's healthcheck is its /readyz too, asked with python3 (no node in its image),
    // at the metrics port set (its own default, 9102, is not the others').
    for (const [name, worker] of workerPools(compose).filter(([, candidate]) => isPythonWorker(candidate))) {
      const metricsPort = Number(worker.environment!.JOBPIPE_METRICS_PORT);
      expect(metricsPort, `${name} JOBPIPE_METRICS_PORT`).toBe(9400);
      expect(worker.healthcheck!.test.slice(0, 2), name).toEqual(['CMD', 'python3']);
      expect(worker.healthcheck!.test.join(' '), name).toContain(`http://127.0.0.1:${metricsPort}/readyz`);
    }
  });

  it('the console: a service of its own from the image built here (command console, no container_name), reading only settings it knows, with values it accepts', () => {
    expect(
      jobpipeServices(compose, { console: true })
        .map(([name]) => name)
        .filter((name) => CONSOLE_SERVICES.includes(name))
        .sort(),
    ).toEqual([...CONSOLE_SERVICES].sort());
    for (const name of CONSOLE_SERVICES) {
      const service = compose.services[name]!;
      expect(service.build, name).toBe('.');
      expect(service.image, `${name}: the image the roles run`).toBe(compose.services.ventilator!.image);
      expect(service.container_name, name).toBeUndefined();
    }
    const [[name, service]] = roleServices(compose, { console: true }).filter(([, candidate]) => roleOf(candidate) === 'console') as [[string, ComposeService]];
    expect(name).toBe('console');
    expect(service.command).toEqual(['console']);
    expect(service.entrypoint, "the image's entrypoint, the jobpipe CLI").toBeUndefined();
    const known = new Set(Object.values(roleSettings.console!).map((setting) => setting.env));
    for (const key of Object.keys(service.environment ?? {})) expect(known.has(key), `the console does not read ${key}`).toBe(true);
    // Its token files are the console-tokens service's, its key files the keys service's: both ran above, as on `up`.
    expect(firstTokensRun?.status, firstTokensRun?.stderr).toBe(0);
    expect(firstKeysRun?.status, firstKeysRun?.stderr).toBe(0);
    const config = loadConfig(roleSettings.console!, { env: roleEnvHere(service) }) as any;
    expect(config.consoleAdminTokensFile, 'one admin token').toEqual([expect.stringMatching(/^[0-9a-f]{64}$/)]);
    expect(config.consoleReadTokensFile, 'one read token').toEqual([expect.stringMatching(/^[0-9a-f]{64}$/)]);
    expect(config.consoleReadTokensFile[0], 'admin and read tokens differ').not.toBe(config.consoleAdminTokensFile[0]);
    for (const key of ['JOBPIPE_CONSOLE_ADMIN_TOKENS', 'JOBPIPE_CONSOLE_READ_TOKENS'])
      expect(service.environment![key], `${key}: tokens from files only`).toBeUndefined();
    // With tokens it listens on every address of its container (its default): a published port reaches it.
    expect(config.consoleHost === undefined || !/^(127\.|localhost$|::1$)/.test(config.consoleHost), 'not on the container loopback').toBe(true);
  });

  it("the console takes the ventilator's pipelines, its Redis (with the password set) and the sink's events, as a CURVE client with the events key pair (no worker's)", async () => {
    const env = (name: string) => compose.services[name]!.environment!;
    const port = (endpoint: string) => /:(\d+)$/.exec(endpoint)![1];
    expect(env('console').JOBPIPE_PIPELINE).toBe(env('ventilator').JOBPIPE_PIPELINE);
    expect([...(await pipelineNames(env('console').JOBPIPE_PIPELINE!))].sort()).toEqual(['echo', 'primes']);
    expect(env('console').JOBPIPE_REDIS_PREFIX).toBe(env('ventilator').JOBPIPE_REDIS_PREFIX);
    expect(env('console').JOBPIPE_EVENTS_CONNECT).toBe(`tcp://sink:${port(env('sink').JOBPIPE_EVENTS_BIND!)}`);
    const withPassword = loadCompose({ JOBPIPE_REDIS_PASSWORD: 's3cret' });
    expect(withPassword.services.console!.environment!.JOBPIPE_REDIS_URL).toBe(withPassword.services.ventilator!.environment!.JOBPIPE_REDIS_URL);
    // CURVE: the events volume read-only, its key files there: the events key pair, which the sink admits on events only, not a worker's.
    const [keysName] = keysService(compose)!;
    const console = compose.services.console!;
    expect(console.depends_on?.[keysName]).toEqual({ condition: 'service_completed_successfully' });
    const eventsVolume = keysVolumes().roles.events!.volume;
    const mount = volumeMounts(compose, console).find((candidate) => candidate.volume === eventsVolume);
    expect(mount?.readOnly, `the console mounts ${eventsVolume} read-only`).toBe(true);
    expect(
      Object.keys(console.environment!)
        .filter((key) => key.startsWith('JOBPIPE_CURVE_'))
        .sort(),
    ).toEqual(['JOBPIPE_CURVE_SECRET_FILE', 'JOBPIPE_CURVE_SERVER_KEY_FILE']);
    const configOf = (name: string) => loadConfig(roleSettings[roleOf(compose.services[name]!)]!, { env: roleEnvHere(compose.services[name]!) }) as any;
    const client = curveClientFrom(configOf('console'))!;
    const ventilator = ventilatorCurveFrom(configOf('ventilator'))!;
    const sink = sinkCurveFrom(configOf('sink'))!;
    expect(client.serverKey, "the console trusts the servers' public key").toBe(curvePublicKey(sink.secretKey));
    const key = curvePublicKey(client.secretKey);
    expect(sink.eventsKeys.has(key), "the sink admits the console's key on events").toBe(true);
    expect(sink.workerKeys.has(key), "the console's key is no worker's (sink)").toBe(false);
    expect(ventilator.server.workerKeys.has(key), "the console's key is no worker's (ventilator)").toBe(false);
    expect(client.secretKey, "the console holds no worker's key").not.toBe(curveClientFrom(configOf('worker-primes'))!.secretKey);
  });

  it("the console's tokens: the one-shot console-tokens writes one admin and one read token (mode 0600) into a volume of their own on the first `up` and keeps them; the console waits for it and mounts that volume read-only; nothing else does", () => {
    const tokens = compose.services['console-tokens']!;
    // A one-shot, as keys: no restart, nothing served, no settings, no waiting.
    expect(tokens.restart).toBe('no');
    expect(tokens.healthcheck).toBeUndefined();
    expect(tokens.ports).toBeUndefined();
    expect(tokens.environment).toBeUndefined();
    expect(tokens.depends_on).toBeUndefined();
    // `node <script>`: the script of this checkout, mounted read-only.
    const [node, script] = tokens.entrypoint!;
    expect(node).toBe('node');
    const source = bindMounts(tokens).find((mount) => mount.target === script);
    expect(source?.source, `${script} is mounted from this checkout`).toBe(resolve(repoRoot, 'deploy/compose/console-tokens.mjs'));
    expect(tokens.volumes!.find((spec) => spec.split(':')[1] === script)!.split(':')[2]).toBe('ro');
    const args = tokens.command!;
    expect(args.filter((arg) => arg.startsWith('--')).sort()).toEqual(['--keep', '--out']);
    const out = args[args.indexOf('--out') + 1]!;
    const mount = volumeMounts(compose, tokens).find((candidate) => candidate.target === out)!;
    expect(mount, `${out} is a named volume`).toBeDefined();
    expect(mount.readOnly, 'console-tokens writes its volume').toBe(false);
    expect(
      volumeMounts(compose, keysService(compose)![1]).map((candidate) => candidate.volume),
      'a volume of their own, none of the keys',
    ).not.toContain(mount.volume);

    // What it wrote above (the first `up`): two files, one token each, closed to other users.
    expect(firstTokensRun!.status, firstTokensRun!.stderr).toBe(0);
    expect(firstTokensRun!.stdout, 'it never prints a token').not.toMatch(/[0-9a-f]{64}/);
    const dir = volumeDirs[mount.volume]!;
    const files = readdirSync(dir).sort();
    expect(files).toEqual(['admin.tokens', 'read.tokens']);
    for (const file of files) expect(statSync(join(dir, file)).mode & 0o777, file).toBe(0o600);
    // The next `up` runs it again: exit 0, nothing changed.
    const before = files.map((file) => readFileSync(join(dir, file), 'utf8'));
    const second = runOneShot(tokens);
    expect(second.status, second.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(files);
    expect(files.map((file) => readFileSync(join(dir, file), 'utf8'))).toEqual(before);

    // The console waits for it, mounts the volume read-only and reads both files there.
    const console = compose.services.console!;
    expect(console.depends_on?.['console-tokens']).toEqual({ condition: 'service_completed_successfully' });
    const consoleMount = volumeMounts(compose, console).find((candidate) => candidate.volume === mount.volume)!;
    expect(consoleMount?.readOnly, 'the console mounts the tokens read-only').toBe(true);
    expect(console.environment!.JOBPIPE_CONSOLE_ADMIN_TOKENS_FILE).toBe(`${consoleMount.target}/admin.tokens`);
    expect(console.environment!.JOBPIPE_CONSOLE_READ_TOKENS_FILE).toBe(`${consoleMount.target}/read.tokens`);
    // No other service sees the tokens (this volume is the console's alone).
    for (const [name, service] of Object.entries(compose.services).filter(([name]) => !CONSOLE_SERVICES.includes(name)))
      expect(
        volumeMounts(compose, service).map((candidate) => candidate.volume),
        name,
      ).not.toContain(mount.volume);
  });

  it('the console: published on the host loopback only (JOBPIPE_CONSOLE_PUBLISH_IP to choose), its API port alone; healthcheck on /readyz; waits for Redis and the sink', () => {
    const console = compose.services.console!;
    const consolePort = Number(console.environment!.JOBPIPE_CONSOLE_PORT ?? roleSettings.console!.consolePort!.default);
    const metricsPort = Number(console.environment!.JOBPIPE_METRICS_PORT ?? roleSettings.console!.metricsPort!.default);
    expect(consolePort).toBe(8480);
    expect(published(console)).toEqual([{ ip: '127.0.0.1', hostPort: 8480, container: consolePort }]);
    expect(published(loadCompose({ JOBPIPE_CONSOLE_PUBLISH_IP: '0.0.0.0' }).services.console!)).toEqual([
      { ip: '0.0.0.0', hostPort: 8480, container: consolePort },
    ]);
    // Empty counts as unset, as Compose's `:-` reads it: still loopback.
    expect(published(loadCompose({ JOBPIPE_CONSOLE_PUBLISH_IP: '' }).services.console!)[0]!.ip).toBe('127.0.0.1');
    // Every published port of every service, by default: this machine only.
    for (const [name, service] of Object.entries(compose.services))
      for (const port of published(service)) expect(port.ip, `${name} publishes ${port.container} on loopback`).toBe('127.0.0.1');
    expect(console.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${metricsPort}/readyz`);
    expect(console.restart).toBe('unless-stopped');
    expect(console.depends_on).toEqual({
      keys: { condition: 'service_completed_successfully' },
      'console-tokens': { condition: 'service_completed_successfully' },
      redis: { condition: 'service_healthy' },
      sink: { condition: 'service_healthy' },
    });
    expect(durationMs(console.stop_grace_period ?? '10s')).toBeGreaterThanOrEqual(10_000);
  });

  it('Prometheus gets deploy/prometheus, whose scrape targets are services and ports that exist', () => {
    const prometheus = compose.services.prometheus!;
    const mount = bindMounts(prometheus).find((candidate) => candidate.source === resolve(repoRoot, 'deploy/prometheus'))!;
    expect(mount.target).toBe('/etc/prometheus');
    expect(prometheus.command).toContain(`--config.file=${mount.target}/prometheus.yml`);
    const config = parse(readFileSync(resolve(mount.source, 'prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: any[] };
    for (const pattern of config.rule_files) expect(pattern.startsWith(`${mount.target}/`), pattern).toBe(true);
    expect(existsSync(resolve(mount.source, 'rules/jobpipe.yml'))).toBe(true);
    // Every worker of every pool is in job jobpipe-worker (the rules and the dashboard select it),
    // found by its pool's service name, and labelled with its pool as on Kubernetes.
    const workerJob = config.scrape_configs.find((job) => job.job_name === 'jobpipe-worker');
    expect(workerJob.dns_sd_configs.flatMap((sd: any) => sd.names).sort()).toEqual(POOLS);
    expect(workerJob.relabel_configs).toContainEqual({ source_labels: ['__meta_dns_name'], regex: 'worker-(.+)', target_label: 'pool' });
    // The console, by its service name too (none is up when the stack runs without it), labelled role=console as on Kubernetes.
    const consoleJob = config.scrape_configs.find((job) => job.job_name === 'jobpipe-console');
    expect(consoleJob.dns_sd_configs.flatMap((sd: any) => sd.names)).toEqual(['console']);
    expect(consoleJob.relabel_configs).toContainEqual({ target_label: 'role', replacement: 'console' });
    for (const job of config.scrape_configs) {
      const targets: string[] = [
        ...(job.static_configs ?? []).flatMap((group: any) => group.targets),
        ...(job.dns_sd_configs ?? []).flatMap((sd: any) => sd.names.map((name: string) => `${name}:${sd.port}`)),
      ];
      for (const target of targets) {
        const [host, port] = target.split(':');
        const service = compose.services[host!];
        expect(service, `${job.job_name}: no service ${host}`).toBeDefined();
        expect(Number(port), `${job.job_name}: ${host} serves metrics on`).toBe(Number(service!.environment!.JOBPIPE_METRICS_PORT ?? 9400));
      }
    }
  });

  it('Grafana gets the provisioning and the dashboard where the provisioning looks, the datasource is the prometheus service, viewers need no login', () => {
    const grafana = compose.services.grafana!;
    const all = bindMounts(grafana);
    const provisioning = all.find((mount) => mount.source === resolve(repoRoot, 'deploy/grafana/provisioning'))!;
    expect(provisioning.target).toBe('/etc/grafana/provisioning');
    const provider = parse(readFileSync(resolve(provisioning.source, 'dashboards/jobpipe.yml'), 'utf8')) as { providers: { options: { path: string } }[] };
    const dashboards = all.find((mount) => mount.source === resolve(repoRoot, 'deploy/grafana/dashboards'))!;
    expect(dashboards.target).toBe(provider.providers[0]!.options.path);
    const datasource = parse(readFileSync(resolve(provisioning.source, 'datasources/prometheus.yml'), 'utf8')) as { datasources: { url: string }[] };
    const url = new URL(datasource.datasources[0]!.url);
    expect(compose.services[url.hostname]).toBe(compose.services.prometheus);
    expect(published(compose.services.prometheus!).map((port) => port.container)).toContain(Number(url.port));
    expect(grafana.environment!.GF_AUTH_ANONYMOUS_ENABLED).toBe('true');
    expect(grafana.environment!.GF_AUTH_ANONYMOUS_ORG_ROLE).toBe('Viewer');
    const home = grafana.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!;
    expect(home.startsWith(`${dashboards.target}/`), home).toBe(true);
    expect(existsSync(resolve(dashboards.source, home.slice(dashboards.target.length + 1))), home).toBe(true);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readDockerfile();
  const runtime = dockerfile.stages.at(-1)!;
  const instruction = (keyword: string) => runtime.instructions.filter((candidate) => candidate.keyword === keyword).at(-1)?.args;

  it('builds every stage of the jobpipe image on node:20-bookworm-slim (what container-check.sh stands in for), the last one being it', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    // `docker build .` builds the last stage: the node image, not the Python worker's.
    expect(runtime.name).not.toBe(PYTHON_WORKER_TARGET);
    for (const stage of dockerfile.stages.filter((candidate) => candidate.name !== PYTHON_WORKER_TARGET))
      expect(stage.from, stage.name).toBe('node:20-bookworm-slim');
  });

  it('has a python-worker target for the Python worker: workers/python pip-installed, run as uid 1000 with python3 -m jobpipe_worker, a HEALTHCHECK on /healthz', () => {
    const stage = dockerfile.stages.find((candidate) => candidate.name === PYTHON_WORKER_TARGET)!;
    expect(stage, `a stage named ${PYTHON_WORKER_TARGET}`).toBeDefined();
    expect(stage.from).toMatch(/^(python:3\.\d+-slim|debian:bookworm-slim)/);
    const last = (keyword: string) => stage.instructions.filter((candidate) => candidate.keyword === keyword).at(-1)?.args;
    expect(stage.instructions.some((candidate) => candidate.keyword === 'COPY' && /^workers\/python\s/.test(candidate.args))).toBe(true);
    expect(stage.instructions.some((candidate) => candidate.keyword === 'RUN' && /pip3? install/.test(candidate.args))).toBe(true);
    // The same uid as the node image's user: the keys volume's secret files are that uid's, mode 0600.
    expect(last('USER')).toMatch(/^1000(:1000)?$/);
    expect(JSON.parse(last('ENTRYPOINT')!)).toEqual(['python3', '-m', 'jobpipe_worker']);
    expect(last('HEALTHCHECK')).toMatch(/\/healthz/);
    expect(last('HEALTHCHECK')).toContain('JOBPIPE_METRICS_PORT');
    // Every pool that runs it builds it from this target.
    for (const [name, service] of workerPools(compose).filter(([, candidate]) => isPythonWorker(candidate)))
      expect((service.build as { target?: string }).target, name).toBe(stage.name);
  });

  it('runs as the non-root user node, node itself as the entrypoint, with a HEALTHCHECK on /healthz', () => {
    expect(instruction('USER')).toBe('node');
    const entrypoint = JSON.parse(instruction('ENTRYPOINT')!) as string[];
    expect(entrypoint[0]).toBe('node');
    expect(existsSync(hostPath(entrypoint[1]!)), `${entrypoint[1]} is the CLI built here`).toBe(true);
    expect(instruction('HEALTHCHECK')).toMatch(/\/healthz/);
    expect(instruction('HEALTHCHECK')).toContain('JOBPIPE_METRICS_PORT');
    expect(instruction('WORKDIR')).toBe('/app');
  });

  it("gives each directory where the keys service (and console-tokens) mounts a volume to node, mode 0700, before switching to it, so that a fresh named volume there is node's and closed to others", () => {
    const [, keys] = keysService(compose)!;
    const userAt = runtime.instructions.findIndex((candidate) => candidate.keyword === 'USER');
    // The shell commands the image runs as root: `a && b; c`, each as its words.
    const commands = runtime.instructions
      .slice(0, userAt)
      .filter((candidate) => candidate.keyword === 'RUN')
      .flatMap((candidate) => candidate.args.split(/&&|;/))
      .map((command) => command.trim().split(/\s+/));
    /** The operands of each `<name> ...` command, options (and `-m <mode>`) left out. */
    const operands = (name: string) =>
      commands.filter((words) => words[0] === name).map((words) => words.slice(1).filter((word, i, all) => !word.startsWith('-') && all[i - 1] !== '-m'));
    const targets = [...volumeMounts(compose, keys), ...volumeMounts(compose, compose.services['console-tokens']!)].map((mount) => mount.target);
    // The keys service's role volumes are below its own: /keys/<role> as well as /keys.
    expect(targets.filter((target) => target.startsWith('/keys/')).length).toBe(Object.keys(ROLE_KEY_FILES).length);
    for (const target of targets) {
      expect(
        operands('mkdir').some((paths) => paths.includes(target)),
        `mkdir ${target}`,
      ).toBe(true);
      expect(
        operands('chown').some(([owner, ...paths]) => /^node(:node)?$/.test(owner ?? '') && paths.includes(target)),
        `chown node ${target}`,
      ).toBe(true);
      expect(
        operands('chmod').some(([mode, ...paths]) => mode === '700' && paths.includes(target)),
        `chmod 700 ${target}`,
      ).toBe(true);
    }
  });

  it('installs production dependencies only in the runtime image', () => {
    const all = dockerfile.stages.flatMap((stage) => stage.instructions.map((candidate) => ({ stage: stage.name, ...candidate })));
    const productionInstall = all.find((candidate) => candidate.keyword === 'RUN' && /npm ci --omit=dev/.test(candidate.args));
    expect(productionInstall, 'an `npm ci --omit=dev` stage').toBeDefined();
    expect(runtime.instructions.find((candidate) => candidate.keyword === 'COPY' && candidate.args.includes('node_modules'))?.args).toContain(
      `--from=${productionInstall!.stage}`,
    );
    expect(runtime.instructions.some((candidate) => candidate.keyword === 'RUN' && /npm (ci|install)/.test(candidate.args))).toBe(false);
  });

  it('.dockerignore lets in every workspace and keeps out node_modules and build output', () => {
    const ignore = readFileSync(resolve(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    const workspaces = (JSON.parse(readFileSync(resolve(repoRoot, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
    const included = ignore.filter((line) => line.startsWith('!')).map((line) => line.slice(1));
    expect(ignore[0]).toBe('*');
    for (const workspace of workspaces)
      expect(
        included.some((path) => workspace === path || workspace.startsWith(`${path}/`)),
        workspace,
      ).toBe(true);
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.base.json']) expect(included).toContain(path);
    for (const pattern of ['**/node_modules', '**/dist', '**/*.tsbuildinfo']) expect(ignore).toContain(pattern);
  });

  it('.dockerignore lets in workers/python, which the python-worker target copies, and keeps out its bytecode', () => {
    const ignore = readFileSync(resolve(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    const included = ignore.filter((line) => line.startsWith('!')).map((line) => line.slice(1));
    expect(
      included.some((path) => path === 'workers/python' || path === 'workers'),
      'a line `!workers/python` in .dockerignore (it starts with `*`: without it the COPY of workers/python fails)',
    ).toBe(true);
    expect(ignore, 'a line `**/__pycache__`').toContain('**/__pycache__');
  });
});
