import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import {
  FencedError,
  MalformedRecordError,
  type RedisInvocationStore,
} from '../../adapters/redis/redis-invocation-store.js';
import { type InvocationQueue, JobData, bullConnection } from '../../adapters/bullmq/invocation-queue.js';
import { InvocationWorker, UnreadableJobData } from '../../adapters/bullmq/invocation-worker.js';
import type { WorkerSettings } from '../../config/worker-settings.js';
import { capacityShortfall } from '../../domain/compute-requirements.js';
import type { Deployment } from '../../domain/container-labels.js';
import { formatDuration } from '../../domain/duration.js';
import { ActionWorkerError, CancelledError, formatZodError } from '../../domain/errors.js';
import { InvocationRequest } from '../../domain/invocation-request.js';
import { InvocationStatus, statusName } from '../../domain/invocation-status.js';
import type { ContainerRuntime, OutputStream } from '../../ports/container-runtime.js';
import type { DataStore } from '../../ports/data-store.js';
import type { InvocationRecord } from '../../ports/invocation-store.js';
import type { OutputTarget } from '../../ports/output-target.js';
import type { SecretStore } from '../../ports/secret-store.js';
import { type InvocationOutcome, executeInvocation } from '../../stages/execute-invocation.js';
import type { InvocationPlan } from '../../stages/invocation-plan.js';
import { planFromRequest, requirementsOf } from '../../stages/plan-from-request.js';
import { StoreInputResolver } from '../../stages/store-input-resolver.js';
import { StoreOutputTarget } from '../../stages/store-output-target.js';
import { currentPidNamespace, temporaryDirsOf } from '../garbage-collector.js';
import { CapacityLedger } from './capacity.js';
import { EngineHealth } from './engine-health.js';
import { FetchWatchdog, Lease, WorkerShutdownError } from './lease.js';
import { LiveLog } from './live-log.js';
import { DaemonMetrics } from './metrics.js';
import { Reconciler } from './reconciler.js';
import { afterFailure } from './retry-policy.js';
import { TIMED_OUT, withTimeout } from '../../util/with-timeout.js';

export interface DaemonDeps {
  settings: WorkerSettings;
  runtime: ContainerRuntime;
  store: RedisInvocationStore;
  queue: InvocationQueue;
  dataStore: DataStore;
  secrets: SecretStore;
  logger: Logger;
}

/** One attempt this worker is running. */
interface Running {
  /** The job's lock token: unique per fetch, so a re-delivered invocation never overwrites its entry. */
  token: string;
  invocationId: string;
  attempt: number;
  /** Aborted with the reason: CancelledError, WorkerShutdownError or LeaseLostError. */
  controller: AbortController;
  done: Promise<void>;
}

const FINAL_STATUSES: ReadonlySet<InvocationStatus> = new Set([
  InvocationStatus.Completed,
  InvocationStatus.Cancelled,
  InvocationStatus.Deadly,
]);

const RUNNING_STATUSES: ReadonlySet<InvocationStatus> = new Set([
  InvocationStatus.Scheduled,
  InvocationStatus.Downloading,
  InvocationStatus.Processing,
  InvocationStatus.Uploading,
]);

/**
 * `action-worker daemon`: takes invocations from the queue while it has room (slots, vCPU, memory), runs
 * each through the same pipeline as a local run under a fenced lease, retries infrastructure failures,
 * reaches cancels from any host, drains on SIGTERM, and cleans up after an earlier run of itself.
 */
