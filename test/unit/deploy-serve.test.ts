import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { databaseLocation } from '../../src/app/local-adapters.js';
import { settingsFromEnv } from '../../src/config/worker-settings.js';
import { parseDurationMs } from '../../src/domain/duration.js';
import { projectRoot } from '../support/paths.js';

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
