import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Job, UnrecoverableError, type Worker } from 'bullmq';
import type { Logger } from 'pino';
import {
  FetchAbandoned,
  type JobSource,
  type JobSourceListener,
  type LeasedJob,
} from '../../ports/job-source.js';
import { untilAborted } from '../../util/until-aborted.js';
import { TIMED_OUT, withTimeout } from '../../util/with-timeout.js';
import { FetchWatchdog, fetchStallLimitMs } from './fetch-watchdog.js';
import { JobData, type QueueLocation, bullConnection } from './invocation-queue.js';
import { InvocationWorker, UnreadableJobData } from './invocation-worker.js';

export interface BullmqJobSourceOptions {
  location: QueueLocation;
  /** The lock on a fetched job, renewed by its holder (`daemon.lockDurationMs`). */
  lockDurationMs: number;
  /** How often BullMQ looks for stalled jobs (`daemon.stalledIntervalMs`). */
  stalledIntervalMs: number;
  /** How long one fetch blocks waiting for a job (`daemon.fetchBlockMs`). */
  fetchBlockMs: number;
  /** The BullMQ worker's name: the daemon's worker id. */
  workerName: string;
  logger: Logger;
  /** Answers when Redis does: a fetch is called stuck only while Redis answers. */
  ping: () => Promise<void>;
}

/** Why a job whose data is readable but not the invocation's id alone is failed. */
const NOT_ITS_OWN_ID = 'the job must carry {"invocation_id": <its own job id>} only';

/**
 * The daemon's jobs from a BullMQ queue. It owns the BullMQ `Worker` (fetching by hand, one blocking fetch
 * at a time), the watchdog that replaces a worker whose fetch is stuck, and the retirement of a replaced
 * worker: a job moves and renews through its worker's connection, so a replaced worker is closed only once
 * the jobs it fetched are released.
 */
export class BullmqJobSource implements JobSource {
  private readonly watchdog: FetchWatchdog;
  private worker: Worker | undefined;
  /** Jobs fetched through each worker and not yet released. */
  private readonly jobsOf = new Map<Worker, number>();
  private readonly retired = new Set<Worker>();
  /** Aborted when the watchdog replaces the worker. */
  private workerReplaced = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private isClosing = false;
  /** The signal of the latest fetch: once aborted, the watchdog stands down. */
  private stopSignal: AbortSignal | undefined;
  /** Set by `start`. */
  private listener: JobSourceListener | undefined;

  constructor(private readonly options: BullmqJobSourceOptions) {
    this.watchdog = new FetchWatchdog(fetchStallLimitMs(options.fetchBlockMs));
  }

  async start(listener: JobSourceListener): Promise<void> {
    this.listener = listener;
    this.worker = this.createWorker();
    await this.worker.startStalledCheckTimer();
    let isBusy = false;
    this.timer = setInterval(
      () => {
        if (isBusy) return;
        isBusy = true;
        this.checkWatchdog()
          .catch((error: unknown) => {
            this.options.logger.error({ err: error }, 'daemon.task_failed');
          })
          .finally(() => {
            isBusy = false;
          });
      },
      Math.max(1_000, Math.floor(this.options.fetchBlockMs / 2)),
    );
    this.timer.unref();
  }

  isFetchHealthy(): boolean {
    return this.watchdog.isRecent();
  }

  private isStopping(): boolean {
    return this.isClosing || this.stopSignal?.aborted === true;
  }

  async next(signal: AbortSignal): Promise<LeasedJob | undefined> {
    this.stopSignal = signal;
    const worker = this.worker;
    if (worker === undefined) throw new Error('the job source has not started');
    const token = randomUUID();
    this.watchdog.fetchStarted();
    // Typed as always a job, but undefined when the block timed out.
    const fetch: Promise<Job | undefined> = worker.getNextJob(token, { block: true });
    let job: Job | undefined;
    try {
      job = await untilAborted(fetch, [signal, this.workerReplaced.signal]);
      this.watchdog.fetchEnded();
    } catch (error) {
      this.watchdog.fetchEnded();
      if (signal.aborted) {
        // The fetch in flight may still bring a job (at most one block from now): it goes back before
        // this returns, so what is handed back afterwards can no longer be fetched here again.
        const late = await withTimeout(fetch, this.options.fetchBlockMs + 5_000).catch(() => undefined);
        if (late && late !== TIMED_OUT) await this.listener?.onLateJob(this.lease(late, token));
        throw error;
      }
      if (error instanceof FetchAbandoned) {
        // A fetch abandoned by the watchdog may still bring a job: it goes straight back.
        fetch.then(
          (late) => (late ? this.listener?.onLateJob(this.lease(late, token)) : undefined),
          () => undefined,
        );
      }
      throw error;
    }
    if (job === undefined) return undefined;
    this.jobsOf.set(worker, (this.jobsOf.get(worker) ?? 0) + 1);
    return this.lease(job, token, () => {
      const left = (this.jobsOf.get(worker) ?? 1) - 1;
      this.jobsOf.set(worker, left);
      if (left === 0 && this.retired.has(worker)) void this.closeWorker(worker);
    });
  }

