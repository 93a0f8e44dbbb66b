import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { WorkerSettings } from '../../config/worker-settings.js';
import type { Deployment } from '../../domain/container-labels.js';
import { CancelledError } from '../../domain/errors.js';
import type { ContainerRuntime } from '../../ports/container-runtime.js';
import type { InvocationCredentials } from '../../ports/invocation-credentials.js';
import type { DataStore } from '../../ports/data-store.js';
import type { ChangeNotifier } from '../../ports/trigger-events.js';
import type { InvocationStore } from '../../ports/invocation-store.js';
import type { JobQueue } from '../../ports/job-queue.js';
import { FetchAbandoned, type JobSource, type LeasedJob } from '../../ports/job-source.js';
import type { SecretStore } from '../../ports/secret-store.js';
import { untilAborted } from '../../util/until-aborted.js';
import { withTimeout } from '../../util/with-timeout.js';
import { temporaryDirsOf } from '../garbage-collector.js';
import { admit } from './admission.js';
import { Attempt, type AttemptDeps, type Running } from './attempt.js';
import { CapacityLedger } from './capacity.js';
import { type DaemonState, canMoveTo } from './daemon-state.js';
import { EngineHealth } from './engine-health.js';
import { WorkerShutdownError } from './lease.js';
import { DaemonMetrics } from './metrics.js';
import { PeriodicTasks } from './periodic-tasks.js';
import { Reconciler } from './reconciler.js';

export type { DaemonState } from './daemon-state.js';

/** What the daemon runs on, built by its composition root (compose-daemon.ts) or by a test. */
export interface DaemonDeps {
  settings: WorkerSettings;
  /** This daemon's id among the queue's workers (`newWorkerId`); its job source fetches under it. */
  workerId: string;
  runtime: ContainerRuntime;
  store: InvocationStore;
  queue: JobQueue;
  /** Started by the daemon once it has reconciled; closed by its shutdown. */
  source: JobSource;
  dataStore: DataStore;
  secrets: SecretStore;
  logger: Logger;
  /** Each attempt's own API token (`roboto.invocationTokens`); without it actions get `roboto.apiKey`. */
  credentials?: InvocationCredentials;
  /**
   * Told after each announced change (outputs, changesets): with it they are announced for trigger
   * evaluation through the data store's outbox; none: not announced.
   */
  changes?: ChangeNotifier;
}

/**
 * `action-worker daemon`: takes invocations from the queue while it has room (slots, vCPU, memory), runs
 * each through the same pipeline as a local run under a fenced lease ({@link Attempt}), retries
 * infrastructure failures, reaches cancels from any host, drains on SIGTERM, and cleans up after an earlier
 * run of itself ({@link Reconciler}).
 */
export class Daemon {
  readonly workerId: string;
  readonly metrics: DaemonMetrics;
  private currentState: DaemonState = 'starting';
  /** Made at start-up, once the deployment is known. */
  private reconciler: Reconciler | undefined;
  /**
   * The deployment its containers and workspaces are labelled with: read from Redis at start-up, before
   * anything is reconciled or fetched.
   */
  private deployment: Deployment | undefined;
  private readonly capacity: CapacityLedger;
  /** By fetch token. */
  private readonly running = new Map<string, Running>();
  /** Aborted on leaving `starting`/`running` for `draining`: fetching and start-up stop. */
  private readonly stopController = new AbortController();
  /** Aborted by a second shutdown: containers are killed at once. */
  private readonly forceController = new AbortController();
  private readonly source: JobSource;
  /** Asked before every fetch: nothing is taken while the engine does not answer. */
  private readonly engine: EngineHealth;
  private readonly logger: Logger;
  private loop: Promise<void> | undefined;
  private starting: Promise<void> | undefined;
  private readonly tasks: PeriodicTasks;
  private readonly attemptDeps: AttemptDeps;
  private unsubscribeCancel: (() => Promise<void>) | undefined;
  /** A job did not fit beside what runs: fetch again only once something finishes. */
  private waitingForRoom = false;

  constructor(private readonly deps: DaemonDeps) {
    const { daemon, capacity } = deps.settings;
    this.workerId = deps.workerId;
    this.source = deps.source;
    this.logger = deps.logger.child({ workerId: this.workerId });
    this.capacity = new CapacityLedger(daemon.concurrency, capacity);
    this.engine = new EngineHealth(() => deps.runtime.ping(), this.logger);
    this.tasks = new PeriodicTasks(this.logger);
    this.metrics = new DaemonMetrics({
      running: () => this.running.size,
      capacity: () => this.capacity.usage(),
      queueDepth: () => deps.queue.depth(),
    });
    this.attemptDeps = {
      ...deps,
      logger: this.logger,
      workerId: this.workerId,
      metrics: this.metrics,
      forceSignal: this.forceController.signal,
      cancelLocal: (invocationId, why) => {
        this.cancelLocal(invocationId, why);
      },
      fetchingEnded: () => this.loopEnded(),
    };
  }

  get state(): DaemonState {
    return this.currentState;
  }

  private moveTo(next: DaemonState): void {
    const from = this.currentState;
    if (!canMoveTo(from, next)) return;
    this.currentState = next;
    this.logger.info({ from, to: next }, 'daemon.state');
    if (next === 'draining') this.stopController.abort();
  }

  isStopping(): boolean {
    return this.state === 'draining' || this.state === 'stopping' || this.state === 'stopped';
  }

  /** Whether the fetch loop is healthy: it came back recently, or it is not fetching because all room is taken. */
  isFetching(): boolean {
    if (this.isStopping()) return false;
    if (!this.capacity.hasFreeSlot() || this.waitingForRoom) return true;
    return this.source.isFetchHealthy();
  }

