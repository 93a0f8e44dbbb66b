import os from 'node:os';
import type { Logger } from 'pino';
import { FencedError } from '../../domain/errors.js';
import type { WorkerSettings } from '../../config/worker-settings.js';
import type { Deployment } from '../../domain/container-labels.js';
import type { InvocationRequest } from '../../domain/invocation-request.js';
import { InvocationStatus, statusName } from '../../domain/invocation-status.js';
import { needsHandbacks, settleAttempt, settlePrevious } from '../../domain/settlement.js';
import type { ContainerRuntime, OutputStream } from '../../ports/container-runtime.js';
import type { DataStore } from '../../ports/data-store.js';
import type { ChangeNotifier } from '../../ports/trigger-events.js';
import type { InvocationRecord, InvocationStore } from '../../ports/invocation-store.js';
import type { LeasedJob } from '../../ports/job-source.js';
import type { InvocationCredentials } from '../../ports/invocation-credentials.js';
import type { SecretStore } from '../../ports/secret-store.js';
import { type InvocationOutcome, executeInvocation } from '../../stages/execute-invocation.js';
import { type InvocationPlan, pipelineSettings } from '../../stages/invocation-plan.js';
import { planFromRequest } from '../../stages/plan-from-request.js';
import { StoreInputResolver } from '../../stages/store-input-resolver.js';
import { StoreOutputTarget } from '../../stages/store-output-target.js';
import { currentPidNamespace } from '../garbage-collector.js';
import { fencedOutputs, retrying, writeStatus } from './fenced-writes.js';
import { Lease, WorkerShutdownError } from './lease.js';
import { LiveLog } from './live-log.js';
import type { DaemonMetrics } from './metrics.js';

/** One attempt this worker is running. */
export interface Running {
  /** Unique per fetch, so a re-delivered invocation never overwrites its entry. */
  token: string;
  invocationId: string;
  attempt: number;
  /** Aborted with the reason: CancelledError, WorkerShutdownError or LeaseLostError. */
  controller: AbortController;
  done: Promise<void>;
}

export interface AttemptDeps {
  settings: WorkerSettings;
  runtime: ContainerRuntime;
  store: InvocationStore;
  dataStore: DataStore;
  secrets: SecretStore;
  /** Each attempt's own API token; without it actions get `roboto.apiKey`. */
  credentials?: InvocationCredentials;
  /**
   * Told after each announced change (outputs, changesets): with it they are announced for trigger
   * evaluation through the data store's outbox; none: not announced.
   */
  changes?: ChangeNotifier;
  /** The worker's logger (the pipeline adds the invocation id and attempt itself). */
  logger: Logger;
  workerId: string;
  metrics: DaemonMetrics;
  /** Aborted when the daemon is forced to stop: containers are killed at once. */
  forceSignal: AbortSignal;
  /** Cancels the attempts of the invocation running here. */
  cancelLocal: (invocationId: string, why: string) => void;
  /** Until nothing more is being fetched here: only then can a job go back without being fetched again. */
  fetchingEnded: () => Promise<void>;
}

/**
 * One attempt of an invocation under the job's fenced lease: the heartbeat with the cancel flag polled as
 * a backstop, the live log, status writes fenced by the attempt number, outputs written only while the
 * lease holds, the pipeline itself, then the run's log and image and the job's ending as
 * {@link settleAttempt} decides.
 */
export class Attempt {
  private readonly store: InvocationStore;
  private readonly lockDurationMs: number;

  constructor(
    private readonly deps: AttemptDeps,
    private readonly job: LeasedJob,
    private readonly run: Running,
    private readonly logger: Logger,
  ) {
    this.store = deps.store;
    this.lockDurationMs = deps.settings.daemon.lockDurationMs;
  }

