import { Registry } from 'prom-client';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { InvocationQueue, recordPrefix, redisOptions } from '../adapters/bullmq/invocation-queue.js';
import { TriggerEventQueue, TriggerEventWorker } from '../adapters/bullmq/trigger-event-queue.js';
import { RedisInvocationStore } from '../adapters/redis/redis-invocation-store.js';
import { RedisUploadTransactionStore } from '../adapters/redis/redis-upload-transaction-store.js';
import { buildApiServer } from '../api/server.js';
import { UrlSigner } from '../api/signed-urls.js';
import type { RequestAuthenticator } from '../api/org-scope.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import type { ActionLookup } from '../ports/action-store.js';
import type { DataStore } from '../ports/data-store.js';
import type { TriggerEventHandler } from '../ports/trigger-events.js';
import { withTimeout } from '../util/with-timeout.js';
import { openActionStore } from './actions.js';
import { openTriggerStore } from './triggers.js';
import { TriggerEvaluator, openTriggerEvaluationStore } from './trigger-evaluator.js';
import { createTriggerEventMetrics } from './trigger-event-metrics.js';
import { ChangeRelay } from './change-relay.js';
import { TokenRevokingInvocationStore, refusingFinishedInvocations } from './invocation-credentials.js';
import { invocationControl } from './invocations.js';
import { openDataStore, uploadStagingDir } from './local-adapters.js';
import { redisStoreOptions } from './control-plane.js';
import { openTenancyStore } from './tenancy.js';
import { type SignalSource, installSignalLadder } from './signal-ladder.js';

/** The longest a shutdown waits for the queue's connections to close politely. */
const QUEUE_CLOSE_MS = 6_000;
/** The longest a shutdown waits for trigger events being handled (cut off, they are handled again elsewhere). */
const TRIGGER_WORKER_CLOSE_MS = 10_000;

/** What serve opens, for the trigger event handler (the evaluator) to be made from. */
export interface ServeBackends {
  store: DataStore;
  triggers: ReturnType<typeof openTriggerStore>;
  actions: ReturnType<typeof openActionStore>;
  invocations: TokenRevokingInvocationStore;
  queue: InvocationQueue;
  logger: Logger;
}

export interface RunningApi {
  app: FastifyInstance;
  /** `http://host:port`, as bound. */
  url: string;
  port: number;
  /**
   * Stops accepting connections, lets requests in flight finish within the shutdown grace (at once with
   * `force`), then closes the data store and Redis. Calling it again returns the same promise, or forces it.
   */
  stop: (options?: { force?: boolean }) => Promise<void>;
}

/**
 * The API's composition root: opens the data store and a Redis connection (for readiness; the tenancy and
 * invocation routes use it next), builds the server and listens on settings.api.host:port.
 */
