/**
 * A compose rehearsal: docker-compose.yml's jobpipe services started as it defines them, as local
 * processes, with no Docker engine. What Docker would do, and what stands in for it here:
 *
 * - image: the Dockerfile's ENTRYPOINT (`node /app/cli/dist/main.js`) with /app, the image's
 *   WORKDIR, read as this checkout (the image holds the same built tree); the service's `command`
 *   after it, its `environment` as given (interpolated as Compose does, with
 *   JOBPIPE_REDIS_PASSWORD set to a password of this test's own).
 * - named volumes: a directory of the test's own each, standing in for the volume's mount point in
 *   every service that mounts it (the keys service writes the flat key set into curve-keys at
 *   /keys and each role's files into that role's volume, mounted below it at /keys/<role>, which
 *   here is a link in curve-keys' directory to the role volume's; each role reads its own volume
 *   at /keys).
 * - one-shot services (keys, `restart: "no"`): run to their exit first, and again, as a second
 *   `docker compose up` would; `service_completed_successfully` waits for exit code 0. So the
 *   batch below runs with CURVE on every socket, on the keys the keys service made.
 * - networks: every container has its own IP, so all can listen on 9400; here all share
 *   127.0.0.1. So each container port of each replica (its JOBPIPE_METRICS_PORT, the ports its
 *   *_BIND endpoints name, its published ports) gets a free local port, and every value that names
 *   `service:port` (tcp://sink:5558, redis://:pw@redis:6379) or binds `*:port` is rewritten to
 *   127.0.0.1 and that local port. The same map stands for published ports (127.0.0.1:9401 -> 9400).
 * - redis: a redis-server of the test's own (RedisServer), with the password the file interpolates.
 * - hostnames: Docker names each worker container; JOBPIPE_WORKER_ID (which defaults to the
 *   hostname) stands in for it, since all processes here share one hostname.
 * - worker pools: each pool service with `--scale` as in POOL_REPLICAS (two primes workers, one
 *   echo worker, one Python worker). The Python worker's image (worker-python, entrypoint
 *   `python3 -m jobpipe_worker`) stands here for a python3 with pyzmq running
 *   `-m jobpipe_worker <module>` with workers/python on PYTHONPATH (test/python-worker/python.ts).
 * - depends_on: services start in dependency order; `service_healthy` waits for the service's
 *   own healthcheck command (run with the same port mapping) to succeed.
 * - Prometheus: deploy/prometheus/prometheus.yml as the prometheus service mounts it, its
 *   scrape targets mapped the same way (each pool's DNS name resolves to every replica of that
 *   pool, as Docker's DNS does, so it becomes a static list of them, with the __meta_dns_name
 *   Prometheus would give them) and a 1 s scrape interval.
 *
 * One ventilator and one sink serving both pipelines (primes and echo), the workers of every pool
 * connected for their own pipeline, each role saying it runs with CURVE (the ventilator's and the
 * workers' log lines; the sink refuses a stranger's key, counted as an unknown key, and refuses the
 * workers' key on its events socket, where it admits the console's events key), a batch of each pipeline submitted as the
 * docs say (`docker compose exec ventilator jobpipe submit --pipeline <module> ... --wait`, i.e.
 * the CLI with the ventilator's environment, its module picked by --pipeline), each
 * answer checked and each batch run by its own pipeline's pools only, every scrape job of the
 * Prometheus config up for every replica with its pool label, and a compose-style stop (SIGTERM in
 * reverse dependency order) that every process survives with exit code 0 within its
 * stop_grace_period.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { curveKeyPair, Push, Subscriber } from 'zeromq';
import { freePort, RedisServer, RoleProcess, type Role } from '@jobpipe/launcher';
import { curvePublicKey } from '@jobpipe/transport';
import { Cleanup, fetchText, metricValue, runCli, waitFor, within } from './helpers.js';
import { TestPrometheus } from './prometheus.js';
import { findPython, pythonWorkerEnv } from '../python-worker/python.js';
import {
  containerPathHere,
  durationMs,
  entrypointHere,
  isPythonWorker,
  jobpipeServices,
  loadCompose,
  nestMounts,
  pipelineModules,
  repoRoot,
  roleOf,
  roleServices,
  volumeFiles,
  volumeMounts,
  workerPools,
  type ComposeService,
} from './deploy-fixtures/compose.js';

/** `--scale` for each worker pool. */
const POOL_REPLICAS: Record<string, number> = { 'worker-primes': 2, 'worker-echo': 1, 'worker-python': 1 };

