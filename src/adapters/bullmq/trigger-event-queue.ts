import { createHash } from 'node:crypto';
import { type Job, Queue, Worker } from 'bullmq';
import { TriggerEvent } from '../../domain/trigger-event.js';
import type { TriggerEventHandler, TriggerEventSink } from '../../ports/trigger-events.js';
import { TIMED_OUT, withTimeout } from '../../util/with-timeout.js';
import { type QueueLocation, type RedisPatience, bullConnection } from './invocation-queue.js';

export const TRIGGER_EVENT_JOB_NAME = 'trigger-event';

/** The events' queue: beside the invocation queue, on the same Redis and key prefix. */
export function triggerEventQueueName(location: QueueLocation): string {
  return `${location.queue}.trigger-events`;
}

/**
 * The job id of an event: a digest of its `event_id`, so a second emit of the same event finds the job
 * already there and adds nothing. (BullMQ refuses ids with ":" — event ids have them — and plain integers.)
 */
export function triggerEventJobId(eventId: string): string {
  return `te_${createHash('sha256').update(eventId).digest('hex').slice(0, 40)}`;
}

export interface TriggerEventQueueOptions {
  /** Attempts of the handler per event before the job is kept as failed. */
  attempts?: number;
  /** The first retry waits this long, each later one twice as long. */
  backoffMs?: number;
  onError?: (error: Error) => void;
  patience?: RedisPatience;
}

/** The producer's side: emits events as BullMQ jobs, durably once `emit` resolves. */
export class TriggerEventQueue implements TriggerEventSink {
  readonly queue: Queue;
  private readonly attempts: number;
  private readonly backoffMs: number;

  constructor(location: QueueLocation, options: TriggerEventQueueOptions = {}) {
    this.attempts = options.attempts ?? 8;
    this.backoffMs = options.backoffMs ?? 1_000;
    this.queue = new Queue(triggerEventQueueName(location), {
      connection: bullConnection(location.url, options.patience ?? 'wait'),
      prefix: location.keyPrefix,
    });
    // Connection trouble is reported, not thrown: the connection reconnects by itself.
    this.queue.on('error', (error: Error) => {
      options.onError?.(error);
    });
  }

  /** Adds the event's job (validated); a no-op when a job of the same event_id is there already. */
  async emit(event: TriggerEvent): Promise<void> {
    const data = TriggerEvent.parse(event);
    await this.queue.add(TRIGGER_EVENT_JOB_NAME, data, {
      jobId: triggerEventJobId(data.event_id),
      attempts: this.attempts,
      backoff: { type: 'exponential', delay: this.backoffMs },
      // A completed job stays a day, so a re-emit within it is still recognised; failed ones a month.
      removeOnComplete: { age: 24 * 3600, count: 100_000 },
      removeOnFail: { age: 30 * 24 * 3600 },
    });
  }

  async counts(): Promise<Record<string, number>> {
    return await this.queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
  }

  /** Closes the queue's connections: politely within 5 s, else by dropping them. */
  async close(): Promise<void> {
    const closed = await withTimeout(this.queue.close(), 5_000).catch(() => undefined);
    if (closed === TIMED_OUT) await this.queue.disconnect().catch(() => undefined);
  }
}

export interface TriggerEventWorkerOptions {
  /** Events handled at once by this process. */
  concurrency?: number;
  /** The job lease, renewed by BullMQ every half of it while the handler runs. */
  lockDurationMs?: number;
  /** How often jobs whose lease ran out (a consumer that died) are put back. */
  stalledIntervalMs?: number;
  /** Called after each handled event, with the seconds from `occurred` to now. */
  onHandled?: (event: TriggerEvent, lagSeconds: number) => void;
  /** Called when a handle throws (`final` when no attempt is left). */
  onFailed?: (event: TriggerEvent | undefined, error: Error, final: boolean) => void;
  onError?: (error: Error) => void;
}

/**
 * The consumer's side: a BullMQ worker handing each event to the handler. Several processes may run one;
 * BullMQ's job lock gives each event to one of them at a time, and a handle that throws is retried with
 * the queue's backoff. A consumer that dies leaves its job's lock to expire; the job is then stalled and
 * handed to another consumer (the handler is idempotent by event_id).
 */
export class TriggerEventWorker {
  readonly worker: Worker;

  constructor(
    location: QueueLocation,
    handler: TriggerEventHandler,
    options: TriggerEventWorkerOptions = {},
  ) {
    const lockDuration = options.lockDurationMs ?? 30_000;
    this.worker = new Worker(
      triggerEventQueueName(location),
      async (job: Job) => {
        const event = TriggerEvent.parse(job.data);
        await handler.handle(event);
        const occurred = Date.parse(event.occurred);
        options.onHandled?.(event, Number.isNaN(occurred) ? 0 : Math.max(0, (Date.now() - occurred) / 1000));
      },
      {
        connection: bullConnection(location.url, 'wait', { lockDurationMs: lockDuration }),
        prefix: location.keyPrefix,
        concurrency: options.concurrency ?? 4,
        lockDuration,
        stalledInterval: options.stalledIntervalMs ?? lockDuration,
        // A job whose consumer died is put back many times before it is given up: the handler is idempotent.
        maxStalledCount: 10,
        autorun: false,
      },
    );
    this.worker.on('failed', (job: Job | undefined, error: Error) => {
      if (job === undefined) return;
      const parsed = TriggerEvent.safeParse(job.data);
      const final = job.attemptsMade >= (job.opts.attempts ?? 1);
      options.onFailed?.(parsed.success ? parsed.data : undefined, error, final);
    });
    this.worker.on('error', (error: Error) => {
      options.onError?.(error);
    });
  }

  /** Starts consuming (resolves once the worker is connected and running). */
  start(): void {
    void this.worker.run().catch((error: unknown) => {
      this.worker.emit('error', error instanceof Error ? error : new Error(String(error)));
    });
  }

  /**
   * Stops taking events and waits for those being handled, at most `boundMs`; then drops the connections
   * (a job cut off this way is stalled and handled again by another consumer).
   */
  async close(boundMs = 10_000): Promise<void> {
    const closed = await withTimeout(this.worker.close(), boundMs).catch(() => undefined);
    if (closed === TIMED_OUT) {
      // A Redis that does not answer: neither a forced close nor a disconnect may hold the shutdown.
      await withTimeout(this.worker.close(true), 2_000).catch(() => undefined);
      await withTimeout(this.worker.disconnect(), 2_000).catch(() => undefined);
    }
  }
}