export class Daemon {
  readonly workerId = `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  readonly metrics: DaemonMetrics;
  /** Made at start-up, once the deployment is known. */
  private reconciler: Reconciler | undefined;
  /**
   * The deployment its containers and workspaces are labelled with: read from Redis at start-up, before
   * anything is reconciled or fetched.
   */
  private deployment: Deployment | undefined;
  private readonly capacity: CapacityLedger;
  /** By lock token. */
  private readonly running = new Map<string, Running>();
  /** Jobs fetched through each worker: a job moves and renews through its worker's connection, so a worker
   * the watchdog replaced is closed only once its jobs are done. */
  private readonly jobsOf = new Map<Worker, number>();
  private readonly retired = new Set<Worker>();
  private readonly stopController = new AbortController();
  private readonly forceController = new AbortController();
  private readonly watchdog: FetchWatchdog;
  /** Asked before every fetch: nothing is taken while the engine does not answer. */
  private readonly engine: EngineHealth;
  private readonly logger: Logger;
  private worker: Worker | undefined;
  /** Aborted when the watchdog replaces the worker. */
  private workerRecreated = new AbortController();
  private loop: Promise<void> | undefined;
  private starting: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribeCancel: (() => Promise<void>) | undefined;
  /** A job did not fit beside what runs: fetch again only once something finishes. */
  private waitingForRoom = false;

  constructor(private readonly deps: DaemonDeps) {
    const { daemon, capacity } = deps.settings;
    this.logger = deps.logger.child({ workerId: this.workerId });
    this.capacity = new CapacityLedger(daemon.concurrency, capacity);
    this.watchdog = new FetchWatchdog(3 * daemon.fetchBlockMs + 10_000);
    this.engine = new EngineHealth(() => deps.runtime.ping(), this.logger);
    this.metrics = new DaemonMetrics({
      running: () => this.running.size,
      capacity: () => this.capacity.usage(),
      queueDepth: () => deps.queue.depth(),
    });
  }

  isStopping(): boolean {
    return this.stopController.signal.aborted;
  }

  /** Whether the fetch loop is healthy: it came back recently, or it is not fetching because all room is taken. */
  isFetching(): boolean {
    if (this.isStopping()) return false;
    if (!this.capacity.hasFreeSlot() || this.waitingForRoom) return true;
    return Date.now() - this.watchdog.lastFetchAt < 3 * this.deps.settings.daemon.fetchBlockMs + 10_000;
  }

  async start(): Promise<void> {
    this.starting = this.startUp();
    await this.starting;
  }

  private async startUp(): Promise<void> {
    const { daemon } = this.deps.settings;
    // Stopped while waiting for the engine: nothing was started, so there is nothing to undo.
    if (!(await this.waitForDocker())) return;
    const stop = [this.stopController.signal];
    let deployment: Deployment;
    try {
      // Both wait for Redis while it is away: a stop meanwhile ends the start-up as a stop, not a failure.
      this.unsubscribeCancel = await untilAborted(
        this.deps.store.onCancelRequested((invocationId) => {
          this.cancelLocal(invocationId, 'cancel requested');
        }),
        stop,
      );
      deployment = await untilAborted(this.deps.queue.deployment(), stop);
    } catch (error) {
      if (this.isStopping()) return;
      throw error;
    }
    this.deployment = deployment;
    this.reconciler = new Reconciler({
      ...this.deps,
      workspaceDir: this.deps.settings.workspaceDir,
      secretsDir: this.deps.settings.secretsTmpfsDir,
      temporaryDirs: temporaryDirsOf(this.deps.settings),
      logger: this.logger,
      workerId: this.workerId,
      deployment,
      isRunningHere: (invocationId, attempt) =>
        [...this.running.values()].some(
          (run) => run.invocationId === invocationId && run.attempt === attempt,
        ),
    });
    await this.reconcile('startup');
    // Stopped while starting: nothing more is started.
    if (this.isStopping()) return;
    this.worker = this.createWorker();
    await this.worker.startStalledCheckTimer();
    this.every(daemon.reconcileIntervalMs, () => this.reconcile('periodic'));
    // An earlier run of this worker in another pid namespace (a restarted container) cannot be proved dead
    // by its pid, only once its lease has run out: look again then rather than a full interval later.
    this.once(daemon.lockDurationMs + 1_000, () => this.reconcile('periodic'));
    this.every(Math.max(1_000, Math.floor(daemon.fetchBlockMs / 2)), () => this.checkWatchdog());
    this.loop = this.fetchLoop();
    this.logger.info(
      {
        queue: this.deps.settings.redis.queue,
        deploymentId: deployment.id,
        concurrency: daemon.concurrency,
        capacity: this.deps.settings.capacity,
      },
      'daemon.started',
    );
  }

  /**
   * First call: stop fetching, let running invocations finish within the drain window, then stop them and
   * hand them back. A second call forces: running containers are killed at once and handed back.
   */
  async shutdown(): Promise<void> {
    if (this.isStopping()) {
      this.logger.warn({ running: this.running.size }, 'daemon.forced');
      this.forceController.abort();
      for (const run of this.running.values()) run.controller.abort(new WorkerShutdownError());
      return;
    }
    const { daemon, container } = this.deps.settings;
    this.stopController.abort();
    this.capacity.wake();
    // A start-up in progress stops at its next step.
    await this.starting?.catch(() => undefined);
    this.logger.info({ running: this.running.size, drainWindowMs: daemon.drainWindowMs }, 'daemon.draining');
    // A second signal ends the drain early.
    await untilAborted(
      Promise.race([this.allDone(), sleep(daemon.drainWindowMs, undefined, { ref: false })]),
      [this.forceController.signal],
    ).catch(() => undefined);
    if (this.running.size > 0) {
      const invocations = [...this.running.values()].map((run) => run.invocationId);
      this.logger.warn({ running: invocations }, 'daemon.drain_window_over');
      for (const run of this.running.values()) run.controller.abort(new WorkerShutdownError());
      // The stop ladder (grace, then SIGKILL) runs, then each attempt hands its invocation back.
      await Promise.race([this.allDone(), sleep(container.stopGraceMs + 30_000, undefined, { ref: false })]);
    }
    for (const timer of this.timers) clearInterval(timer);
    await this.loopEnded();
    await Promise.all([this.worker, ...this.retired].map((worker) => this.closeWorker(worker)));
    await this.unsubscribeCancel?.().catch(() => undefined);
    this.logger.info({ abandoned: this.running.size }, 'daemon.stopped');
  }

  /** The fetch loop's end (a fetch in flight settles within a block); bounded in case Redis is away. */
  private async loopEnded(): Promise<void> {
    await withTimeout(this.loop ?? Promise.resolve(), this.deps.settings.daemon.fetchBlockMs + 10_000).catch(
      () => undefined,
    );
  }

  private allDone(): Promise<void> {
    return Promise.all([...this.running.values()].map((run) => run.done)).then(() => undefined);
  }

  private createWorker(): Worker {
    const { redis, daemon } = this.deps.settings;
    const worker = new InvocationWorker(redis.queue, null, {
      // The lease renewals go through this connection: it reconnects well within a lock duration.
      connection: bullConnection(redis.url, 'wait', { lockDurationMs: daemon.lockDurationMs }),
      prefix: redis.keyPrefix,
      autorun: false,
      lockDuration: daemon.lockDurationMs,
      stalledInterval: daemon.stalledIntervalMs,
      // Redelivery after a lost worker is counted by us (attempts started less those handed back), so
      // BullMQ must never fail a job for stalling.
      maxStalledCount: 1_000_000,
      drainDelay: Math.ceil(daemon.fetchBlockMs / 1000),
      name: this.workerId,
    });
    worker.on('error', (error) => {
      this.logger.warn({ err: error }, 'queue.worker_error');
    });
    return worker;
  }

  /** Closes a worker, within 10 s; past that its connections are dropped. */
  private async closeWorker(worker: Worker | undefined): Promise<void> {
    if (worker === undefined) return;
    this.jobsOf.delete(worker);
    this.retired.delete(worker);
    const closed = worker.close().then(
      () => true,
      () => true,
    );
    if (!(await Promise.race([closed, sleep(10_000, false, { ref: false })]))) {
      this.logger.warn('queue.worker_close_timeout');
      await Promise.race([
        worker.disconnect().catch(() => undefined),
        sleep(5_000, undefined, { ref: false }),
      ]);
    }
  }

  private every(ms: number, task: () => Promise<void> | void): void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void Promise.resolve()
        .then(task)
        .catch((error: unknown) => {
          this.logger.error({ err: error }, 'daemon.task_failed');
        })
        .finally(() => {
          busy = false;
        });
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private once(ms: number, task: () => Promise<void>): void {
    const timer = setTimeout(() => {
      task().catch((error: unknown) => {
        this.logger.error({ err: error }, 'daemon.task_failed');
      });
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  /** Until the engine answers (true), or the daemon is stopped meanwhile (false): a stop is no failure. */
  private async waitForDocker(): Promise<boolean> {
    for (let delay = 500; ; delay = Math.min(delay * 2, 10_000)) {
      try {
        await this.deps.runtime.ping();
        return true;
      } catch (error) {
        if (this.isStopping()) return false;
        this.logger.warn({ err: error, retryInMs: delay }, 'docker.unreachable');
        await sleep(delay, undefined, { signal: this.stopController.signal }).catch(() => undefined);
        if (this.isStopping()) return false;
      }
    }
  }

  private async fetchLoop(): Promise<void> {
    const stop = this.stopController.signal;
    while (!this.isStopping()) {
      if (this.waitingForRoom) {
        // Only room given back (an attempt ending) can let that job in: not a slot freed by a hand-back.
        await untilAborted(this.capacity.roomFreed(), [stop]).catch(() => undefined);
        this.waitingForRoom = false;
        continue;
      }
      if (!this.capacity.hasFreeSlot()) {
        await untilAborted(this.capacity.changed(), [stop]).catch(() => undefined);
        continue;
      }
      // A job fetched while the engine is away (restarting, crashed) would only spend an attempt failing:
      // nothing is fetched until it answers again.
      const engineAnswers = await this.engine.untilAnswering(stop).then(
        () => true,
        () => false,
      );
      if (!engineAnswers) continue;
      const worker = this.worker;
      if (worker === undefined) return;
      const token = randomUUID();
      this.watchdog.fetchStarted();
      // Typed as always a job, but undefined when the block timed out.
      const fetch: Promise<Job | undefined> = worker.getNextJob(token, { block: true });
      let job: Job | undefined;
      try {
        job = await untilAborted(fetch, [stop, this.workerRecreated.signal]);
        this.watchdog.fetchEnded();
        this.metrics.fetches.inc({ result: job ? 'job' : 'empty' });
      } catch (error) {
        this.watchdog.fetchEnded();
        if (this.isStopping()) {
          // The fetch in flight may still bring a job (at most one block from now): give it back before
          // the loop ends, so what is handed back after the loop can no longer be fetched here again.
          const late = await withTimeout(fetch, this.deps.settings.daemon.fetchBlockMs + 5_000).catch(
            () => undefined,
          );
          if (late && late !== TIMED_OUT) await this.handBackUntouched(late, late.id ?? '', token);
          break;
        }
        if (error instanceof WatchdogTripped) continue;
        this.metrics.fetches.inc({ result: 'error' });
        this.logger.warn({ err: error }, 'queue.fetch_failed');
        await sleep(1_000, undefined, { signal: stop }).catch(() => undefined);
        continue;
      } finally {
        if (job === undefined && !this.isStopping()) {
          // A fetch abandoned by the watchdog may still bring a job: give it straight back.
          fetch.then(
            (late) => (late ? this.handBackUntouched(late, late.id ?? '', token) : undefined),
            () => undefined,
          );
        }
      }
      if (job === undefined) continue;
      if (!(await this.engine.answersNow())) {
        // The engine went away while the fetch waited: the job goes back unspent.
        await this.handBackUntouched(job, job.id ?? '', token);
        continue;
      }
      this.take(job, token, worker);
    }
  }

  /**
   * A fetch that has not come back long after its block timeout while Redis answers is a worker that
   * stopped fetching: fetching goes on through a new one. (While Redis does not answer, the fetch is just
   * waiting for it.) The old worker is closed once the jobs it fetched are done.
   */
  private async checkWatchdog(): Promise<void> {
    if (this.isStopping() || !this.watchdog.isStuck()) return;
    const redisAnswers = await withTimeout(this.deps.queue.ping(), 2_000).then(
      (answered) => answered !== TIMED_OUT,
      () => false,
    );
    if (!redisAnswers || this.isStopping() || !this.watchdog.isStuck()) return;
    this.logger.error('queue.fetch_stuck');
    this.metrics.watchdogRestarts.inc();
    const old = this.worker;
    this.worker = this.createWorker();
    void this.worker.startStalledCheckTimer();
    const tripped = this.workerRecreated;
    this.workerRecreated = new AbortController();
    tripped.abort(new WatchdogTripped());
    if (old === undefined) return;
    if ((this.jobsOf.get(old) ?? 0) === 0) void this.closeWorker(old);
    else this.retired.add(old);
  }

  /** Back to the queue unspent: the attempt it started is counted as handed back. */
  private async handBackUntouched(job: Job, invocationId: string, token: string): Promise<void> {
    try {
      await job.moveToWait(token);
      await this.deps.store.countHandback(invocationId).catch(() => undefined);
    } catch (error) {
      this.logger.warn({ err: error, jobId: job.id }, 'queue.hand_back_failed');
    }
  }

  /** Starts handling a fetched job; it holds a slot and is tracked in `running` until it is done with. */
  private take(job: Job, token: string, worker: Worker): void {
    const invocationId = String(job.id);
    const run: Running = {
      token,
      invocationId,
      attempt: job.attemptsStarted,
      controller: new AbortController(),
      done: Promise.resolve(),
    };
    this.capacity.claimSlot();
    this.running.set(token, run);
    this.jobsOf.set(worker, (this.jobsOf.get(worker) ?? 0) + 1);
    run.done = this.handle(job, token, run)
      .catch((error: unknown) => {
        this.logger.error({ err: error, invocationId }, 'invocation.handling_failed');
      })
      .finally(() => {
        this.running.delete(token);
        this.capacity.releaseSlot();
        const left = (this.jobsOf.get(worker) ?? 1) - 1;
        this.jobsOf.set(worker, left);
        if (left === 0 && this.retired.has(worker)) void this.closeWorker(worker);
      });
  }

  private async handle(job: Job, token: string, run: Running): Promise<void> {
    const { store } = this.deps;
    const { invocationId, attempt } = run;
    const logger = this.logger.child({ invocationId, attempt });
    if (job.data instanceof UnreadableJobData) {
      await this.reject(job, token, logger, job.data.reason);
      return;
    }
    const parsed = JobData.safeParse(job.data);
    if (!parsed.success || parsed.data.invocation_id !== invocationId) {
      await this.reject(job, token, logger, 'the job must carry {"invocation_id": <its own job id>} only');
      return;
    }
    const record = await store.get(invocationId).catch((error: unknown) => {
      // A record that cannot be read will not become readable by fetching its job again.
      if (error instanceof MalformedRecordError) return error;
      throw error;
    });
    if (record instanceof MalformedRecordError) {
      await this.reject(job, token, logger, record.message);
      return;
    }
    if (record === undefined) {
      await this.reject(job, token, logger, `no invocation record ${invocationId}`);
      return;
    }
    const request = InvocationRequest.safeParse(record.request);
    if (!request.success) {
      // The detail names each bad field (a crafted image reference, an env var name…); one line.
      const reason = formatZodError(request.error, `invocation ${invocationId}'s request`).replace(
        /\n\s*/g,
        ' ',
      );
      await store.startAttempt(invocationId, attempt);
      if (!record.is_finished && record.last_status !== InvocationStatus.Failed) {
        await store.transition(invocationId, InvocationStatus.Failed, reason, { attempt, final: true });
      }
      await this.reject(job, token, logger, reason);
      return;
    }
    this.metrics.queueToStartSeconds.observe({ until: 'pickup' }, (Date.now() - job.timestamp) / 1000);

    const requirements = requirementsOf(request.data);
    const shortfall = capacityShortfall(requirements, this.deps.settings.capacity);
    if (shortfall !== undefined) {
      const detail = `setup failed: ${shortfall}`;
      await store.startAttempt(invocationId, attempt);
      if (record.last_status === InvocationStatus.Failed && !record.is_finished) {
        await store.transition(invocationId, InvocationStatus.Deadly, detail, { attempt });
      } else if (!record.is_finished && !FINAL_STATUSES.has(record.last_status)) {
        await store.transition(invocationId, InvocationStatus.Failed, detail, { attempt, final: true });
      }
      await job.moveToCompleted({ status: 'Failed', detail }, token, false);
      this.metrics.recordAttempt(InvocationStatus.Failed, 'bad_input', []);
      return;
    }
    const reservation = this.capacity.tryReserve(requirements);
    if (reservation === undefined) {
      // It fits this worker, just not beside what runs now: back to the queue, where another worker may
      // have room; this one fetches again once something finishes.
      logger.info({ requirements, used: this.capacity.usage() }, 'invocation.no_room_yet');
      this.waitingForRoom = true;
      await this.handBackUntouched(job, invocationId, token);
      return;
    }
    try {
      await this.runAttempt(job, token, run, request.data, logger);
    } finally {
      this.capacity.release(reservation);
    }
  }

  /** An unusable job: failed for good with the reason, and the worker goes on. */
  private async reject(job: Job, token: string, logger: Logger, reason: string): Promise<void> {
    logger.error({ jobId: job.id, reason }, 'queue.job_rejected');
    await job.moveToFailed(new UnrecoverableError(`rejected: ${reason}`), token, false);
  }

  private async runAttempt(
    job: Job,
    token: string,
    run: Running,
    request: InvocationRequest,
    logger: Logger,
  ): Promise<void> {
    const { store, settings } = this.deps;
    const { invocationId, attempt, controller } = run;
    const lease = new Lease(job, token, settings.daemon.lockDurationMs, logger);
    lease.lost.addEventListener('abort', () => {
      this.metrics.leaseLost.inc();
      controller.abort(lease.lost.reason);
    });
    // Nothing happens before the first renewal has succeeded: a lock already gone is found out now.
    await lease.assertHeld();
    lease.start();
    try {
      // From here on no earlier attempt can write to the record.
      await store.startAttempt(invocationId, attempt);
      if ((await this.settlePrevious(invocationId, attempt, logger)) === 'done') {
        lease.stop();
        await job.moveToCompleted({ status: 'already settled' }, token, false);
        return;
      }
      const heartbeat = setInterval(() => {
        void this.beat(invocationId, attempt, lease, logger);
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
              ),
              lease,
            ),
            secrets: this.deps.secrets,
            status: {
              record: (status, detail, failure) =>
                this.writeStatus(invocationId, attempt, status, detail, lease, failure),
            },
            // The pipeline adds the invocation id and attempt itself.
            logger: this.logger,
            settings: {
              workerId: this.workerId,
              owner: {
                host: os.hostname(),
                pid: process.pid,
                workerId: this.workerId,
                pidNamespace: currentPidNamespace(),
                deployment: this.ourDeployment(),
              },
              workspaceParentDir: settings.workspaceDir,
              keepWorkspace: false,
              apiKey: settings.roboto.apiKey,
              serviceEndpoint: settings.roboto.serviceEndpoint,
              environmentLabel: `action-worker (${os.hostname()})`,
              container: settings.container,
              images: settings.images,
              logs: settings.logs,
              logFile: null,
              cache: settings.cache,
              secretsTmpfsDir: settings.secretsTmpfsDir,
            },
            onOutput: (stream: OutputStream, chunk: Buffer) => {
              if (!lease.isLost) live.write(stream, chunk);
              return Promise.resolve();
            },
            forceSignal: this.forceController.signal,
            onTransfer: transferCounter(this.metrics),
          },
          controller.signal,
        );
      } finally {
        clearInterval(heartbeat);
        await live.close();
      }
      const processing = outcome.history.find((entry) => entry.status === InvocationStatus.Processing);
      if (processing) {
        this.metrics.queueToStartSeconds.observe(
          { until: 'container' },
          (Date.parse(processing.timestamp) - job.timestamp) / 1000,
        );
      }
      if (lease.isLost) {
        // Fenced: another attempt may hold the invocation now. Write nothing, leave the job alone.
        logger.warn({ status: statusName(outcome.status) }, 'invocation.fenced');
        this.metrics.recordAttempt(outcome.status, 'lease_lost', outcome.history);
        return;
      }
      await this.retrying(logger, 'record.log', () => store.setLog(invocationId, outcome.log));
      if (outcome.image) {
        const image = outcome.image;
        await this.retrying(logger, 'record.run_info', () => store.setRunInfo(invocationId, { image }));
      }
      this.metrics.recordAttempt(outcome.status, outcome.failure?.reason, outcome.history);
      await this.conclude(job, token, run, outcome, lease, logger);
    } finally {
      lease.stop();
    }
  }

  /** What follows the attempt: the job completed, retried later, handed back, or failed for good. */
  private async conclude(
    job: Job,
    token: string,
    run: Running,
    outcome: InvocationOutcome,
    lease: Lease,
    logger: Logger,
  ): Promise<void> {
    const { store, settings } = this.deps;
    const { invocationId, attempt, controller } = run;
    const summary = { status: statusName(outcome.status), detail: outcome.detail };
    if (outcome.status !== InvocationStatus.Failed) {
      lease.stop();
      await this.retrying(logger, 'queue.complete', () => job.moveToCompleted(summary, token, false));
      logger.info(summary, 'invocation.finished');
      return;
    }
    if (controller.signal.reason instanceof WorkerShutdownError) {
      // Only once nothing is being fetched here can the job go back without this worker taking it again.
      await this.loopEnded();
      await this.writeStatus(
        invocationId,
        attempt,
        InvocationStatus.Queued,
        'handed back: the worker is shutting down',
        lease,
      );
      await this.retrying(logger, 'record.handback', () => store.countHandback(invocationId));
      lease.stop();
      await this.retrying(logger, 'queue.hand_back', () => job.moveToWait(token));
      logger.info('invocation.handed_back');
      return;
    }
    const record = await store.get(invocationId);
    const spent = attempt - (record?.handbacks ?? 0);
    const next = afterFailure(outcome.failure, spent, settings.daemon);
    if (next.kind === 'final') {
      // The Failed was written final already (not retryable), in the same write.
      lease.stop();
      await this.retrying(logger, 'queue.complete', () => job.moveToCompleted(summary, token, false));
      logger.info(summary, 'invocation.finished');
    } else if (next.kind === 'retry') {
      const detail = `retrying (attempt ${next.nextAttempt} of ${settings.daemon.maxAttempts}) in ${formatDuration(next.delayMs)}`;
      await this.writeStatus(invocationId, attempt, InvocationStatus.Queued, detail, lease);
      lease.stop();
      await this.retrying(logger, 'queue.delay', () => job.moveToDelayed(Date.now() + next.delayMs, token));
      logger.info({ ...summary, delayMs: next.delayMs }, 'invocation.retry_scheduled');
    } else {
      const detail = `gave up after ${spent} attempt(s); the last: ${outcome.detail ?? 'failed'}`;
      await this.writeStatus(invocationId, attempt, InvocationStatus.Deadly, detail, lease);
      lease.stop();
      await this.retrying(logger, 'queue.fail', () =>
        job.moveToFailed(new UnrecoverableError(detail), token, false),
      );
      logger.warn({ detail }, 'invocation.deadly');
    }
  }

  /**
   * Brings a record left by an earlier attempt to Queued before this one runs: a lost attempt is Failed,
   * then retried or Deadly as the attempts allow. "done" when there is nothing to run (already finished
   * or cancelled).
   */
  private async settlePrevious(
    invocationId: string,
    attempt: number,
    logger: Logger,
  ): Promise<'run' | 'done'> {
    const { store, settings } = this.deps;
    let record = await this.mustGet(invocationId);
    if (record.is_finished || FINAL_STATUSES.has(record.last_status)) {
      logger.info({ status: statusName(record.last_status) }, 'invocation.already_settled');
      return 'done';
    }
    if (RUNNING_STATUSES.has(record.last_status)) {
      logger.warn({ status: statusName(record.last_status) }, 'invocation.previous_attempt_lost');
      record = await store.transition(
        invocationId,
        InvocationStatus.Failed,
        `attempt ${attempt - 1} was lost: its worker stopped holding the invocation`,
        { attempt },
      );
    }
    if (record.last_status === InvocationStatus.Failed) {
      const spent = attempt - 1 - record.handbacks;
      const next = afterFailure({ retryable: true }, spent, settings.daemon);
      if (next.kind !== 'retry' && !record.is_cancel_requested) {
        await store.transition(invocationId, InvocationStatus.Deadly, `gave up after ${spent} attempt(s)`, {
          attempt,
        });
        return 'done';
      }
      const detail = record.is_cancel_requested
        ? 'no retry: cancel requested'
        : `retrying (attempt ${next.kind === 'retry' ? next.nextAttempt : attempt} of ${settings.daemon.maxAttempts})`;
      record = await store.transition(invocationId, InvocationStatus.Queued, detail, { attempt });
    }
    if (record.is_cancel_requested) {
      await store.transition(invocationId, InvocationStatus.Cancelled, 'cancelled before it ran', {
        attempt,
      });
      return 'done';
    }
    return 'run';
  }

  private async mustGet(invocationId: string): Promise<InvocationRecord> {
    const record = await this.deps.store.get(invocationId);
    if (record === undefined) throw new Error(`invocation ${invocationId} vanished`);
    return record;
  }

  private planFor(invocationId: string, attempt: number, request: InvocationRequest): InvocationPlan {
    return planFromRequest(request, {
      invocationId,
      attempt,
      defaultTimeoutMinutes: this.deps.settings.defaultTimeoutMinutes,
    });
  }

  /**
   * A status write of a running attempt: fenced by the attempt number, retried through Redis trouble
   * until it lands or the lease is lost; once the lease is lost nothing more is written.
   */
  private async writeStatus(
    invocationId: string,
    attempt: number,
    status: InvocationStatus,
    detail: string | null,
    lease: Lease,
    failure?: { retryable: boolean },
  ): Promise<void> {
    // A Failed that will not be retried is final in the same write, so no later attempt can retry it.
    const final = status === InvocationStatus.Failed ? failure?.retryable === false : undefined;
    for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
      if (lease.isLost) return;
      try {
        await this.deps.store.transition(invocationId, status, detail, {
          attempt,
          ...(final === undefined ? {} : { final }),
        });
        return;
      } catch (error) {
        if (error instanceof FencedError) {
          // A later attempt holds the invocation: this one is over.
          lease.markLost(`attempt ${attempt} was superseded (its status write was refused)`);
          return;
        }
        if (error instanceof ActionWorkerError) throw error;
        this.logger.warn({ err: error, invocationId, status: statusName(status) }, 'record.write_failed');
        await sleep(delay);
      }
    }
  }

  /** Retries a write through Redis trouble for up to a lock duration; then gives up loudly. */
  private async retrying<T>(logger: Logger, what: string, write: () => Promise<T>): Promise<T | undefined> {
    const deadline = Date.now() + this.deps.settings.daemon.lockDurationMs;
    for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        return await write();
      } catch (error) {
        if (Date.now() + delay > deadline) {
          logger.error({ err: error, what }, 'record.write_gave_up');
          return undefined;
        }
        logger.warn({ err: error, what }, 'record.write_failed');
        await sleep(delay);
      }
    }
  }

  /** The heartbeat, and the cancel flag polled as a backstop to the pub/sub message. */
  private async beat(invocationId: string, attempt: number, lease: Lease, logger: Logger): Promise<void> {
    if (lease.isLost) return;
    try {
      await this.deps.store.heartbeat(invocationId, attempt);
      const record = await this.deps.store.get(invocationId);
      if (record?.is_cancel_requested) this.cancelLocal(invocationId, 'cancel flag seen');
    } catch (error) {
      if (error instanceof FencedError) {
        lease.markLost(`attempt ${attempt} was superseded (its heartbeat was refused)`);
        return;
      }
      logger.warn({ err: error }, 'record.heartbeat_failed');
    }
  }

  private cancelLocal(invocationId: string, why: string): void {
    for (const run of this.running.values()) {
      if (run.invocationId !== invocationId || run.controller.signal.aborted) continue;
      this.logger.info({ invocationId, attempt: run.attempt, why }, 'invocation.cancelling');
      run.controller.abort(new CancelledError());
    }
  }

  /** Removes our deployment's dead leftovers; see {@link Reconciler}. Nothing before start-up. */
  async reconcile(when: 'startup' | 'periodic'): Promise<void> {
    await this.reconciler?.run(when);
  }

  /** Known once started: nothing runs before that, so nothing is ever labelled without it. */
  private ourDeployment(): Deployment {
    if (this.deployment === undefined) throw new Error('the daemon runs nothing before it has started');
    return this.deployment;
  }
}

