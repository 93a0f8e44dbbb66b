import { readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { databaseLocation } from '../../src/app/local-adapters.js';
import { loadSettings } from '../../src/config/load-settings.js';
import { settingsFromEnv } from '../../src/config/worker-settings.js';
import { parseDurationMs } from '../../src/domain/duration.js';
import { projectRoot } from '../support/paths.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

afterAll(removeTempDirs);

// `action-worker serve` as the deployment files run it beside the workers (docker/compose.yaml here; the
// Kubernetes manifests below). The files themselves are validated against their schemas in
// deploy-manifests.test.ts, every profile and every manifest.

interface ComposeService {
  image?: string;
  command?: string[];
  profiles?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  networks?: Record<string, { aliases?: string[] } | null> | string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  group_add?: string[];
}

describe('docker/compose.yaml, for the API server', () => {
  const compose = parse(readFileSync(path.join(projectRoot, 'docker', 'compose.yaml'), 'utf8'), {
    merge: true,
  }) as {
    services: Record<string, ComposeService>;
    networks?: Record<string, { name?: string } | null>;
  };
  const variants = [
    { profile: 'host-engine', worker: 'worker' },
    { profile: 'dind', worker: 'worker-dind' },
  ];

  /** `${NAME:-default}` and `${NAME}` as Compose interpolates them from `env`. */
  function interpolate(value: string, env: Record<string, string>): string {
    return value.replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_, name: string, fallback: string | undefined) =>
      env[name] === undefined || env[name] === '' ? (fallback ?? '') : env[name],
    );
  }
  const environmentOf = (service: ComposeService | undefined, env: Record<string, string> = {}) =>
    Object.fromEntries(
      Object.entries(service?.environment ?? {}).map(([key, value]) => [key, interpolate(value, env)]),
    );
  const settingsOf = (service: ComposeService | undefined, env: Record<string, string> = {}) =>
    settingsFromEnv(environmentOf(service, env));
  /** The services a profile starts: those without profiles and those of the profile. */
  const servicesOf = (profile: string) =>
    Object.entries(compose.services).filter(
      ([, service]) => service.profiles === undefined || service.profiles.includes(profile),
    );
  const serveOf = (profile: string): [string, ComposeService] => {
    const serving = servicesOf(profile).filter(([, service]) => service.command?.[0] === 'serve');
    expect(
      serving.map(([name]) => name),
      profile,
    ).toHaveLength(1);
    return serving[0]!;
  };
  /** The networks a service joins, with their aliases (no `networks`: the default one). */
  const networksOf = (service: ComposeService | undefined): Map<string, string[]> => {
    const networks = service?.networks ?? ['default'];
    if (Array.isArray(networks)) return new Map(networks.map((name) => [name, []]));
    return new Map(Object.entries(networks).map(([name, entry]) => [name, entry?.aliases ?? []]));
  };

  it('runs one serve in each variant, from the workers’ image, on their store and Redis', () => {
    for (const { profile, worker: workerName } of variants) {
      const [, serve] = serveOf(profile);
      const worker = compose.services[workerName];
      expect(serve.image).toBe(worker?.image);
      const serveSettings = settingsOf(serve);
      const workerSettings = settingsOf(worker);
      expect(serveSettings.redis).toEqual(workerSettings.redis);
      expect(serveSettings.storeDir).toBe(workerSettings.storeDir);
      // The store directory comes from the same volume or host directory.
      const mountOf = (service: ComposeService | undefined, dir: string) =>
        service?.volumes?.find((volume) => dir.startsWith(`${volume.split(':')[1] ?? '(none)'}/`));
      expect(mountOf(serve, serveSettings.storeDir), profile).toBeDefined();
      expect(mountOf(serve, serveSettings.storeDir)).toBe(mountOf(worker, workerSettings.storeDir));
      // The same metadata database: SQLite by default, PostgreSQL with the postgres profile's variables.
      expect(databaseLocation(serveSettings)).toEqual(databaseLocation(workerSettings));
      const postgres = {
        ACTION_WORKER_STORE_DATABASE: 'postgres://action_worker@postgres:5432/action_worker',
        ACTION_WORKER_POSTGRES_PASSWORD: 'pw',
      };
      expect(databaseLocation(settingsOf(serve, postgres))).toEqual(
        databaseLocation(settingsOf(worker, postgres)),
      );
      expect(environmentOf(serve, postgres).PGPASSWORD).toBe('pw');
      expect(serve.depends_on?.redis?.condition).toBe('service_healthy');
      // It needs no engine: neither the socket nor its group, nor a DOCKER_HOST.
      expect(serve.volumes?.join(' ')).not.toContain('docker.sock');
      expect(serve.group_add).toBeUndefined();
      expect(serve.environment?.DOCKER_HOST).toBeUndefined();
    }
  });

  it('publishes the API on the host’s loopback only by default, checks /healthz, and stops within its grace', () => {
    for (const { profile } of variants) {
      const [name, serve] = serveOf(profile);
      const settings = settingsOf(serve);
      // The published port reaches the container's interface, not its loopback (the setting's default).
      expect(settings.api.host).toBe('0.0.0.0');
      expect(serve.ports?.map((port) => interpolate(port, {}))).toEqual([
        `127.0.0.1:${String(settings.api.port)}:${String(settings.api.port)}`,
      ]);
      expect(
        serve.ports?.map((port) => interpolate(port, { ACTION_WORKER_API_PUBLISH: '0.0.0.0:80' })),
      ).toEqual([`0.0.0.0:80:${String(settings.api.port)}`]);
      expect(serve.healthcheck?.test.join(' '), name).toContain(
        `http://127.0.0.1:${String(settings.api.port)}/healthz`,
      );
      // Compose's SIGKILL comes after the server's own shutdown grace.
      expect(parseDurationMs(serve.stop_grace_period ?? '10s')).toBeGreaterThan(settings.api.shutdownGraceMs);
      // The signing key from the environment only, never a literal in the file.
      expect(serve.environment?.ACTION_WORKER_API_SIGNING_SECRET).toBe(
        '${ACTION_WORKER_API_SIGNING_SECRET:-}',
      );
    }
  });

  it('gives actions the API by name on a network of their own, which Redis and PostgreSQL are not on', () => {
    // With the host's engine, the worker starts action containers on the actions network.
    const worker = compose.services.worker;
    const settings = settingsOf(worker);
    const actionsNetwork = Object.entries(compose.networks ?? {}).find(
      ([, network]) => network?.name === settings.container.networkMode,
    )?.[0];
    expect(actionsNetwork, settings.container.networkMode).toBeDefined();
    // The endpoint the actions get names the serve service on that network, at the port it listens on.
    const endpoint = new URL(settings.roboto.serviceEndpoint);
    const [, serve] = serveOf('host-engine');
    expect(networksOf(serve).get(actionsNetwork!)).toContain(endpoint.hostname);
    expect(Number(endpoint.port)).toBe(settingsOf(serve).api.port);
    // Nothing else is on it: not Redis (the queue and every record), PostgreSQL, the workers or the engine.
    for (const [name, service] of Object.entries(compose.services)) {
      if (service === serve) continue;
      expect([...networksOf(service).keys()], name).not.toContain(actionsNetwork);
    }
    // Docker-in-docker: the same endpoint setting, and `serve` is the API server's name there too.
    const dindSettings = settingsOf(compose.services['worker-dind']);
    expect(dindSettings.roboto.serviceEndpoint).toBe(settings.roboto.serviceEndpoint);
    const [, serveDind] = serveOf('dind');
    expect([...networksOf(serveDind).values()].flat()).toContain(endpoint.hostname);
  });

  it('keeps Redis durable: the append-only file on a volume, and no eviction', () => {
    const redis = compose.services.redis;
    const command = redis?.command ?? [];
    expect(command[command.indexOf('--appendonly') + 1]).toBe('yes');
    expect(command[command.indexOf('--maxmemory-policy') + 1]).toBe('noeviction');
    expect(redis?.volumes).toContain('redis-data:/data');
  });
});