/**
 * How this machine runs the Python worker image's entrypoint (`python3 -m jobpipe_worker`): a
 * python3 with pyzmq (test/python-worker/python.ts finds it) and workers/python on PYTHONPATH.
 */
function pythonWorkerHere(): { command: string[]; env: Record<string, string> } {
  return { command: [findPython(), '-m', 'jobpipe_worker'], env: pythonWorkerEnv({}) as Record<string, string> };
}

const cleanup = new Cleanup();
afterAll(() => cleanup.run(), 60_000);

interface Replica {
  service: string;
  name: string;
  /** Container port -> local port. */
  ports: Map<number, number>;
  env: Record<string, string>;
  process?: RoleProcess;
}

/** The ports a jobpipe service's container listens on: metrics, what it binds, what it publishes. */
function containerPorts(service: ComposeService): number[] {
  const env = service.environment ?? {};
  const ports = new Set<number>([Number(env.JOBPIPE_METRICS_PORT ?? 9400)]);
  for (const value of Object.values(env)) for (const match of String(value).matchAll(/^tcp:\/\/\*:(\d+)$/g)) ports.add(Number(match[1]));
  for (const spec of service.ports ?? [])
    ports.add(
      Number(
        String(spec)
          .replace(/\/\w+$/, '')
          .split(':')
          .at(-1),
      ),
    );
  return [...ports];
}

/** Services in an order that satisfies every depends_on. */
function startOrder(services: Record<string, ComposeService>, names: string[]): string[] {
  const order: string[] = [];
  const visit = (name: string, path: string[]) => {
    if (order.includes(name) || !names.includes(name)) return;
    if (path.includes(name)) throw new Error(`depends_on cycle: ${[...path, name].join(' -> ')}`);
    for (const dependency of Object.keys(services[name]!.depends_on ?? {})) visit(dependency, [...path, name]);
    order.push(name);
  };
  for (const name of names) visit(name, []);
  return order;
}