class WatchdogTripped extends Error {}

/**
 * `promise`, or a rejection with the reason of the first of `signals` to abort; the listeners are removed
 * once it settles, so a loop racing the same signals again and again leaves nothing behind.
 */
function untilAborted<T>(promise: Promise<T>, signals: readonly AbortSignal[]): Promise<T> {
  const aborted = signals.find((signal) => signal.aborted);
  if (aborted) return Promise.reject(reasonOf(aborted));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (event: Event): void => {
      cleanUp();
      reject(reasonOf(event.target as AbortSignal));
    };
    const cleanUp = (): void => {
      for (const signal of signals) signal.removeEventListener('abort', onAbort);
    };
    for (const signal of signals) signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        cleanUp();
        resolve(value);
      },
      (error: unknown) => {
        cleanUp();
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function reasonOf(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

/** Every write of outputs first proves the lease is still held: a zombie attempt stores nothing. */
function fencedOutputs(target: OutputTarget, lease: Lease): OutputTarget {
  return {
    upload: async (datasetId, files, signal) => {
      await lease.assertHeld();
      return await target.upload(datasetId, files, signal);
    },
    ensureDataset: async (dataset) => {
      await lease.assertHeld();
      await target.ensureDataset(dataset);
    },
    updateFile: async (fileId, update) => {
      await lease.assertHeld();
      await target.updateFile(fileId, update);
    },
    updateDataset: async (datasetId, changeset) => {
      await lease.assertHeld();
      await target.updateDataset(datasetId, changeset);
    },
  };
}

function transferCounter(metrics: DaemonMetrics): (phase: 'download' | 'upload', bytes: number) => void {
  const last = { download: 0, upload: 0 };
  return (phase, bytes) => {
    if (bytes > last[phase]) metrics.bytes.inc({ direction: phase }, bytes - last[phase]);
    last[phase] = bytes;
  };
}
