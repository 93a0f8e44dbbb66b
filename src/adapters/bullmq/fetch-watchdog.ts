/**
 * How long a fetch may stay out before it counts as stuck: three blocking timeouts and ten seconds more.
 * Also how recent the last fetch must be for fetching to count as healthy.
 */
export function fetchStallLimitMs(fetchBlockMs: number): number {
  return 3 * fetchBlockMs + 10_000;
}

/**
 * Tells when fetching has stalled: a fetch that has not come back long after its blocking timeout, while
 * Redis says it is connected, is a worker that stopped fetching (bullmq#648) and must be recreated.
 */
export class FetchWatchdog {
  private startedAt: number | undefined;
  lastFetchAt: number;

  constructor(
    readonly limitMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.lastFetchAt = now();
  }

  fetchStarted(): void {
    this.startedAt = this.now();
  }

  fetchEnded(): void {
    this.startedAt = undefined;
    this.lastFetchAt = this.now();
  }

  isStuck(): boolean {
    return this.startedAt !== undefined && this.now() - this.startedAt > this.limitMs;
  }

  /** The last fetch came back within the limit. */
  isRecent(): boolean {
    return this.now() - this.lastFetchAt < this.limitMs;
  }
}