/** Runs a one-shot service's command to its exit, as its container would, with `args` already mapped; resolves with the exit code and stderr. */
function runToExit(command: string[], args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(command[0]!, [...command.slice(1), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((done) => child.once('close', (code) => done({ code, stderr })));
}

/** Runs a compose healthcheck (`["CMD", ...]`) once with the replica's ports mapped; true when it exits 0. */
function healthcheck(test: string[], replica: Replica): Promise<boolean> {
  expect(test[0]).toBe('CMD');
  const [executable, ...args] = test
    .slice(1)
    .map((arg) =>
      arg.replace(/127\.0\.0\.1:(\d+)/g, (whole, port: string) => (replica.ports.has(Number(port)) ? `127.0.0.1:${replica.ports.get(Number(port))}` : whole)),
    );
  const child = spawn(executable === 'node' ? process.execPath : executable!, args, { stdio: 'ignore' });
  return new Promise((done) => child.once('exit', (code) => done(code === 0)));
}

it('docker-compose.yml rehearsed: the worker pools run a batch of each pipeline to its answer, Prometheus scrapes every service and pool its config names, compose-style stop', async () => {
  const password = `rehearsal-${randomBytes(6).toString('hex')}`;
  const compose = loadCompose({ JOBPIPE_REDIS_PASSWORD: password });

  // redis: the service's own settings, on a redis-server of the test's.
  const redisArgs = compose.services.redis!.command!;
  expect(redisArgs[redisArgs.indexOf('--requirepass') + 1]).toBe(password);
  const redis = await RedisServer.start({ password, appendOnly: redisArgs[redisArgs.indexOf('--appendonly') + 1] === 'yes' });
  cleanup.add('redis', () => redis.stop());

  // The image's entrypoint, as a command here.
  const command = entrypointHere();

  // Named volumes: a directory each, wherever a service mounts them.
  const volumeDirs: Record<string, string> = {};
  for (const volume of Object.keys(compose.volumes ?? {})) {
    const dir = mkdtempSync(join(tmpdir(), `jobpipe-rehearsal-${volume}-`));
    cleanup.add(`volume ${volume}`, () => rmSync(dir, { recursive: true, force: true }));
    volumeDirs[volume] = dir;
  }

  // The long-running jobpipe services: the roles, and the Python worker's pool.
  const python = pythonWorkerHere();
  const services: Record<string, ComposeService> = Object.fromEntries([
    ...roleServices(compose),
    ...workerPools(compose).filter(([, service]) => isPythonWorker(service)),
  ]);
  const replicaCount = (name: string) => POOL_REPLICAS[name] ?? 1;
  expect(
    workerPools(compose)
      .map(([name]) => name)
      .sort(),
  ).toEqual(Object.keys(POOL_REPLICAS).sort());

  // One-shot services (keys) first: Compose starts them before what waits for their completion.
  // Each runs twice, as on a first `up` and the next: both must exit 0, the second changing nothing.
  const completed = new Set<string>();
  for (const [name, service] of jobpipeServices(compose).filter(([name, service]) => !services[name] && !isPythonWorker(service))) {
    expect(service.restart, `${name} is a one-shot`).toBe('no');
    const mounts = volumeMounts(compose, service);
    // A volume mounted below another (the keys service's /keys/<role> in /keys) shows there, as Docker mounts it.
    nestMounts(mounts, volumeDirs);
    const args = service.command!.map((arg) => (arg.startsWith('/') ? containerPathHere(arg, mounts, volumeDirs) : arg));
    const written = () => mounts.map(({ volume }) => [...volumeFiles(volumeDirs[volume]!)]);
    const first = await runToExit(command, args, service.environment ?? {});
    expect(first.code, `${name}: ${first.stderr}`).toBe(0);
    const after = written();
    const again = await runToExit(command, args, service.environment ?? {});
    expect(again.code, `${name} again: ${again.stderr}`).toBe(0);
    expect(written(), `${name} again keeps what it wrote`).toEqual(after);
    completed.add(name);
  }

  // Every replica with its ports.
  const replicas = new Map<string, Replica[]>();
  for (const [name, service] of Object.entries(services)) {
    const list: Replica[] = [];
    const pool = POOL_REPLICAS[name] !== undefined;
    for (let index = 1; index <= replicaCount(name); index++) {
      const ports = new Map<number, number>();
      for (const port of containerPorts(service)) ports.set(port, await freePort());
      list.push({ service: name, name: pool ? `jobpipe-${name}-${index}` : name, ports, env: {} });
    }
    replicas.set(name, list);
  }
  /** Where `service:port` is reached from here. */
  const address = (host: string, port: number): string => {
    if (host === 'redis' && port === 6379) return `127.0.0.1:${redis.port}`;
    const targets = replicas.get(host);
    if (targets?.length !== 1 || !targets[0]!.ports.has(port)) throw new Error(`nothing listens on ${host}:${port} in the compose file`);
    return `127.0.0.1:${targets[0]!.ports.get(port)}`;
  };
  const hostSettings = Object.fromEntries(
    Object.keys(process.env)
      .filter((key) => key.startsWith('JOBPIPE_'))
      .map((key) => [key, '']),
  );
  for (const list of replicas.values()) {
    for (const replica of list) {
      const env: Record<string, string> = { ...hostSettings, ...(isPythonWorker(services[replica.service]!) ? python.env : {}) };
      for (const [key, value] of Object.entries(services[replica.service]!.environment ?? {})) {
        env[key] = String(value)
          .replace(/^tcp:\/\/\*:(\d+)$/, (_, port: string) => `tcp://127.0.0.1:${replica.ports.get(Number(port))}`)
          .replace(/(\/\/|@)([A-Za-z][A-Za-z0-9_-]*):(\d+)/g, (_, before: string, host: string, port: string) => `${before}${address(host, Number(port))}`);
        if (key === 'JOBPIPE_METRICS_PORT') env[key] = String(replica.ports.get(Number(value)));
        if (value.startsWith('/')) env[key] = containerPathHere(value, volumeMounts(compose, services[replica.service]!), volumeDirs);
      }
      if (POOL_REPLICAS[replica.service] !== undefined) env.JOBPIPE_WORKER_ID = replica.name;
      replica.env = env;
    }
  }

  // Prometheus, on deploy/prometheus as the prometheus service mounts it, with the targets mapped.
  const prometheusService = compose.services.prometheus!;
  const mount = prometheusService.volumes!.map((spec) => spec.split(':')).find(([source]) => source!.startsWith('.'))!;
  const fromContainer = (path: string) => (path.startsWith(`${mount[1]}/`) ? resolve(repoRoot, mount[0]!, path.slice(mount[1]!.length + 1)) : path);
  const configPath = fromContainer(/--config\.file=(\S+)/.exec(prometheusService.command!.join(' '))![1]!);
  const config = parse(readFileSync(configPath, 'utf8')) as { global?: object; rule_files: string[]; scrape_configs: any[] };
  const expected = new Map<string, number>();
  const scrapeConfigs = config.scrape_configs.map(({ static_configs: groups = [], dns_sd_configs: dns = [], ...job }) => {
    const mapped = [
      ...groups.map((group: { targets: string[]; labels?: object }) => ({
        ...group,
        targets: group.targets.map((target) => address(target.split(':')[0]!, Number(target.split(':')[1]))),
      })),
      // Docker's DNS answers a service name with every replica's address (nothing for a pool
      // scaled to 0); Prometheus's DNS discovery labels each target with the name it asked.
      ...dns.flatMap((sd: { names: string[]; port: number }) =>
        sd.names
          .filter((name) => (replicas.get(name) ?? []).length > 0)
          .map((name) => ({
            targets: replicas.get(name)!.map((replica) => `127.0.0.1:${replica.ports.get(sd.port)}`),
            labels: { __meta_dns_name: name },
          })),
      ),
    ];
    expected.set(
      job.job_name,
      mapped.reduce((sum: number, group: { targets: string[] }) => sum + group.targets.length, 0),
    );
    return { ...job, static_configs: mapped };
  });
  const prometheusStarting = TestPrometheus.startWithConfig({
    ...config,
    global: { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: config.rule_files.map(fromContainer),
    scrape_configs: scrapeConfigs,
  });
  prometheusStarting.then(
    (prometheus) => cleanup.add('prometheus', () => prometheus.stop()),
    () => {},
  );

  // The jobpipe services, in dependency order, each once its dependencies meet their conditions.
  const order = startOrder(compose.services, Object.keys(services));
  const healthy = new Map<string, Promise<void>>();
  for (const name of order) {
    for (const [dependency, { condition }] of Object.entries(services[name]!.depends_on ?? {})) {
      if (dependency === 'redis') continue; // up and answering PING already
      if (condition === 'service_healthy') await healthy.get(dependency);
      if (condition === 'service_completed_successfully') expect(completed.has(dependency), `${name} waits for ${dependency} to complete`).toBe(true);
    }
    const service = services[name]!;
    const isPython = isPythonWorker(service);
    if (!isPython) expect(service.command, name).toEqual([name.startsWith('worker-') ? 'worker' : name]);
    for (const replica of replicas.get(name)!) {
      const metricsPort = replica.ports.get(Number(service.environment?.JOBPIPE_METRICS_PORT ?? 9400))!;
      // RoleProcess runs `<command> <role>`: for the Python worker, the image's entrypoint and its command (the module).
      replica.process = cleanup.role(
        isPython
          ? new RoleProcess({ role: service.command![0] as Role, command: python.command, env: replica.env, metricsPort, name: replica.name })
          : new RoleProcess({ role: roleOf(service) as Role, command, env: replica.env, metricsPort, name: replica.name }),
      );
    }
    healthy.set(
      name,
      // Docker runs the healthcheck every `interval`; here: once /readyz answers (RoleProcess polls
      // it in-process, cheaper than a process per poll), the healthcheck must pass.
      Promise.all(
        replicas.get(name)!.map(async (replica) => {
          await replica.process!.ready;
          await waitFor(`${replica.name}'s compose healthcheck`, () => healthcheck(service.healthcheck!.test, replica), isPython ? 20_000 : 10_000, 200);
        }),
      ).then(() => {}),
    );
  }
  await Promise.all(healthy.values());
  const ventilator = replicas.get('ventilator')![0]!;
  const poolsOf = (pipeline: string) => (pipeline === 'echo' ? ['worker-echo'] : ['worker-primes', 'worker-python']);
  const workersOf = (pipeline: string) => poolsOf(pipeline).flatMap((pool) => replicas.get(pool) ?? []);
  // One ventilator serves both pipelines: each counts the workers of its own pools only.
  for (const pipeline of ['primes', 'echo'])
    await waitFor(
      `${workersOf(pipeline).length} workers of ${pipeline} connected to the ventilator`,
      async () => metricValue(await fetchText(ventilator.process!.url('/metrics')), 'jobpipe_workers_connected', { pipeline }) === workersOf(pipeline).length,
      20_000,
      100,
    );

  // CURVE, on the keys service's keys: the ventilator and every TypeScript worker say so when they start...
  expect(ventilator.process!.logs('ventilator started').map((line) => line.curve)).toEqual([true]);
  for (const worker of ['worker-primes', 'worker-echo'].flatMap((pool) => replicas.get(pool)!))
    expect(
      worker.process!.logs('ready').map((line) => line.curve),
      worker.name,
    ).toEqual([true]);
  // ...and the sink, which logs no such field, refuses a client whose key is not on its allow-list,
  // counted as that (reason unknown_key: metricValue sums the samples whose labels include those
  // asked for, so { role: 'sink' } alone would count refusals of any reason).
  const sink = replicas.get('sink')![0]!;
  const stranger = curveKeyPair();
  const workerReplica = replicas.get('worker-primes')![0]!;
  const serverKey = readFileSync(workerReplica.env.JOBPIPE_CURVE_SERVER_KEY_FILE!, 'utf8').trim();
  const probe = cleanup.socket(new Push({ linger: 0, curveServerKey: serverKey, curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey }));
  probe.connect(sink.env.JOBPIPE_RESULTS_BIND!);
  await waitFor(
    "the sink to refuse a stranger's key",
    async () =>
      (metricValue(await fetchText(sink.process!.url('/metrics')), 'jobpipe_handshakes_refused_total', { role: 'sink', reason: 'unknown_key' }) ?? 0) >= 1,
    10_000,
    100,
  );
  probe.close();
  // The sink's events socket: the workers' key (client-1, from a worker's volume) is refused there,
  // the events key (events.secret, from the console's volume, as the compose file gives it) admitted.
  const handshake = async (secretKey: string, on: 'events' | 'results'): Promise<'admitted' | 'refused'> => {
    const options = { linger: 0, curveServerKey: serverKey, curvePublicKey: curvePublicKey(secretKey), curveSecretKey: secretKey };
    // The socket type that fits the sink's: a subscriber to its events, a pusher to its results.
    const socket = cleanup.socket(on === 'events' ? new Subscriber(options) : new Push(options));
    const endpoint = on === 'events' ? sink.env.JOBPIPE_EVENTS_BIND! : sink.env.JOBPIPE_RESULTS_BIND!;
    const outcome = new Promise<'admitted' | 'refused'>((done) => {
      socket.events.on('handshake', () => done('admitted'));
      socket.events.on('handshake:error:auth', () => done('refused'));
    });
    socket.connect(endpoint);
    try {
      return await within(`a handshake with ${endpoint}`, 10_000, outcome);
    } finally {
      socket.close();
    }
  };
  const workerSecret = readFileSync(workerReplica.env.JOBPIPE_CURVE_SECRET_FILE!, 'utf8').trim();
  const consoleService = compose.services.console!;
  const eventsSecret = readFileSync(
    containerPathHere(consoleService.environment!.JOBPIPE_CURVE_SECRET_FILE!, volumeMounts(compose, consoleService), volumeDirs),
    'utf8',
  ).trim();
  expect(await handshake(workerSecret, 'events'), "the workers' key on the sink's events").toBe('refused');
  expect(await handshake(eventsSecret, 'events'), "the console's events key on the sink's events").toBe('admitted');
  expect(await handshake(eventsSecret, 'results'), "the console's events key on the sink's results").toBe('refused');

  // The published ports answer (Docker forwards host 9401 to the ventilator's 9400, and so on).
  for (const [name, service] of Object.entries(services)) {
    for (const spec of service.ports ?? []) {
      const containerPort = Number(String(spec).split(':').at(-1));
      expect((await fetch(`http://${address(name, containerPort)}/healthz`)).status, `${name} published ${spec}`).toBe(200);
    }
  }

  // A batch of each pipeline, submitted the way docs/deployment.md shows:
  // `docker compose exec ventilator jobpipe submit --pipeline <its module> ...`.
  const moduleOf = (pipeline: string) => pipelineModules(ventilator.env.JOBPIPE_PIPELINE!).find((path) => path.includes(`/examples/${pipeline}/`))!;
  // Bounded, so a batch that never ends fails here with what every role logged last.
  const roleLogs = () =>
    [...replicas.values()]
      .flat()
      .map((replica) => `--- ${replica.name}\n${(replica.process?.lines ?? []).slice(-15).join('\n')}`)
      .join('\n');
  const submitAndWait = async (pipeline: string, input: object) => {
    const submit = runCli(['submit', '--pipeline', moduleOf(pipeline), '--input', JSON.stringify(input), '--wait', '--json'], ventilator.env, cleanup);
    const { code, stdout, stderr } = await within(`submit --wait (${pipeline})`, 50_000, submit.exited).catch((error: Error) => {
      throw new Error(`${error.message}; submit printed: ${submit.stdout} ${submit.stderr}\n${roleLogs()}`);
    });
    expect(code, stderr).toBe(0);
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as { jobs: number; failed: number; answer: any; perWorker: Record<string, number> };
  };
  const [primes, echo] = await Promise.all([submitAndWait('primes', { limit: 2_000_000, chunk: 50_000 }), submitAndWait('echo', { jobs: 200 })]);
  expect(primes.jobs).toBe(40);
  expect(primes.failed).toBe(0);
  expect(primes.answer.primes).toBe(148_933); // pi(2,000,000)
  expect(echo.jobs).toBe(200);
  expect(echo.failed).toBe(0);
  expect(echo.answer.count).toBe(200);
  // Each batch ran on its own pipeline's pools only.
  const names = (pipeline: string) => workersOf(pipeline).map((replica) => replica.name);
  for (const worker of Object.keys(primes.perWorker)) expect(names('primes'), `primes job on ${worker}`).toContain(worker);
  for (const worker of Object.keys(echo.perWorker)) expect(names('echo'), `echo job on ${worker}`).toContain(worker);

  // Prometheus scrapes every job of the config, each replica, with the labels the config gives.
  const prometheus = await prometheusStarting;
  await waitFor(
    'every scrape target up',
    async () => {
      const up = await prometheus.query('up');
      return [...expected].every(([job, count]) => up.filter((sample) => sample.metric.job === job && sample.value[1] === '1').length === count)
        ? true
        : undefined;
    },
    20_000,
    200,
  );
  const up = await prometheus.query('up');
  for (const [job, count] of expected) {
    const samples = up.filter((sample) => sample.metric.job === job);
    expect(samples, job).toHaveLength(count);
    // A job with no target here (the console: the rehearsal does not run it) has no labels to check.
    if (count > 0) expect(new Set(samples.map((sample) => sample.metric.role)), `${job}'s role label`).toEqual(new Set([job.replace(/^jobpipe-/, '')]));
  }
  const workerReplicas = Object.keys(POOL_REPLICAS).flatMap((pool) => replicas.get(pool) ?? []);
  expect([...expected.values()].reduce((a, b) => a + b)).toBe(2 + workerReplicas.length);
  // Every worker with its pool's label, as on Kubernetes.
  const pools = up
    .filter((sample) => sample.metric.job === 'jobpipe-worker')
    .map((sample) => sample.metric.pool)
    .sort();
  expect(pools).toEqual(workerReplicas.map((replica) => replica.service.replace(/^worker-/, '')).sort());
  const rules = (await (await fetch(`http://127.0.0.1:${prometheus.port}/api/v1/rules`)).json()) as { data: { groups: { name: string }[] } };
  expect(rules.data.groups.map((group) => group.name).sort()).toEqual(['jobpipe.alerts', 'jobpipe.recording']);

  // `docker compose down`/`stop`: SIGTERM in reverse dependency order, SIGKILL after stop_grace_period.
  for (const name of [...order].reverse()) {
    const grace = durationMs(services[name]!.stop_grace_period ?? '10s');
    const codes = await Promise.all(replicas.get(name)!.map((replica) => replica.process!.stop('SIGTERM', grace)));
    expect(codes, `${name} exit codes after SIGTERM`).toEqual(codes.map(() => 0));
  }
}, 90_000);
