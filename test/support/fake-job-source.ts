import type { Deployment } from '../../src/domain/container-labels.js';
import type { JobQueue } from '../../src/ports/job-queue.js';
import type { JobSource, JobSourceListener, LeasedJob } from '../../src/ports/job-source.js';

/** How a leased job ended, as its holder decided. */
export type JobEnding =
  | { kind: 'complete'; summary: Record<string, unknown> }
  | { kind: 'retry'; atMs: number }
  | { kind: 'hand-back' }
  | { kind: 'fail'; reason: string };

interface QueuedJob {
  id: string;
  /** Set for a job whose data the source could not read (as a real source reports it). */
  unreadable: string | undefined;
  /** Attempts started on it so far: one more at each fetch, as BullMQ counts them. */
  attemptsStarted: number;
  enqueuedAt: number;
  /** Not fetched before this (a retry's delay). */
  notBeforeMs: number;
}

/** A job leased from a {@link FakeJobSource}: its ending is recorded, and a hand-back or retry queues it again. */
export class FakeLeasedJob implements LeasedJob {
  readonly id: string;
  readonly attempt: number;
  readonly enqueuedAt: number;
  readonly invocationId: string | undefined;
  readonly unreadable: string | undefined;
  ending: JobEnding | undefined;
  isReleased = false;
  /** Whether the lease is still ours; set false to have it lost at the next renewal. */
  isLockHeld = true;

  constructor(
    private readonly entry: QueuedJob,
    private readonly requeue: (entry: QueuedJob) => void,
  ) {
    this.id = entry.id;
    this.attempt = entry.attemptsStarted;
    this.enqueuedAt = entry.enqueuedAt;
    this.unreadable = entry.unreadable;
    this.invocationId = entry.unreadable === undefined ? entry.id : undefined;
  }

  renewLock(): Promise<boolean> {
    return Promise.resolve(this.isLockHeld);
  }

  complete(summary: Record<string, unknown>): Promise<void> {
    this.end({ kind: 'complete', summary });
    return Promise.resolve();
  }

  retryAt(atMs: number): Promise<void> {
    this.end({ kind: 'retry', atMs });
    this.requeue({ ...this.entry, notBeforeMs: atMs });
    return Promise.resolve();
  }

  handBack(): Promise<void> {
    this.end({ kind: 'hand-back' });
    this.requeue({ ...this.entry, notBeforeMs: 0 });
    return Promise.resolve();
  }

  fail(reason: string): Promise<void> {
    this.end({ kind: 'fail', reason });
    return Promise.resolve();
  }

  release(): void {
    this.isReleased = true;
  }

  private end(ending: JobEnding): void {
    if (this.ending !== undefined) throw new Error(`job ${this.id} ended twice`);
    this.ending = ending;
  }
}

/**
 * A JobSource in memory, for unit tests: jobs added with `add` are fetched in order, each fetch starting
 * an attempt; every job handed out is kept in `leased`, with its ending.
 */
export class FakeJobSource implements JobSource {
  /** Every job fetched, in order (a job fetched again appears again, with its next attempt). */
  readonly leased: FakeLeasedJob[] = [];
  listener: JobSourceListener | undefined;
  isClosed = false;
  private readonly waiting: QueuedJob[] = [];
  private readonly wakers = new Set<() => void>();

  /** @param blockMs - how long a fetch waits for a job before it comes back empty */
  constructor(private readonly blockMs = 100) {}

  /** Queues a job for the invocation; `unreadable`: its data could not be read, for this reason. */
  add(invocationId: string, options: { unreadable?: string } = {}): void {
    this.requeue({
      id: invocationId,
      unreadable: options.unreadable,
      attemptsStarted: 0,
      enqueuedAt: Date.now(),
      notBeforeMs: 0,
    });
  }

  /** The jobs fetched for this invocation, in order. */
  leasesOf(invocationId: string): FakeLeasedJob[] {
    return this.leased.filter((job) => job.id === invocationId);
  }

  /** Whether the invocation's job is waiting (or delayed) here, or held by whoever fetched it. */
  hasJob(invocationId: string): boolean {
    return (
      this.waiting.some((entry) => entry.id === invocationId) ||
      this.leasesOf(invocationId).some((job) => job.ending === undefined)
    );
  }

  start(listener: JobSourceListener): Promise<void> {
    this.listener = listener;
    return Promise.resolve();
  }

  async next(signal: AbortSignal): Promise<LeasedJob | undefined> {
    signal.throwIfAborted();
    if (this.listener === undefined) throw new Error('the job source has not started');
    const deadline = Date.now() + this.blockMs;
    for (;;) {
      const index = this.waiting.findIndex((entry) => entry.notBeforeMs <= Date.now());
      const entry = index === -1 ? undefined : this.waiting.splice(index, 1)[0];
      if (entry !== undefined) {
        entry.attemptsStarted += 1;
        const job = new FakeLeasedJob(entry, (again) => {
          this.requeue(again);
        });
        this.leased.push(job);
        return job;
      }
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) return undefined;
      await this.changed(Math.min(leftMs, 20), signal);
    }
  }

  isFetchHealthy(): boolean {
    return !this.isClosed;
  }

  close(): Promise<void> {
    this.isClosed = true;
    return Promise.resolve();
  }

  private requeue(entry: QueuedJob): void {
    this.waiting.push(entry);
    for (const wake of this.wakers) wake();
  }

  /** Until a job is queued, `ms` pass, or the signal is aborted (rejecting with its reason). */
  private changed(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.wakers.delete(done);
        resolve();
      };
      const onAbort = (): void => {
        done();
        reject(signal.reason as Error);
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', onAbort, { once: true });
      this.wakers.add(done);
    });
  }
}

/** A JobQueue in memory: one deployment, an empty depth, jobs as its {@link FakeJobSource} has them. */
export class FakeJobQueue implements JobQueue {
  constructor(
    readonly ours: Deployment = { id: 'fakedeployment01', keyPrefix: 'fake', queue: 'fake-queue' },
    private readonly source?: FakeJobSource,
  ) {}

  deployment(): Promise<Deployment> {
    return Promise.resolve(this.ours);
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  depth(): Promise<Record<string, number>> {
    return Promise.resolve({});
  }

  isJobGone(invocationId: string): Promise<boolean> {
    return Promise.resolve(this.source?.hasJob(invocationId) !== true);
  }

  isAttemptCurrent(invocationId: string, attempt: number): Promise<boolean> {
    const leases = this.source?.leasesOf(invocationId) ?? [];
    const last = leases[leases.length - 1];
    return Promise.resolve(last !== undefined && last.ending === undefined && last.attempt === attempt);
  }
}
