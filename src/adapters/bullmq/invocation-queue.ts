import { randomUUID } from 'node:crypto';
import { type ConnectionOptions, Queue } from 'bullmq';
import type { RedisOptions } from 'ioredis';
import { z } from 'zod';
import type { Deployment } from '../../domain/container-labels.js';
import { UsageError } from '../../domain/errors.js';
import type { JobQueue } from '../../ports/job-queue.js';
import { TIMED_OUT, withTimeout } from '../../util/with-timeout.js';

/** What a job carries: only the invocation's id. The request, and every secret reference, stay in the record. */
export const JobData = z.object({ invocation_id: z.string().regex(/^iv_[a-z0-9]{4,64}$/) }).strict();
export type JobData = z.infer<typeof JobData>;

export const JOB_NAME = 'invocation';

/** Where BullMQ and the invocation records live. */
export interface QueueLocation {
  url: string;
  queue: string;
  keyPrefix: string;
}

/** The longest wait between two reconnection attempts when nothing bounds it tighter. */
const MAX_RECONNECT_DELAY_MS = 20_000;

/**
 * The longest wait between two reconnection attempts of a connection that holds leases of `lockDurationMs`:
 * an eighth of it (at least 250 ms, at most 20 s), so Redis coming back is noticed with most of a lease
 * still to run, and several attempts fit in one lease. Backing off further would let a short outage outlast
 * the lease: a 10 s outage with a 15 s lock is noticed 8 s late with a plain exponential backoff.
 */
export function maxReconnectDelayMs(lockDurationMs: number | undefined): number {
  if (lockDurationMs === undefined) return MAX_RECONNECT_DELAY_MS;
  return Math.min(MAX_RECONNECT_DELAY_MS, Math.max(250, Math.floor(lockDurationMs / 8)));
}

/** What bounds a connection's reconnection backoff. */
export interface ReconnectBound {
  /** The lock duration of the leases held through the connection (`daemon.lockDurationMs`). */
  lockDurationMs?: number;
}

/**
 * ioredis options from a redis:// or rediss:// URL, as BullMQ wants them: requests wait through a
 * reconnect (`maxRetriesPerRequest: null`) and reconnects back off from 1 s, doubling, to at most
 * `maxReconnectDelayMs` (bounded by the lock duration when one is given).
 */
export function redisOptions(
  url: string,
  patience: RedisPatience = 'wait',
  bound: ReconnectBound = {},
): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`redis URL "${withoutCredentials(url)}" is not a URL`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new UsageError(`redis URL "${withoutCredentials(url)}" must start with redis:// or rediss://`);
  }
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db))
    throw new UsageError(`redis URL "${withoutCredentials(url)}": the path must be a db number`);
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(db === '' ? {} : { db: Number(db) }),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    ...(patience === 'wait'
      ? {
          maxRetriesPerRequest: null,
          retryStrategy: (times: number) =>
            Math.min(500 * 2 ** Math.min(times, 6), maxReconnectDelayMs(bound.lockDurationMs)),
        }
      : {
          // A command someone is waiting for: a Redis that does not answer within seconds is an error.
          maxRetriesPerRequest: 1,
          connectTimeout: 5_000,
          retryStrategy: (times: number) => (times > 3 ? null : 500),
        }),
  };
}