  async close(): Promise<void> {
    this.isClosing = true;
    clearInterval(this.timer);
    await Promise.all([this.worker, ...this.retired].map((worker) => this.closeWorker(worker)));
  }

  private lease(job: Job, token: string, onRelease?: () => void): LeasedJob {
    return new BullmqLeasedJob(job, token, onRelease);
  }

  private createWorker(): Worker {
    const { location, lockDurationMs, stalledIntervalMs, fetchBlockMs, workerName, logger } = this.options;
    const worker = new InvocationWorker(location.queue, null, {
      // The lease renewals go through this connection: it reconnects well within a lock duration.
      connection: bullConnection(location.url, 'wait', { lockDurationMs }),
      prefix: location.keyPrefix,
      autorun: false,
      lockDuration: lockDurationMs,
      stalledInterval: stalledIntervalMs,
      // Redelivery after a lost worker is counted by us (attempts started less those handed back), so
      // BullMQ must never fail a job for stalling.
      maxStalledCount: 1_000_000,
      drainDelay: Math.ceil(fetchBlockMs / 1000),
      name: workerName,
    });
    worker.on('error', (error) => {
      logger.warn({ err: error }, 'queue.worker_error');
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
      this.options.logger.warn('queue.worker_close_timeout');
      await Promise.race([
        worker.disconnect().catch(() => undefined),
        sleep(5_000, undefined, { ref: false }),
      ]);
    }
  }

  /**
   * A fetch that has not come back long after its block timeout while Redis answers is a worker that
   * stopped fetching: fetching goes on through a new one. (While Redis does not answer, the fetch is just
   * waiting for it.) The old worker is closed once the jobs it fetched are released.
   */
  private async checkWatchdog(): Promise<void> {
    if (this.isStopping() || !this.watchdog.isStuck()) return;
    const redisAnswers = await withTimeout(this.options.ping(), 2_000).then(
      (answered) => answered !== TIMED_OUT,
      () => false,
    );
    if (!redisAnswers || this.isStopping() || !this.watchdog.isStuck()) return;
    this.options.logger.error('queue.fetch_stuck');
    this.listener?.onFetchRestarted();
    const old = this.worker;
    this.worker = this.createWorker();
    void this.worker.startStalledCheckTimer();
    const tripped = this.workerReplaced;
    this.workerReplaced = new AbortController();
    tripped.abort(new FetchAbandoned());
    if (old === undefined) return;
    if ((this.jobsOf.get(old) ?? 0) === 0) void this.closeWorker(old);
    else this.retired.add(old);
  }
}

/**
 * A BullMQ job held under its fetch's lock token. Its data is checked here: a job carries
 * `{"invocation_id": <its own job id>}` and nothing else, or it is unreadable.
 */
class BullmqLeasedJob implements LeasedJob {
  readonly id: string;
  readonly attempt: number;
  readonly enqueuedAt: number;
  readonly invocationId: string | undefined;
  readonly unreadable: string | undefined;
  private isReleased = false;

  constructor(
    private readonly job: Job,
    private readonly token: string,
    private readonly onRelease: (() => void) | undefined,
  ) {
    this.id = job.id ?? '';
    this.attempt = job.attemptsStarted;
    this.enqueuedAt = job.timestamp;
    const data: unknown = job.data;
    if (data instanceof UnreadableJobData) {
      this.unreadable = data.reason;
      return;
    }
    const parsed = JobData.safeParse(data);
    if (parsed.success && parsed.data.invocation_id === this.id) this.invocationId = this.id;
    else this.unreadable = NOT_ITS_OWN_ID;
  }

  async renewLock(durationMs: number): Promise<boolean> {
    return (await this.job.extendLock(this.token, durationMs)) === 1;
  }

  async complete(summary: Record<string, unknown>): Promise<void> {
    await this.job.moveToCompleted(summary, this.token, false);
  }

  async retryAt(atMs: number): Promise<void> {
    await this.job.moveToDelayed(atMs, this.token);
  }

  async handBack(): Promise<void> {
    await this.job.moveToWait(this.token);
  }

  async fail(reason: string): Promise<void> {
    // Only here does a failure become BullMQ's: never retried by BullMQ itself.
    await this.job.moveToFailed(new UnrecoverableError(reason), this.token, false);
  }

  release(): void {
    if (this.isReleased) return;
    this.isReleased = true;
    this.onRelease?.();
  }
}
