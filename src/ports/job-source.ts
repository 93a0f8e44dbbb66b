/**
 * A job the daemon holds: leased to this worker until it reaches one of its four endings. The lease is
 * kept alive by {@link LeasedJob.renewLock}; an ending releases it.
 */
export interface LeasedJob {
  /** The job's id: the invocation's id. */
  readonly id: string;
  /** Attempts started on this job, this one included. */
  readonly attempt: number;
  /** When the job was enqueued (ms since the epoch). */
  readonly enqueuedAt: number;
  /**
   * The invocation the job runs, as its data names it, checked to be the job's own id. Undefined exactly
   * when `unreadable` is set.
   */
  readonly invocationId: string | undefined;
  /**
   * Why the job cannot be run, when its data is not the invocation's id alone (not readable, or naming
   * another invocation); the data itself stays out of it. Such a job is failed for good.
   */
  readonly unreadable: string | undefined;

  /** Extends the lease by `durationMs`: true when it was still ours, false when it is gone or taken over. */
  renewLock(durationMs: number): Promise<boolean>;
  /** Done: the job is not run again. */
  complete(summary: Record<string, unknown>): Promise<void>;
  /** Run again, as a later attempt, not before `atMs` (ms since the epoch). */
  retryAt(atMs: number): Promise<void>;
  /**
   * Back to the queue at once, for any worker to take. The caller counts the attempt as handed back
   * (unspent) in the invocation's record.
   */
  handBack(): Promise<void>;
  /** Failed for good with `reason`: never run again. */
  fail(reason: string): Promise<void>;
  /** The caller is done with the job (whatever became of it): what it was fetched through may close. */
  release(): void;
}

/** What a job source tells its user of, once started. */
export interface JobSourceListener {
  /**
   * A job that arrived after its fetch was given up (stopped, or abandoned as stuck): to be handed back
   * unspent.
   */
  onLateJob(job: LeasedJob): Promise<void>;
  /** A stuck fetch was given up and fetching goes on afresh (the watchdog replaced what fetched). */
  onFetchRestarted(): void;
}

/** Where the daemon takes its jobs from, one at a time, whenever it has room. */
export interface JobSource {
  /** Starts fetching (and whatever keeps the fetching alive), telling `listener` of what it must know. */
  start(listener: JobSourceListener): Promise<void>;
  /**
   * The next job, waiting a bounded time for one: undefined when none came within that time. Rejects with
   * the signal's reason when aborted (a job that arrives meanwhile is given to `onLateJob`), and with
   * {@link FetchAbandoned} when a stuck fetch was given up; any other rejection is a failed fetch.
   */
  next(signal: AbortSignal): Promise<LeasedJob | undefined>;
  /** Whether fetching is healthy: the last fetch came back recently, or none has been asked for long. */
  isFetchHealthy(): boolean;
  /** Stops fetching and closes what it fetched through, within a bounded time. */
  close(): Promise<void>;
}

/** A fetch that did not come back was given up, and fetching goes on afresh: ask again. */
export class FetchAbandoned extends Error {
  constructor() {
    super('the fetch was stuck and was given up');
    this.name = 'FetchAbandoned';
  }
}