/** A URL fit for a message: whatever stands before an "@" (user and password) is hidden. */
export function withoutCredentials(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * How a connection treats a Redis that is away: `wait` (the daemon) retries for ever and holds requests
 * until it is back; `fail` (a command a person waits for) gives up after a few seconds.
 */
export type RedisPatience = 'wait' | 'fail';

/** The same options, typed as BullMQ takes them. */
export function bullConnection(
  url: string,
  patience: RedisPatience = 'wait',
  bound: ReconnectBound = {},
): ConnectionOptions {
  return redisOptions(url, patience, bound) as ConnectionOptions;
}

/**
 * Where the deployment's id lives: beside BullMQ's keys of the queue (no job has this id: job ids are
 * invocation ids, `iv_…`).
 */
export function deploymentIdKey(location: QueueLocation): string {
  return `${location.keyPrefix}:${location.queue}:deployment-id`;
}

/** What a deployment id may look like (what we write: 32 hex digits). */
const DEPLOYMENT_ID = /^[A-Za-z0-9_-]{8,64}$/;

/** Writes the id once (SET NX: the first host to ask wins) and reads it, in one step. */
const DEPLOYMENT_ID_COMMAND = 'actionWorkerDeploymentId';
const DEPLOYMENT_ID_LUA = `redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`;

/** The prefix of the invocation records' keys, beside BullMQ's. */
export function recordPrefix(location: QueueLocation): string {
  return `${location.keyPrefix}:records:`;
}

export type RemoveResult = 'removed' | 'running' | 'finished' | 'missing';

/**
 * The producer's side of the queue (one job per invocation, its id the invocation id), and the queue as
 * the daemon asks about it ({@link JobQueue}).
 */
export class InvocationQueue implements JobQueue {
  readonly queue: Queue;

  constructor(
    private readonly location: QueueLocation,
    onError?: (error: Error) => void,
    patience: RedisPatience = 'wait',
    bound: ReconnectBound = {},
  ) {
    this.queue = new Queue(location.queue, {
      connection: bullConnection(location.url, patience, bound),
      prefix: location.keyPrefix,
    });
    // Connection trouble is reported, not thrown: the connection reconnects by itself.
    this.queue.on('error', (error: Error) => {
      onError?.(error);
    });
  }

  /** Adds the invocation's job; a no-op when it is already there (the job id is the invocation id). */
  async enqueue(invocationId: string): Promise<void> {
    await this.queue.add(JOB_NAME, { invocation_id: invocationId } satisfies JobData, {
      jobId: invocationId,
      removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
      removeOnFail: { age: 30 * 24 * 3600 },
    });
  }

  /** Takes a job that is not running out of the queue. */
  async removeIfWaiting(invocationId: string): Promise<RemoveResult> {
    const job = await this.queue.getJob(invocationId);
    if (job === undefined) return 'missing';
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') return 'finished';
    if (state === 'active') return 'running';
    try {
      await job.remove();
      return 'removed';
    } catch {
      // Locked: a worker took it a moment ago.
      return 'running';
    }
  }

  /**
   * Whether the invocation's job is gone: not in the queue, finished (completed or failed), or in a state
   * BullMQ does not know. A job waiting, delayed or held by a worker is not.
   */
  async isJobGone(invocationId: string): Promise<boolean> {
    const job = await this.queue.getJob(invocationId);
    const state = job === undefined ? 'missing' : await job.getState();
    return state === 'missing' || state === 'completed' || state === 'failed' || state === 'unknown';
  }

  /**
   * Whether `attempt` of the invocation is still current: some worker holds its job's lock and no later
   * attempt has started. When it cannot tell (no attempt count on the job), it says true. A job that is not
   * in this queue at all has no lock, so no attempt of it is current: asked only about leftovers of this
   * deployment (the id this Redis server holds), that means the job is finished or deleted, not that it
   * lives in another Redis.
   */
  async isAttemptCurrent(invocationId: string, attempt: number): Promise<boolean> {
    const client = await this.queue.backend.client;
    const jobKey = `${this.location.keyPrefix}:${this.location.queue}:${invocationId}`;
    const [lock, started] = await Promise.all([client.get(`${jobKey}:lock`), client.hget(jobKey, 'ats')]);
    if (lock === null) return false;
    const current = Number(started);
    return started === null || !Number.isInteger(current) || current <= attempt;
  }

  /**
   * The deployment this queue belongs to: the id stored in its Redis server (written once, with SET NX, by
   * whoever asks first), the key prefix and the queue. Every host reaching this server, however it spells
   * the URL, gets the same id; another server reached by the same URL holds another one.
   */
  async deployment(): Promise<Deployment> {
    const client = await this.queue.backend.client;
    const key = deploymentIdKey(this.location);
    client.defineCommand(DEPLOYMENT_ID_COMMAND, { numberOfKeys: 1, lua: DEPLOYMENT_ID_LUA });
    const id: unknown = await client.runCommand(DEPLOYMENT_ID_COMMAND, [
      key,
      randomUUID().replaceAll('-', ''),
    ]);
    if (typeof id !== 'string' || !DEPLOYMENT_ID.test(id)) {
      throw new UsageError(
        `the deployment id in ${key} is not one (8 to 64 letters, digits, "_" or "-"); delete the key to get a new one`,
        'E_MALFORMED_RECORD',
      );
    }
    return { id, keyPrefix: this.location.keyPrefix, queue: this.location.queue };
  }

  /** Answers when Redis does. */
  async ping(): Promise<void> {
    const client = await this.queue.backend.client;
    await client.get(`${this.location.keyPrefix}:ping`);
  }

  async depth(): Promise<Record<string, number>> {
    return await this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed');
  }

  /** Closes the queue's connections: politely within 5 s, else by dropping them. */
  async close(): Promise<void> {
    const closed = await withTimeout(this.queue.close(), 5_000).catch(() => undefined);
    if (closed === TIMED_OUT) await this.queue.disconnect().catch(() => undefined);
  }
}
