import type { Deployment } from '../domain/container-labels.js';

/**
 * The queue as a whole, beside the jobs fetched from it (a JobSource): what the daemon asks of it to
 * know its deployment, report the queue's depth, check that it answers, and judge leftovers.
 */
export interface JobQueue {
  /** The deployment this queue belongs to (the id its server holds, the key prefix, the queue). */
  deployment(): Promise<Deployment>;
  /** Answers when the queue's server does. */
  ping(): Promise<void>;
  /** Jobs in the queue, by state. */
  depth(): Promise<Record<string, number>>;
  /** Whether the invocation's job is gone: not in the queue, or finished. A job waiting or held is not. */
  isJobGone(invocationId: string): Promise<boolean>;
  /** Whether `attempt` of the invocation is still current: its job is held and no later attempt started. */
  isAttemptCurrent(invocationId: string, attempt: number): Promise<boolean>;
}