  async execute(request: InvocationRequest, deployment: Deployment): Promise<void> {
    const { store, settings } = this.deps;
    const { job, logger } = this;
    const { invocationId, attempt, controller } = this.run;
    const lease = new Lease(job, settings.daemon.lockDurationMs, logger);
    lease.lost.addEventListener('abort', () => {
      this.deps.metrics.leaseLost.inc();
      controller.abort(lease.lost.reason);
    });
    // Nothing happens before the first renewal has succeeded: a lock already gone is found out now.
    await lease.assertHeld();
    lease.start();
    try {
      // From here on no earlier attempt can write to the record.
      await store.startAttempt(invocationId, attempt);
      if ((await this.settlePrevious()) === 'done') {
        lease.stop();
        await job.complete({ status: 'already settled' });
        return;
      }
      const heartbeat = setInterval(() => {
        void this.beat(lease);
      }, settings.daemon.heartbeatIntervalMs);
      heartbeat.unref();
      const live = new LiveLog(
        // Nothing more of a fenced attempt reaches the record, buffered output included.
        (text) => (lease.isLost ? Promise.resolve() : store.appendLiveLog(invocationId, attempt, text)),
        logger,
      );
      let outcome: InvocationOutcome;
      try {
        await store.heartbeat(invocationId, attempt);
        outcome = await executeInvocation(
          this.planFor(invocationId, attempt, request),
          {
            runtime: this.deps.runtime,
            inputs: new StoreInputResolver(this.deps.dataStore, logger),
            outputs: fencedOutputs(
              new StoreOutputTarget(
                this.deps.dataStore,
                { invocationId, attempt },
                `action-worker invocation ${invocationId}`,
                this.deps.changes,
              ),
              lease,
            ),
            secrets: this.deps.secrets,
            status: {
              record: (status, detail, failure) =>
                writeStatus(this.deps, invocationId, attempt, status, detail, lease, failure),
              // Before the final status, so a client that sees it finds the log (and image) already stored.
              storeResult: async ({ log, image }) => {
                if (lease.isLost) return;
                await this.retrying('record.log', () => store.setLog(invocationId, log));
                if (image)
                  await this.retrying('record.run_info', () => store.setRunInfo(invocationId, { image }));
              },
            },
            // The pipeline adds the invocation id and attempt itself.
            logger: this.deps.logger,
            settings: pipelineSettings(settings, {
              workerId: this.deps.workerId,
              owner: {
                host: os.hostname(),
                pid: process.pid,
                workerId: this.deps.workerId,
                pidNamespace: currentPidNamespace(),
                deployment,
              },
              environmentLabel: `action-worker (${os.hostname()})`,
              keepWorkspace: false,
              logFile: null,
            }),
            onOutput: (stream: OutputStream, chunk: Buffer) => {
              if (!lease.isLost) live.write(stream, chunk);
              return Promise.resolve();
            },
            forceSignal: this.deps.forceSignal,
            ...(this.deps.credentials === undefined ? {} : { credentials: this.deps.credentials }),
            transfers: {
              moved: (direction, bytes) => {
                this.deps.metrics.bytes.inc({ direction }, bytes);
              },
            },
          },
          controller.signal,
        );
      } finally {
        clearInterval(heartbeat);
        await live.close();
      }
      const processing = outcome.history.find((entry) => entry.status === InvocationStatus.Processing);
      if (processing) {
        this.deps.metrics.queueToStartSeconds.observe(
          { until: 'container' },
          (Date.parse(processing.timestamp) - job.enqueuedAt) / 1000,
        );
      }
      if (lease.isLost) {
        // Fenced: another attempt may hold the invocation now. Write nothing, leave the job alone.
        logger.warn({ status: statusName(outcome.status) }, 'invocation.fenced');
        this.deps.metrics.recordAttempt(outcome.status, 'lease_lost', outcome.history);
        return;
      }
      this.deps.metrics.recordAttempt(outcome.status, outcome.failure?.reason, outcome.history);
      await this.conclude(outcome, lease);
    } finally {
      lease.stop();
    }
  }

