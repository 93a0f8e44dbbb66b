import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { DaemonProcess, useTestQueue } from '../support/daemon-harness.js';
import { passwordProtectedDatabase } from '../support/password-postgres.js';
import { cliPath, projectRoot } from '../support/paths.js';
import { eventually } from '../support/harness.js';
import { PrivatePostgres } from '../support/private-postgres.js';
import { tempDir } from '../support/temp-dirs.js';

// `action-worker serve` as deploy/kubernetes/api.yaml (and docker/compose.yaml with the postgres profile)
// wire it: the workers' metadata database as a URL without password and the password as PGPASSWORD, both
// from the workers' Secret. It must then share the workers' datasets, and a replica whose database refuses
// it must fail its start-up before it listens (Kubernetes restarts it and never counts it ready), without
// the password in its output.

const PASSWORD = 'serve-deploy-s3cret';

interface EnvEntry {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Container {
  args?: string[];
  env?: EnvEntry[];
}

/** A free port on loopback. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * The database part of serve's environment in deploy/kubernetes/api.yaml, with the action-worker-postgres
 * Secret holding `url` and `password`.
 */
function kubernetesEnv(url: string, password: string): Record<string, string> {
  const secret: Record<string, string> = { url, password };
  const file = readFileSync(path.join(projectRoot, 'deploy', 'kubernetes', 'api.yaml'), 'utf8');
  const deployment = parseAllDocuments(file)
    .map(
      (document) =>
        document.toJS() as {
          kind: string;
          spec: { template: { spec: { containers: { args?: string[]; env: EnvEntry[] }[] } } };
        },
    )
    .find((manifest) => manifest.kind === 'Deployment');
  const serve = deployment?.spec.template.spec.containers.find(
    (container) => container.args?.[0] === 'serve',
  );
  return Object.fromEntries(
    (serve?.env ?? []).flatMap((entry) => {
      const ref = entry.valueFrom?.secretKeyRef;
      return ref?.name === 'action-worker-postgres' ? [[entry.name, secret[ref.key] ?? '(no such key)']] : [];
    }),
  );
}

/** The database part of the serve service's environment in docker/compose.yaml, with the postgres profile's variables. */
function composeEnv(url: string, password: string): Record<string, string> {
  const variables: Record<string, string> = {
    ACTION_WORKER_STORE_DATABASE: url,
    ACTION_WORKER_POSTGRES_PASSWORD: password,
  };
  const compose = parse(readFileSync(path.join(projectRoot, 'docker', 'compose.yaml'), 'utf8'), {
    merge: true,
  }) as {
    services: Record<string, { environment: Record<string, string> }>;
  };
  return Object.fromEntries(
    Object.entries(compose.services.serve?.environment ?? {}).flatMap(([name, value]) => {
      const reference = /^\$\{(\w+):-\}$/.exec(value)?.[1];
      return reference !== undefined && reference in variables ? [[name, variables[reference] ?? '']] : [];
    }),
  );
}

let server: PrivatePostgres;
beforeAll(async () => {
  server = await PrivatePostgres.create();
});
afterAll(async () => {
  await server.stop();
});

describe('serve, as the deployment files wire it to the metadata database', () => {
  const queue = useTestQueue();

  /** `serve` of the built CLI on a free loopback port, with the queue's environment and `env` over it. */
  function startServe(env: Record<string, string>): DaemonProcess {
    return new DaemonProcess(
      execa('node', [cliPath, 'serve', '--host', '127.0.0.1', '--port', '0'], {
        cwd: projectRoot,
        env: { ...queue().env, ...env },
        extendEnv: true,
        reject: false,
        stdout: 'ignore',
        forceKillAfterDelay: false,
      }),
    );
  }

  it.each([
    ['deploy/kubernetes/api.yaml', kubernetesEnv],
    ['docker/compose.yaml', composeEnv],
  ])(
    "serves the workers' datasets from PostgreSQL as %s gives it the database, and stops on SIGTERM",
    async (_file, wiring) => {
      const url = await passwordProtectedDatabase(server, PASSWORD);
      // The workers' CLI reaches the database as the workers do (URL + PGPASSWORD); serve as its file says.
      const env = { ACTION_WORKER_STORE_DATABASE: url, PGPASSWORD: PASSWORD };
      // A dataset the workers' side wrote (the CLI with the workers' settings), in an org with a token.
      const org = await queue().cli(['orgs', 'create', '--name', 'deploy'], env);
      expect(org.exitCode, org.stderr).toBe(0);
      const orgId = org.stdout.trim();
      const token = (await queue().cli(['tokens', 'create', '--org', orgId], env)).stdout.trim();
      const created = await queue().cli(['datasets', 'create', '--org-id', orgId], env);
      expect(created.exitCode, created.stderr).toBe(0);
      const datasetId = created.stdout.trim();

      const serve = startServe(wiring(url, PASSWORD));
      try {
        const base = String((await serve.waitForLog('api.listening')).url);
        const ready = await fetch(`${base}/readyz`);
        expect(ready.status, await ready.text()).toBe(200);
        const got = await fetch(`${base}/v1/datasets/${datasetId}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        expect(got.status).toBe(200);
        expect(((await got.json()) as { data: { dataset_id: string } }).data.dataset_id).toBe(datasetId);
      } finally {
        serve.kill('SIGTERM');
      }
      expect((await serve.exited).exitCode, serve.dump()).toBe(0);
      expect(serve.dump()).not.toContain(PASSWORD);
    },
  );

  it('fails its start-up before it listens when the database refuses the password, without printing it', async () => {
    const url = await passwordProtectedDatabase(server, PASSWORD);
    const serve = startServe(kubernetesEnv(url, 'not-the-password'));
    const exited = await serve.exited;
    expect(exited.exitCode, serve.dump()).not.toBe(0);
    expect(serve.dump()).toContain('could not reach the PostgreSQL metadata database');
    expect(serve.dump()).toContain('password authentication failed for user');
    expect(serve.lines.map((line) => line.msg)).not.toContain('api.listening');
    expect(serve.dump()).not.toContain('not-the-password');
  });
});

describe('serve and the workers, with Redis as deploy/kubernetes wires it', () => {
  const queue = useTestQueue();

  it('reach Redis with the Secret’s URL, and a client without the password is refused', async () => {
    const file = (name: string) => readFileSync(path.join(projectRoot, 'deploy', 'kubernetes', name), 'utf8');
    const secret =
      parseAllDocuments(file('secret.yaml'))
        .map(
          (document) => document.toJS() as { metadata: { name: string }; stringData: Record<string, string> },
        )
        .find((manifest) => manifest.metadata.name === 'action-worker-redis')?.stringData ?? {};
    const statefulSet = parseAllDocuments(file('redis.yaml'))
      .map(
        (document) =>
          document.toJS() as { kind: string; spec: { template: { spec: { containers: Container[] } } } },
      )
      .find((manifest) => manifest.kind === 'StatefulSet');
    const redisContainer = statefulSet?.spec.template.spec.containers[0];
    // redis.yaml's arguments, with the Secret's values as Kubernetes substitutes them, on a loopback port.
    const secretEnv = Object.fromEntries(
      (redisContainer?.env ?? []).map((entry) => [
        entry.name,
        secret[entry.valueFrom?.secretKeyRef?.key ?? ''] ?? '',
      ]),
    );
    const args = (redisContainer?.args ?? []).map((arg) =>
      arg.replace(/\$\((\w+)\)/g, (_, name: string) => secretEnv[name] ?? ''),
    );
    const port = await freePort();
    const dir = await tempDir('redis-deploy');
    const redis = execa(
      'redis-server',
      [...args, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''],
      {
        reject: false,
      },
    );
    try {
      const url = new URL(secret.url ?? '');
      url.hostname = '127.0.0.1';
      url.port = String(port);
      const withPassword = { ACTION_WORKER_REDIS_URL: url.href };
      await eventually(
        async () => ((await queue().cli(['orgs', 'list'], withPassword)).exitCode === 0 ? true : undefined),
        10_000,
        'the redis-server to answer',
      );
      // Without the password (an action container reaching the Service), Redis refuses.
      const anonymous = new URL(url.href);
      anonymous.password = '';
      const refused = await queue().cli(['orgs', 'list'], { ACTION_WORKER_REDIS_URL: anonymous.href });
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toMatch(/NOAUTH|auth/i);
      const probe = await execa('redis-cli', ['-p', String(port), 'ping'], { reject: false });
      expect(probe.stdout).toContain('NOAUTH');
      // The probe as redis.yaml runs it authenticates through REDISCLI_AUTH.
      const authenticated = await execa('redis-cli', ['-p', String(port), 'ping'], {
        reject: false,
        env: { REDISCLI_AUTH: secretEnv.REDISCLI_AUTH ?? '' },
      });
      expect(authenticated.stdout.trim()).toBe('PONG');

      // serve with the Secret's URL is ready (its readiness pings Redis).
      const serve = new DaemonProcess(
        execa('node', [cliPath, 'serve', '--host', '127.0.0.1', '--port', '0'], {
          cwd: projectRoot,
          env: { ...queue().env, ...withPassword },
          extendEnv: true,
          reject: false,
          stdout: 'ignore',
          forceKillAfterDelay: false,
        }),
      );
      try {
        const base = String((await serve.waitForLog('api.listening')).url);
        const ready = await fetch(`${base}/readyz`);
        expect(ready.status, await ready.text()).toBe(200);
      } finally {
        serve.kill('SIGTERM');
      }
      expect((await serve.exited).exitCode, serve.dump()).toBe(0);
      expect(serve.dump()).not.toContain(secret.password ?? '(none)');
    } finally {
      redis.kill('SIGTERM');
      await redis;
    }
  });
});