export async function startApiServer(
  settings: WorkerSettings,
  options: {
    logger: Logger;
    /** Who a bearer token is; by default the orgs' API tokens in Redis (`action-worker tokens create`). */
    authenticator?: RequestAuthenticator;
    /** Registered actions, for invoking by name; by default the Redis action store the action routes use. */
    actions?: ActionLookup;
    /** Batch and page sizes of the invocation routes (tests make them small). */
    invocationTuning?: { cancelAllBatch?: number; logPageSize?: number };
    /** The clock of signed download URLs (tests move it); by default the system's. */
    now?: () => number;
    /**
     * What handles trigger events (the evaluator), or how to make it from the backends this server opens;
     * by default one that only logs them.
     */
    triggerEventHandler?: TriggerEventHandler | ((backends: ServeBackends) => TriggerEventHandler);
    /** The consumer's lease on an event being handled (tests make it short); BullMQ renews it meanwhile. */
    triggerEventLockMs?: number;
  },
): Promise<RunningApi> {
  const { logger } = options;
  const store: DataStore = await openDataStore(settings, { logger });
  // The orgs and their tokens in Redis: the orgs routes read it, and by default it checks bearer tokens
  // (a caller, such as a test, may bring its own authenticator).
  const tenancy = openTenancyStore(settings, {
    patience: 'wait',
    onError: (error) => {
      logger.warn({ err: error }, 'redis.connection_error');
    },
  });
  // The invocation records' Redis connection: readiness pings it; the invocation routes read and write it.
  const records = new RedisInvocationStore({
    redis: redisOptions(settings.redis.url, 'wait', { lockDurationMs: settings.daemon.lockDurationMs }),
    prefix: recordPrefix(settings.redis),
    onError: (error) => {
      logger.warn({ err: error }, 'redis.connection_error');
    },
  });
  // Registered actions (every version) in Redis, beside the records.
  const actions = openActionStore(settings, {
    patience: 'wait',
    onError: (error) => {
      logger.warn({ err: error }, 'redis.connection_error');
    },
  });
  // Triggers in Redis, beside the actions.
  const triggers = openTriggerStore(settings, {
    patience: 'wait',
    onError: (error) => {
      logger.warn({ err: error }, 'redis.connection_error');
    },
  });
  // The evaluator's records of trigger evaluations, beside the triggers (T6/T7 list them).
  const triggerEvaluations = openTriggerEvaluationStore(settings, {
    patience: 'wait',
    onError: (error) => {
      logger.warn({ err: error }, 'redis.connection_error');
    },
  });
  // The queue the invoke route adds jobs to, as `action-worker invoke` does. Its close waits for a Redis
  // that answers; a shutdown does not wait for one that is down longer than QUEUE_CLOSE_MS.
  const queue = new InvocationQueue(settings.redis, (error) => {
    logger.warn({ err: error }, 'redis.connection_error');
  });
  // Where D3 and F2 announce changes for trigger evaluation, on the same Redis and key prefix.
  const triggerEvents = new TriggerEventQueue(settings.redis, {
    onError: (error) => {
      logger.warn({ err: error }, 'redis.connection_error');
    },
  });
  // API upload transactions, beside the records (any replica may take a transaction's bytes or complete it).
  const uploadTransactions = new RedisUploadTransactionStore(
    redisStoreOptions(settings, {
      patience: 'wait',
      onError: (error) => {
        logger.warn({ err: error }, 'redis.connection_error');
      },
    }),
  );
  // Hands the events of committed changes from the store's outbox on to that queue: the routes' own at
  // once, any other process's (a `datasets import`, one that died after its change) at the next poll.
  const relay = new ChangeRelay(store, triggerEvents, logger);
  const triggerMetrics = createTriggerEventMetrics();
  // An invocation's token only while its invocation runs, read from its record on every request, even if
  // its revoke was missed.
  const authenticator = refusingFinishedInvocations(options.authenticator ?? tenancy, records);
  // Writes through the routes (a status, a cancel) revoke a finished invocation's tokens, as the workers'
  // own transitions do.
  const invocations = new TokenRevokingInvocationStore(records, tenancy, logger);
  const closeBackends = async (): Promise<void> => {
    await relay.close();
    await Promise.allSettled([
      store.close(),
      records.close(),
      tenancy.close(),
      actions.close(),
      triggers.close(),
      triggerEvaluations.close(),
      uploadTransactions.close(),
      withTimeout(queue.close(), QUEUE_CLOSE_MS),
      withTimeout(triggerEvents.close(), QUEUE_CLOSE_MS),
    ]);
  };
  let app: FastifyInstance;
  // The server's metrics registry, where the trigger evaluator's metrics go too.
  let metricsRegistry: Registry | undefined;
  try {
    app = await buildApiServer({
      store,
      authenticator,
      orgs: tenancy,
      actions,
      triggers: {
        triggers,
        actions: options.actions ?? actions,
        evaluations: triggerEvaluations,
        datasetExists: async (orgId, datasetId) => (await store.getDataset(datasetId))?.org_id === orgId,
      },
      invocations: {
        invocations,
        control: invocationControl(invocations, queue),
        actions: options.actions ?? actions,
        datasetExists: async (orgId, datasetId) => (await store.getDataset(datasetId))?.org_id === orgId,
        defaultTimeoutMinutes: settings.defaultTimeoutMinutes,
        triggerIdOf: async (orgId, name) => (await triggers.getTrigger(orgId, name))?.trigger_id,
        ...options.invocationTuning,
      },
      uploads: {
        transactions: uploadTransactions,
        stagingDir: uploadStagingDir(settings.storeDir),
        idleTimeoutMs: settings.api.uploadIdleTimeoutMs,
        maxTransactionBytes: settings.api.uploadMaxTransactionBytes,
        maxPendingPerOrg: settings.api.uploadMaxPendingPerOrg,
      },
      readiness: {
        redis: () => records.get('iv_readiness-probe'),
        store: () => store.getDataset('ds_readiness-probe'),
      },
      logger,
      // A change's event is written in its transaction; the relay hands it on.
      changes: relay,
      registerMetrics: (registry) => {
        triggerMetrics.register(registry);
        metricsRegistry = registry;
      },
      signing: {
        signer: new UrlSigner({
          secret: settings.api.signingSecret,
          ...(options.now === undefined ? {} : { now: options.now }),
        }),
        publicUrl: settings.api.publicUrl,
      },
      limits: {
        bodyLimitBytes: settings.api.bodyLimitBytes,
        requestTimeoutMs: settings.api.requestTimeoutMs,
      },
    });
    await app.listen({ host: settings.api.host, port: settings.api.port });
  } catch (error) {
    await closeBackends();
    throw error;
  }
  const { address, port, family } = app.server.address() as AddressInfo;
  const url = `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
  logger.info({ url }, 'api.listening');
  relay.start();

  // serve consumes trigger events unless told not to (a replica that only answers HTTP).
  let triggerWorker: TriggerEventWorker | undefined;
  if (settings.triggers.enabled) {
    triggerWorker = new TriggerEventWorker(
      settings.redis,
      typeof options.triggerEventHandler === 'function'
        ? options.triggerEventHandler({ store, triggers, actions, invocations, queue, logger })
        : (options.triggerEventHandler ??
            new TriggerEvaluator({
              triggers,
              evaluations: triggerEvaluations,
              data: store,
              invocations,
              actions,
              control: invocationControl(invocations, queue),
              defaultTimeoutMinutes: settings.defaultTimeoutMinutes,
              logger,
              registry: metricsRegistry ?? new Registry(),
            })),
      {
        concurrency: settings.triggers.concurrency,
        ...(options.triggerEventLockMs === undefined
          ? {}
          : { lockDurationMs: options.triggerEventLockMs, stalledIntervalMs: options.triggerEventLockMs }),
        onHandled: (event, lagSeconds) => {
          triggerMetrics.handled(event, lagSeconds);
        },
        onFailed: (event, error, final) => {
          triggerMetrics.failed(event, final);
          logger.warn(
            { err: error, event_id: event?.event_id, cause: event?.cause, final },
            'trigger.event_failed',
          );
        },
        onError: (error) => {
          logger.warn({ err: error }, 'trigger.consumer_error');
        },
      },
    );
    triggerWorker.start();
    logger.info({ concurrency: settings.triggers.concurrency }, 'trigger.consumer_started');
  }

  let stopping: Promise<void> | undefined;
  let forceNow: () => void = () => undefined;
  const stop = ({ force = false } = {}): Promise<void> => {
    if (force) forceNow();
    stopping ??= (async () => {
      logger.info({ graceMs: settings.api.shutdownGraceMs }, 'api.stopping');
      let timer: NodeJS.Timeout | undefined;
      const cutOff = new Promise<void>((resolve) => {
        forceNow = resolve;
        timer = setTimeout(resolve, settings.api.shutdownGraceMs);
      });
      // close() stops accepting, answers new requests on kept connections 503, and waits for those in flight.
      const closed = app.close();
      await Promise.race([closed, cutOff]);
      clearTimeout(timer);
      app.server.closeAllConnections();
      await closed;
      await triggerWorker?.close(TRIGGER_WORKER_CLOSE_MS);
      await closeBackends();
      logger.info('api.stopped');
    })();
    if (force) forceNow();
    return stopping;
  };
  return { app, url, port, stop };
}

/**
 * `action-worker serve`: runs the API until SIGTERM/SIGINT (finish requests in flight within the grace),
 * a second signal (cut them off now) or a third (leave). Resolves once everything is closed.
 */
export async function serveApi(
  settings: WorkerSettings,
  options: {
    logger: Logger;
    authenticator?: RequestAuthenticator;
    actions?: ActionLookup;
    /** What handles trigger events (the evaluator), or how to make it; by default one that only logs them. */
    triggerEventHandler?: TriggerEventHandler | ((backends: ServeBackends) => TriggerEventHandler);
    signals: SignalSource;
    exit: () => void;
    onListening?: (api: RunningApi) => void;
  },
): Promise<void> {
  const { logger } = options;
  const api = await startApiServer(settings, options);
  let stopped: Promise<void> | undefined;
  let onStopRequested: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => {
    onStopRequested = resolve;
  });
  const uninstall = installSignalLadder(options.signals, {
    onSignal: (signal, count) => {
      logger.warn({ signal, count }, 'api.signal');
    },
    graceful: () => {
      stopped = api.stop();
      onStopRequested();
    },
    force: () => {
      stopped = api.stop({ force: true });
    },
    exit: options.exit,
  });
  try {
    options.onListening?.(api);
    await stopRequested;
    await stopped;
  } finally {
    uninstall();
  }
}
