import pRetry from 'p-retry';
import type { Logger } from 'pino';
import { type Backoff, backoffDelay } from '../../util/backoff.js';
import { TIMED_OUT, withTimeout } from '../../util/with-timeout.js';

export interface EngineHealthOptions {
  /**
   * A ping that answered this recently vouches for the engine without another one.
   * @defaultValue 1000
   */
  freshForMs?: number;
  /**
   * A ping not answered within this long counts as failed (as the readiness check does).
   * @defaultValue 2000
   */
  probeTimeoutMs?: number;
  /**
   * The wait after the first failed ping; it doubles with each further one.
   * @defaultValue 500
   */
  firstRetryDelayMs?: number;
  /**
   * The wait between pings while the engine is away grows up to this.
   * @defaultValue 5000
   */
  maxRetryDelayMs?: number;
}

/** Waits between pings of an engine that does not answer at start-up: from 500 ms, doubling, to 10 s. */
const START_UP_BACKOFF: Backoff = { factor: 2, minTimeout: 500, maxTimeout: 10_000, randomize: false };

/**
 * Whether the container engine answers, asked before every fetch: a worker whose engine is away (restarting,
 * crashed, its socket gone) takes nothing, so no attempt is spent on an engine that cannot run it. It logs
 * `docker.unreachable` once when the engine stops answering and `docker.reachable` when it is back.
 */
export class EngineHealth {
  private lastAnsweredAt = Number.NEGATIVE_INFINITY;
  private isAway = false;
  private readonly freshForMs: number;
  private readonly probeTimeoutMs: number;
  private readonly firstRetryDelayMs: number;
  private readonly maxRetryDelayMs: number;

  constructor(
    private readonly ping: () => Promise<void>,
    private readonly logger: Logger,
    options: EngineHealthOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.freshForMs = options.freshForMs ?? 1_000;
    this.probeTimeoutMs = options.probeTimeoutMs ?? 2_000;
    this.firstRetryDelayMs = options.firstRetryDelayMs ?? 500;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 5_000;
  }

  /** Whether the engine answered its last ping (false once one failed, until one succeeds). */
  get isAnswering(): boolean {
    return !this.isAway;
  }

  /**
   * Resolves once the engine answers: at once when it answered within `freshForMs`, else after pinging
   * it as many times as it takes. Rejects with the signal's reason when the signal is aborted first.
   */
  async untilAnswering(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    await pRetry(
      async () => {
        if (this.now() - this.lastAnsweredAt < this.freshForMs) return;
        const error = await this.probe();
        if (error === undefined) return;
        this.markAway(error);
        throw error instanceof Error ? error : new Error('the engine did not answer', { cause: error });
      },
      {
        forever: true,
        factor: 2,
        minTimeout: this.firstRetryDelayMs,
        maxTimeout: this.maxRetryDelayMs,
        randomize: false,
        signal,
      },
    );
  }

  /**
   * At start-up: resolves once the engine answers a ping, however long that takes (each failed ping is
   * logged as `docker.unreachable` with the wait before the next); rejects with the signal's reason when
   * the signal is aborted first. No probe timeout: a slow first answer is still an answer.
   */
  async untilFirstAnswer(signal: AbortSignal): Promise<void> {
    await pRetry(() => this.ping(), {
      ...START_UP_BACKOFF,
      // Enough tries to reach the capped wait long before they run out; then they start over.
      forever: true,
      retries: 2_000,
      signal,
      onFailedAttempt: (error) => {
        if (signal.aborted) return;
        const retryInMs = backoffDelay(START_UP_BACKOFF, error.attemptNumber);
        this.logger.warn({ err: error, retryInMs }, 'docker.unreachable');
      },
    });
  }

  /** Whether the engine answers a ping now (not taken from an earlier one). */
  async answersNow(): Promise<boolean> {
    const error = await this.probe();
    if (error !== undefined) this.markAway(error);
    return error === undefined;
  }

  private markAway(error: unknown): void {
    if (this.isAway) return;
    this.isAway = true;
    this.logger.warn({ err: error }, 'docker.unreachable');
  }

  /** One ping: undefined when it answered in time, else what went wrong. */
  private async probe(): Promise<unknown> {
    try {
      const answer = await withTimeout(this.ping(), this.probeTimeoutMs);
      if (answer === TIMED_OUT) return new Error(`no answer within ${this.probeTimeoutMs} ms`);
    } catch (error) {
      return error;
    }
    this.lastAnsweredAt = this.now();
    if (this.isAway) {
      this.isAway = false;
      this.logger.info('docker.reachable');
    }
    return undefined;
  }
}
