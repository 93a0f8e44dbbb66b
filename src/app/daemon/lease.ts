import type { Logger } from 'pino';
import { ActionWorkerError, InfrastructureError } from '../../domain/errors.js';
import type { LeasedJob } from '../../ports/job-source.js';
import { TIMED_OUT, withTimeout } from '../../util/with-timeout.js';

/** The lease on an invocation's job ran out or went to someone else: this attempt must write nothing more. */
export class LeaseLostError extends ActionWorkerError {
  constructor(message: string) {
    super(message, { code: 'E_LEASE_LOST', retryable: true });
  }
}

/** The worker is stopping: the attempt is handed back to the queue without spending an attempt. */
export class WorkerShutdownError extends ActionWorkerError {
  constructor() {
    super('the worker is shutting down; the invocation goes back to the queue', {
      code: 'E_WORKER_SHUTDOWN',
      retryable: true,
    });
  }
}

/** The part of a leased job the lease needs (see {@link LeasedJob}). */
export type LockedJob = Pick<LeasedJob, 'renewLock'>;

/**
 * The fenced lease on one job. It is renewed on its own timer every third of the lock duration, so heavy
 * work elsewhere cannot let it lapse unnoticed. It is lost when a renewal is refused (the lock is someone
 * else's or gone) or when no renewal has succeeded for a whole lock duration (Redis unreachable: the lock
 * has surely expired). Once lost, `lost` is aborted with a LeaseLostError and stays so.
 */
export class Lease {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private lastRenewedAt: number;
  /** Successful renewals so far. */
  private renewals = 0;
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly job: LockedJob,
    private readonly lockDurationMs: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.lastRenewedAt = now();
  }

  get lost(): AbortSignal {
    return this.controller.signal;
  }

  get isLost(): boolean {
    return this.controller.signal.aborted;
  }

  /**
   * Renews now and returns only when that renewal succeeded: LeaseLostError when the lease is (or was
   * already) lost, a retryable InfrastructureError when Redis did not confirm it in time.
   */
  async assertHeld(): Promise<void> {
    const before = this.renewals;
    await this.renew();
    if (this.isLost) throw this.controller.signal.reason as LeaseLostError;
    if (this.renewals === before) {
      throw new InfrastructureError(
        'the lease on the invocation could not be confirmed: Redis did not answer',
        'E_IO',
      );
    }
  }

  /** Gives the lease up as lost: a write of this attempt was refused because a later attempt holds it. */
  markLost(why: string): void {
    this.lose(why);
  }

  start(): void {
    this.timer ??= setInterval(() => {
      // Counted on every tick, whether or not a renewal is still waiting for Redis: a lease nobody renewed
      // for a whole lock duration has expired.
      this.checkExpiry();
      void this.renew();
    }, this.renewEveryMs);
    this.timer.unref();
  }

  private get renewEveryMs(): number {
    return Math.max(250, Math.floor(this.lockDurationMs / 3));
  }

  private checkExpiry(): void {
    const sinceMs = this.now() - this.lastRenewedAt;
    if (sinceMs >= this.lockDurationMs) this.lose(`no renewal succeeded for ${Math.round(sinceMs / 1000)} s`);
  }

  /** Stops renewing (before the job is moved on: the move releases the lock). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private renew(): Promise<void> {
    // One renewal at a time: a slow one is waited for rather than raced.
    this.renewing ??= this.renewOnce().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async renewOnce(): Promise<void> {
    if (this.isLost) return;
    try {
      // Requests wait through a reconnect rather than fail: a renewal Redis does not answer in time is a
      // failed one.
      const extended = await withTimeout(this.job.renewLock(this.lockDurationMs), this.renewEveryMs);
      if (extended === TIMED_OUT) throw new Error(`no answer within ${this.renewEveryMs} ms`);
      if (extended) {
        this.lastRenewedAt = this.now();
        this.renewals += 1;
        return;
      }
      this.lose('the lock was taken over or expired');
    } catch (error) {
      const sinceMs = this.now() - this.lastRenewedAt;
      if (sinceMs >= this.lockDurationMs) {
        this.lose(`no renewal succeeded for ${Math.round(sinceMs / 1000)} s (${(error as Error).message})`);
      } else {
        this.logger.warn({ err: error, sinceMs }, 'lease.renew_failed');
      }
    }
  }

  private lose(why: string): void {
    if (this.isLost) return;
    this.stop();
    this.logger.error({ why }, 'lease.lost');
    this.controller.abort(new LeaseLostError(`the lease on the invocation was lost: ${why}`));
  }
}