  /** Carries out what {@link settleAttempt} decides: the job completed, retried later, handed back, or failed. */
  private async conclude(outcome: InvocationOutcome, lease: Lease): Promise<void> {
    const { store, settings } = this.deps;
    const { job, logger } = this;
    const { invocationId, attempt, controller } = this.run;
    const summary = { status: statusName(outcome.status), detail: outcome.detail };
    const settled = { ...outcome, isWorkerShutdown: controller.signal.reason instanceof WorkerShutdownError };
    const handbacks = needsHandbacks(settled) ? ((await store.get(invocationId))?.handbacks ?? 0) : 0;
    const decision = settleAttempt({ outcome: settled, attempt, handbacks, policy: settings.daemon });
    const write = async (status: InvocationStatus, detail: string): Promise<void> => {
      await writeStatus(this.deps, invocationId, attempt, status, detail, lease);
    };
    switch (decision.kind) {
      case 'complete':
      case 'fail-final':
        lease.stop();
        await this.retrying('queue.complete', () => job.complete(summary));
        logger.info(summary, 'invocation.finished');
        return;
      case 'hand-back':
        // Only once nothing is being fetched here can the job go back without this worker taking it again.
        await this.deps.fetchingEnded();
        await write(decision.write.status, decision.write.detail);
        await this.retrying('record.handback', () => store.countHandback(invocationId));
        lease.stop();
        await this.retrying('queue.hand_back', () => job.handBack());
        logger.info('invocation.handed_back');
        return;
      case 'retry': {
        await write(decision.write.status, decision.write.detail);
        lease.stop();
        const atMs = Date.now() + decision.delayMs;
        await this.retrying('queue.delay', () => job.retryAt(atMs));
        logger.info({ ...summary, delayMs: decision.delayMs }, 'invocation.retry_scheduled');
        return;
      }
      case 'deadly':
        await write(decision.write.status, decision.write.detail);
        lease.stop();
        await this.retrying('queue.fail', () => job.fail(decision.detail));
        logger.warn({ detail: decision.detail }, 'invocation.deadly');
        return;
    }
  }

  /**
   * Brings a record left by an earlier attempt to Queued before this one runs, step by step as
   * {@link settlePrevious} decides. "done" when there is nothing to run (already finished or cancelled).
   */
  private async settlePrevious(): Promise<'run' | 'done'> {
    const { store, settings } = this.deps;
    const { invocationId, attempt } = this.run;
    let record = await this.mustGet(invocationId);
    // At most: lost → Failed → Queued → Cancelled. More would be a store that does not move.
    for (let steps = 0; steps < 8; steps += 1) {
      const step = settlePrevious(record, attempt, settings.daemon);
      if (step.kind === 'run') return 'run';
      if (step.kind === 'done') {
        this.logger.info({ status: statusName(record.last_status) }, 'invocation.already_settled');
        return 'done';
      }
      if (step.isLost) {
        this.logger.warn({ status: statusName(record.last_status) }, 'invocation.previous_attempt_lost');
      }
      const { status, detail, final } = step.write;
      record = await store.transition(invocationId, status, detail, {
        attempt,
        ...(final === undefined ? {} : { final }),
      });
      if (step.thenDone) return 'done';
    }
    throw new Error(`invocation ${invocationId}: its earlier attempt could not be settled`);
  }

  private async mustGet(invocationId: string): Promise<InvocationRecord> {
    const record = await this.deps.store.get(invocationId);
    if (record === undefined) throw new Error(`invocation ${invocationId} vanished`);
    return record;
  }

  private retrying<T>(what: string, write: () => Promise<T>): Promise<T | undefined> {
    return retrying(this.logger, what, this.lockDurationMs, write);
  }

  private planFor(invocationId: string, attempt: number, request: InvocationRequest): InvocationPlan {
    return planFromRequest(request, {
      invocationId,
      attempt,
      defaultTimeoutMinutes: this.deps.settings.defaultTimeoutMinutes,
    });
  }

  /** The heartbeat, and the cancel flag polled as a backstop to the pub/sub message. */
  private async beat(lease: Lease): Promise<void> {
    const { invocationId, attempt } = this.run;
    if (lease.isLost) return;
    try {
      await this.deps.store.heartbeat(invocationId, attempt);
      const record = await this.deps.store.get(invocationId);
      if (record?.is_cancel_requested) this.deps.cancelLocal(invocationId, 'cancel flag seen');
    } catch (error) {
      if (error instanceof FencedError) {
        lease.markLost(`attempt ${attempt} was superseded (its heartbeat was refused)`);
        return;
      }
      this.logger.warn({ err: error }, 'record.heartbeat_failed');
    }
  }
}