describe('the Kubernetes manifests, for the API server', () => {
  const K8S_DIR = path.join(projectRoot, 'deploy', 'kubernetes');
  interface EnvEntry {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string } };
  }
  interface Container {
    name: string;
    args?: string[];
    env?: EnvEntry[];
    ports?: { name: string; containerPort: number }[];
    readinessProbe?: { httpGet?: { path: string; port: string } };
    livenessProbe?: { httpGet?: { path: string; port: string } };
    lifecycle?: { preStop?: { exec?: { command: string[] } } };
    resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
    securityContext?: Record<string, unknown>;
    volumeMounts?: { name: string; mountPath: string }[];
  }
  interface PodSpec {
    terminationGracePeriodSeconds?: number;
    securityContext?: { fsGroup?: number };
    containers: Container[];
    initContainers?: Container[];
    volumes?: {
      name: string;
      persistentVolumeClaim?: { claimName: string };
      configMap?: { name: string };
    }[];
  }
  interface Manifest {
    kind: string;
    metadata: { name: string };
    spec?: {
      replicas?: number;
      selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
      template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
      ports?: { name: string; port: number; targetPort: string }[];
      minAvailable?: number;
    };
    stringData?: Record<string, string>;
    data?: Record<string, string>;
  }
  const files = readdirSync(K8S_DIR).filter(
    (file) => file.endsWith('.yaml') && file !== 'kustomization.yaml',
  );
  const manifests = files.flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(K8S_DIR, file), 'utf8')).map((document) => ({
      file,
      manifest: document.toJS() as Manifest,
    })),
  );
  const find = (kind: string, name: string): Manifest => {
    const found = manifests.find(({ manifest }) => manifest.kind === kind && manifest.metadata.name === name);
    if (!found) throw new Error(`no ${kind} ${name} in deploy/kubernetes`);
    return found.manifest;
  };
  const podOf = (name: string) => find('Deployment', name).spec?.template?.spec as PodSpec;
  const labelsOf = (name: string) => find('Deployment', name).spec?.template?.metadata.labels ?? {};
  const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(selector).every(([key, value]) => labels[key] === value);
  const envOf = (container: Container) => new Map((container.env ?? []).map((entry) => [entry.name, entry]));
  const serveContainer = () => podOf('action-worker-api').containers.find((c) => c.args?.[0] === 'serve')!;
  const workerContainer = () => podOf('action-worker').containers.find((c) => c.name === 'worker')!;

  /** The settings a container runs with: the ConfigMap's worker.yaml, then its literal environment. */
  async function settingsOf(container: Container) {
    const configMap = find('ConfigMap', 'action-worker-config');
    const file = path.join(await tempDir('k8s-serve-config'), 'worker.yaml');
    await writeFile(file, configMap.data?.['worker.yaml'] ?? '');
    const env = Object.fromEntries(
      (container.env ?? []).flatMap((entry) =>
        entry.value === undefined || entry.name === 'ACTION_WORKER_CONFIG' ? [] : [[entry.name, entry.value]],
      ),
    );
    return loadSettings({ configFile: file, env }).settings;
  }

  it('run serve as a Deployment of two replicas behind a Service, apart from the workers', async () => {
    const deployment = find('Deployment', 'action-worker-api');
    expect(deployment.spec?.replicas).toBe(2);
    const serve = serveContainer();
    expect(serve).toBeDefined();
    const settings = await settingsOf(serve);
    // The kubelet and the Service come in on the pod IP.
    expect(settings.api.host).toBe('0.0.0.0');
    expect(serve.ports).toEqual([{ name: 'http', containerPort: settings.api.port }]);
    expect(serve.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(serve.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(serve.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(serve.resources?.limits).toMatchObject({ memory: expect.any(String) });
    // Locked down like the worker: non-root, read-only root filesystem, no capabilities.
    expect(serve.securityContext).toEqual(workerContainer().securityContext);
    // One container, no engine beside it: nothing privileged in the API's pods.
    const pod = podOf('action-worker-api');
    expect(pod.containers).toHaveLength(1);
    expect(pod.initContainers ?? []).toEqual([]);
    expect(envOf(serve).has('DOCKER_HOST')).toBe(false);
    // The pod outlives the pre-stop pause and the server's shutdown grace.
    const pause = Number(
      /setTimeout\(\(\) => \{\}, (\d+)\)/.exec(serve.lifecycle?.preStop?.exec?.command.join(' ') ?? '')?.[1],
    );
    expect(pause).toBeGreaterThan(0);
    expect((podOf('action-worker-api').terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThan(
      pause + settings.api.shutdownGraceMs,
    );

    // The Service and the disruption budget select the API's pods and no worker; the workers' selectors
    // (their Deployment's, their metrics Service's) do not select the API's pods.
    const service = find('Service', 'action-worker-api');
    const serveLabels = labelsOf('action-worker-api');
    const workerLabels = labelsOf('action-worker');
    for (const selector of [
      service.spec?.selector ?? {},
      deployment.spec?.selector?.matchLabels ?? {},
      find('PodDisruptionBudget', 'action-worker-api').spec?.selector?.matchLabels ?? {},
    ]) {
      expect(Object.keys(selector).length).toBeGreaterThan(0);
      expect(matches(selector, serveLabels)).toBe(true);
      expect(matches(selector, workerLabels)).toBe(false);
    }
    for (const selector of [
      find('Deployment', 'action-worker').spec?.selector?.matchLabels ?? {},
      find('Service', 'action-worker-metrics').spec?.selector ?? {},
    ]) {
      expect(matches(selector, serveLabels)).toBe(false);
    }
    expect(service.spec?.ports?.map((port) => port.targetPort)).toEqual(['http']);
    expect(find('PodDisruptionBudget', 'action-worker-api').spec?.minAvailable).toBeLessThan(2);
    // kustomize applies it.
    const kustomization = parse(readFileSync(path.join(K8S_DIR, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    const file = manifests.find(({ manifest }) => manifest === deployment)?.file ?? '(none)';
    expect(kustomization.resources).toContain(file);
  });

  it("point the workers' service endpoint at the Service, by its name and port", async () => {
    const settings = await settingsOf(workerContainer());
    const endpoint = new URL(settings.roboto.serviceEndpoint);
    const service = find('Service', 'action-worker-api');
    expect(endpoint.protocol).toBe('http:');
    expect(endpoint.hostname).toBe(service.metadata.name);
    const port = service.spec?.ports?.find((candidate) => candidate.port === Number(endpoint.port));
    expect(port, endpoint.href).toBeDefined();
    // …which forwards to the port serve listens on.
    const serve = serveContainer();
    expect(serve.ports?.find((candidate) => candidate.name === port?.targetPort)?.containerPort).toBe(
      (await settingsOf(serve)).api.port,
    );
  });

  it("give serve the workers' Redis, metadata database and store volume", async () => {
    const serve = envOf(serveContainer());
    const worker = envOf(workerContainer());
    for (const name of ['ACTION_WORKER_REDIS_URL', 'ACTION_WORKER_STORE_DATABASE', 'PGPASSWORD']) {
      expect(serve.get(name)?.value, name).toBeUndefined();
      expect(serve.get(name)?.valueFrom?.secretKeyRef, name).toBeDefined();
      expect(serve.get(name)?.valueFrom, name).toEqual(worker.get(name)?.valueFrom);
    }
    // The workers' configuration file (key prefix, queue, store directory), where both read it.
    const configOf = (pod: PodSpec, container: Container) => {
      const file = envOf(container).get('ACTION_WORKER_CONFIG')?.value ?? '(none)';
      const mount = container.volumeMounts?.find((candidate) => candidate.mountPath === file);
      return pod.volumes?.find((volume) => volume.name === mount?.name)?.configMap?.name;
    };
    expect(configOf(podOf('action-worker-api'), serveContainer())).toBe('action-worker-config');
    expect(configOf(podOf('action-worker'), workerContainer())).toBe('action-worker-config');
    // The store directory is on the workers' store claim.
    const settings = await settingsOf(serveContainer());
    const claimOf = (pod: PodSpec, container: Container) => {
      const mount = container.volumeMounts?.find(
        (candidate) =>
          settings.storeDir === candidate.mountPath ||
          settings.storeDir.startsWith(`${candidate.mountPath}/`),
      );
      return pod.volumes?.find((volume) => volume.name === mount?.name)?.persistentVolumeClaim?.claimName;
    };
    expect(claimOf(podOf('action-worker-api'), serveContainer())).toBe('action-worker-store');
    expect(claimOf(podOf('action-worker'), workerContainer())).toBe('action-worker-store');
    expect(podOf('action-worker-api').securityContext?.fsGroup).toBe(1000);
  });

  it('take the signing key from a Secret only, the same one for every replica', () => {
    const entry = envOf(serveContainer()).get('ACTION_WORKER_API_SIGNING_SECRET');
    expect(entry?.value).toBeUndefined();
    expect(entry?.valueFrom).toEqual({ secretKeyRef: { name: 'action-worker-api', key: 'signing-secret' } });
    const secret = find('Secret', 'action-worker-api').stringData?.['signing-secret'] ?? '';
    expect(secret.length).toBeGreaterThanOrEqual(16);
    // Written once: no other file holds it, and no container anywhere has a secret as a literal.
    for (const file of files.filter((name) => name !== 'secret.yaml')) {
      expect(readFileSync(path.join(K8S_DIR, file), 'utf8'), file).not.toContain(secret);
    }
    for (const { manifest } of manifests) {
      const pod = manifest.spec?.template?.spec;
      for (const container of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
        for (const variable of container.env ?? []) {
          if (/SECRET|PASSWORD|STORE_DATABASE|REDIS_URL/.test(variable.name)) {
            expect(
              variable.value,
              `${manifest.metadata.name}/${container.name} ${variable.name}`,
            ).toBeUndefined();
          }
        }
      }
    }
    // Not in the ConfigMap's worker.yaml either.
    expect(find('ConfigMap', 'action-worker-config').data?.['worker.yaml']).not.toMatch(/signing/i);
  });
});

describe('the Kubernetes manifests, for Redis', () => {
  const K8S_DIR = path.join(projectRoot, 'deploy', 'kubernetes');
  interface EnvEntry {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string } };
  }
  interface Container {
    name: string;
    args?: string[];
    env?: EnvEntry[];
    readinessProbe?: { exec?: { command: string[] } };
  }
  interface Manifest {
    kind: string;
    metadata: { name: string };
    spec?: {
      template?: { spec: { containers: Container[] } };
      secretTargetRef?: { parameter: string; name: string; key: string }[];
    };
    stringData?: Record<string, string>;
  }
  const manifests = readdirSync(K8S_DIR)
    .filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
    .flatMap((file) =>
      parseAllDocuments(readFileSync(path.join(K8S_DIR, file), 'utf8')).map(
        (document) => document.toJS() as Manifest,
      ),
    );
  const find = (kind: string, name: string): Manifest => {
    const found = manifests.find((manifest) => manifest.kind === kind && manifest.metadata.name === name);
    if (!found) throw new Error(`no ${kind} ${name} in deploy/kubernetes`);
    return found;
  };
  const secretRef = (key: string) => ({ secretKeyRef: { name: 'action-worker-redis', key } });

  it('require the Secret’s password, which the workers’, the API’s and KEDA’s connections carry', () => {
    // Action containers reach the Services the worker pods reach: Redis must not answer them.
    const redis = find('StatefulSet', 'action-worker-redis').spec?.template?.spec.containers[0] as Container;
    const args = redis.args ?? [];
    const variable = /^\$\((\w+)\)$/.exec(args[args.indexOf('--requirepass') + 1] ?? '')?.[1];
    expect(variable, args.join(' ')).toBeDefined();
    const env = new Map((redis.env ?? []).map((entry) => [entry.name, entry]));
    expect(env.get(variable ?? '')?.valueFrom).toEqual(secretRef('password'));
    // The probe authenticates (redis-cli answers NOAUTH, and exits 0, without it).
    expect(redis.readinessProbe?.exec?.command.slice(0, 2)).toEqual(['redis-cli', 'ping']);
    expect(env.get('REDISCLI_AUTH')?.valueFrom).toEqual(secretRef('password'));

    const secret = find('Secret', 'action-worker-redis').stringData ?? {};
    const password = secret.password ?? '';
    expect(password.length).toBeGreaterThanOrEqual(16);
    const url = new URL(secret.url ?? '');
    expect(decodeURIComponent(url.password)).toBe(password);
    expect(url.hostname).toBe(find('Service', 'action-worker-redis').metadata.name);
    expect(secret.address).toBe(`${url.hostname}:${url.port || '6379'}`);
    // The workers and the API server connect with the Secret's URL, KEDA with its password.
    for (const deployment of ['action-worker', 'action-worker-api']) {
      const containers = find('Deployment', deployment).spec?.template?.spec.containers ?? [];
      const main = containers.find(
        (container) => container.args?.[0] === 'daemon' || container.args?.[0] === 'serve',
      );
      const entry = (main?.env ?? []).find((candidate) => candidate.name === 'ACTION_WORKER_REDIS_URL');
      expect(entry?.valueFrom, deployment).toEqual(secretRef('url'));
    }
    expect(find('TriggerAuthentication', 'action-worker-redis').spec?.secretTargetRef).toContainEqual({
      parameter: 'password',
      ...secretRef('password').secretKeyRef,
    });
    // Written in the Secret only.
    for (const file of readdirSync(K8S_DIR).filter((name) => name !== 'secret.yaml')) {
      expect(readFileSync(path.join(K8S_DIR, file), 'utf8'), file).not.toContain(password);
    }
  });
});
