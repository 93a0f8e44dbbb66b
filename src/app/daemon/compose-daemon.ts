import { BullmqJobSource } from '../../adapters/bullmq/bullmq-job-source.js';
import { TriggerEventQueue } from '../../adapters/bullmq/trigger-event-queue.js';
import { ChangeRelay } from '../change-relay.js';
import { DockerContainerRuntime } from '../../adapters/docker/docker-container-runtime.js';
import { DirectorySecretStore } from '../../adapters/local/directory-secret-store.js';
import { PLACEHOLDER_SERVICE_ENDPOINT, type WorkerSettings } from '../../config/worker-settings.js';
import type { Logger } from 'pino';
import { openControlPlane } from '../control-plane.js';
import { TokenRevokingInvocationStore, tenancyCredentials } from '../invocation-credentials.js';
import { openDataStore } from '../local-adapters.js';
import { openTenancyStore } from '../tenancy.js';
import { Daemon } from './daemon.js';
import { newWorkerId } from './daemon-state.js';
import { startHttpServer } from './http-server.js';

/** A daemon with everything it runs on, built from the settings; `close` lets go of what it opened. */
export interface ComposedDaemon {
  daemon: Daemon;
  /** Where health, readiness and metrics are served. */
  http: { port: number; address: string };
  /** Stops serving HTTP, closes Redis and the data store; also when the daemon never started. */
  close: () => Promise<void>;
}

/**
 * The daemon's composition root, the one file of app/daemon/ that builds adapters: the Docker runtime, the
 * queue, its job source (BullMQ) and the records (Redis), the data store (its metadata database), the local secret store, and the
 * health/readiness/metrics server, all located by the settings.
 */
export async function composeDaemon(settings: WorkerSettings, logger: Logger): Promise<ComposedDaemon> {
  const runtime = new DockerContainerRuntime({ dockerConfigDir: settings.images.dockerConfigDir });
  const dataStore = await openDataStore(settings, { logger });
  const plane = openControlPlane(settings, {
    patience: 'wait',
    onError: (error) => {
      logger.warn({ err: error }, 'redis.connection_error');
    },
  });
  // Per-invocation API tokens (roboto.invocationTokens): minted in the tenancy store for each attempt, and
  // every token of an invocation revoked by the transition that makes it terminal, whoever writes it.
  // Only where an API is configured: without one there is nothing to call, and no token is worth a record.
  const tenancy =
    settings.roboto.invocationTokens && settings.roboto.serviceEndpoint !== PLACEHOLDER_SERVICE_ENDPOINT
      ? openTenancyStore(settings, {
          patience: 'wait',
          onError: (error) => {
            logger.warn({ err: error }, 'redis.connection_error');
          },
        })
      : undefined;
  const store =
    tenancy === undefined ? plane.store : new TokenRevokingInvocationStore(plane.store, tenancy, logger);
  const closeTenancy = async (): Promise<void> => {
    await tenancy?.close();
  };
  // Stored outputs announced for trigger evaluation, on the same Redis and key prefix as the queue.
  const triggerEvents = new TriggerEventQueue(settings.redis, {
    onError: (error) => {
      logger.warn({ err: error }, 'redis.connection_error');
    },
  });
  // Hands the events the outputs wrote into the data store's outbox on to that queue: this worker's own at
  // once, any other process's (one that died after its change) at the next poll.
  const relay = new ChangeRelay(dataStore, triggerEvents, logger);
  relay.start();
  const workerId = newWorkerId();
  const { daemon: options, redis } = settings;
  const source = new BullmqJobSource({
    location: redis,
    lockDurationMs: options.lockDurationMs,
    stalledIntervalMs: options.stalledIntervalMs,
    fetchBlockMs: options.fetchBlockMs,
    workerName: workerId,
    logger: logger.child({ workerId }),
    ping: () => plane.queue.ping(),
  });
  const daemon = new Daemon({
    settings,
    workerId,
    runtime,
    store,
    queue: plane.queue,
    source,
    dataStore,
    secrets: new DirectorySecretStore(settings.secretsDir),
    logger,
    changes: relay,
    ...(tenancy === undefined ? {} : { credentials: tenancyCredentials(tenancy) }),
  });
  let http: Awaited<ReturnType<typeof startHttpServer>>;
  try {
    http = await startHttpServer({
      host: settings.daemon.httpHost,
      port: settings.daemon.httpPort,
      registry: daemon.metrics.registry,
      checks: {
        redis: () => plane.queue.ping(),
        docker: () => runtime.ping(),
        fetching: () => daemon.isFetching(),
        draining: () => daemon.isStopping(),
      },
      logger,
    });
  } catch (error) {
    await plane.close();
    await relay.close();
    await triggerEvents.close();
    await closeTenancy();
    await dataStore.close();
    throw error;
  }
  logger.info({ port: http.port, host: http.address }, 'http.listening');
  return {
    daemon,
    http: { port: http.port, address: http.address },
    close: async () => {
      await http.close();
      await plane.close();
      await relay.close();
      await triggerEvents.close();
      await closeTenancy();
      await dataStore.close();
    },
  };
}