  async start(): Promise<void> {
    this.starting = this.startUp();
    try {
      await this.starting;
    } catch (error) {
      this.moveTo('failed');
      throw error;
    }
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
    await this.source.start({
      onLateJob: (job) => this.handBackUntouched(job),
      onFetchRestarted: () => {
        this.metrics.watchdogRestarts.inc();
      },
    });
    this.tasks.every(daemon.reconcileIntervalMs, () => this.reconcile('periodic'));
    // An earlier run of this worker in another pid namespace (a restarted container) cannot be proved dead
    // by its pid, only once its lease has run out: look again then rather than a full interval later.
    this.tasks.once(daemon.lockDurationMs + 1_000, () => this.reconcile('periodic'));
    this.moveTo('running');
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
      this.moveTo('stopping');
      this.forceController.abort();
      for (const run of this.running.values()) run.controller.abort(new WorkerShutdownError());
      return;
    }
    const { daemon, container } = this.deps.settings;
    this.moveTo('draining');
    this.capacity.wake();
    // A start-up in progress stops at its next step.
    await this.starting?.catch(() => undefined);
    this.logger.info({ running: this.running.size, drainWindowMs: daemon.drainWindowMs }, 'daemon.draining');
    // A second signal ends the drain early.
    await untilAborted(
      Promise.race([this.allDone(), sleep(daemon.drainWindowMs, undefined, { ref: false })]),
      [this.forceController.signal],
    ).catch(() => undefined);
    this.moveTo('stopping');
    if (this.running.size > 0) {
      const invocations = [...this.running.values()].map((run) => run.invocationId);
      this.logger.warn({ running: invocations }, 'daemon.drain_window_over');
      for (const run of this.running.values()) run.controller.abort(new WorkerShutdownError());
      // The stop ladder (grace, then SIGKILL) runs, then each attempt hands its invocation back.
      await Promise.race([this.allDone(), sleep(container.stopGraceMs + 30_000, undefined, { ref: false })]);
    }
    this.tasks.stopAll();
    await this.loopEnded();
    await this.source.close();
    await this.unsubscribeCancel?.().catch(() => undefined);
    this.moveTo('stopped');
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

  /** Until the engine answers (true), or the daemon is stopped meanwhile (false): a stop is no failure. */
  private async waitForDocker(): Promise<boolean> {
    try {
      await this.engine.untilFirstAnswer(this.stopController.signal);
      return !this.isStopping();
    } catch (error) {
      if (this.isStopping()) return false;
      throw error;
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
      let job: LeasedJob | undefined;
      try {
        job = await this.source.next(stop);
        this.metrics.fetches.inc({ result: job ? 'job' : 'empty' });
      } catch (error) {
        // Stopped: a job the fetch in flight brought has gone back already.
        if (this.isStopping()) break;
        if (error instanceof FetchAbandoned) continue;
        this.metrics.fetches.inc({ result: 'error' });
        this.logger.warn({ err: error }, 'queue.fetch_failed');
        await sleep(1_000, undefined, { signal: stop }).catch(() => undefined);
        continue;
      }
      if (job === undefined) continue;
      if (!(await this.engine.answersNow())) {
        // The engine went away while the fetch waited: the job goes back unspent.
        await this.handBackUntouched(job);
        job.release();
        continue;
      }
      this.take(job);
    }
  }

  /** Back to the queue unspent: the attempt it started is counted as handed back. */
  private async handBackUntouched(job: LeasedJob): Promise<void> {
    try {
      await job.handBack();
      await this.deps.store.countHandback(job.id).catch(() => undefined);
    } catch (error) {
      this.logger.warn({ err: error, jobId: job.id }, 'queue.hand_back_failed');
    }
  }

  /** Starts handling a fetched job; it holds a slot and is tracked in `running` until it is done with. */
  private take(job: LeasedJob): void {
    const token = randomUUID();
    const invocationId = job.id;
    const run: Running = {
      token,
      invocationId,
      attempt: job.attempt,
      controller: new AbortController(),
      done: Promise.resolve(),
    };
    this.capacity.claimSlot();
    this.running.set(token, run);
    run.done = this.handle(job, run)
      .catch((error: unknown) => {
        this.logger.error({ err: error, invocationId }, 'invocation.handling_failed');
      })
      .finally(() => {
        this.running.delete(token);
        this.capacity.releaseSlot();
        job.release();
      });
  }

  /** Admits a fetched job ({@link admit}); one that fits beside what runs goes on as an {@link Attempt}. */
  private async handle(job: LeasedJob, run: Running): Promise<void> {
    const { invocationId, attempt } = run;
    const logger = this.logger.child({ invocationId, attempt });
    const admitted = await admit(
      {
        store: this.deps.store,
        offered: this.deps.settings.capacity,
        metrics: this.metrics,
      },
      job,
      attempt,
      logger,
    );
    if (admitted === undefined) return;
    const { request, requirements } = admitted;
    const reservation = this.capacity.tryReserve(requirements);
    if (reservation === undefined) {
      // It fits this worker, just not beside what runs now: back to the queue, where another worker may
      // have room; this one fetches again once something finishes.
      logger.info({ requirements, used: this.capacity.usage() }, 'invocation.no_room_yet');
      this.waitingForRoom = true;
      await this.handBackUntouched(job);
      return;
    }
    try {
      await new Attempt(this.attemptDeps, job, run, logger).execute(request, this.ourDeployment());
    } finally {
      this.capacity.release(reservation);
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
