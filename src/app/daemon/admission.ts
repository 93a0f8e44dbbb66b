import type { Logger } from 'pino';
import {
  type ComputeRequirements,
  type HostCapacity,
  capacityShortfall,
} from '../../domain/compute-requirements.js';
import { requirementsOf } from '../../stages/plan-from-request.js';
import { MalformedRecordError, formatZodError } from '../../domain/errors.js';
import { InvocationRequest } from '../../domain/invocation-request.js';
import { InvocationStatus } from '../../domain/invocation-status.js';
import { type StatusWrite, settleInvalidRequest, settleUnfittable } from '../../domain/settlement.js';
import type { InvocationStore } from '../../ports/invocation-store.js';
import type { LeasedJob } from '../../ports/job-source.js';
import type { DaemonMetrics } from './metrics.js';

export interface AdmissionDeps {
  store: InvocationStore;
  /** What this worker offers: an invocation that needs more can never run here. */
  offered: HostCapacity;
  metrics: DaemonMetrics;
}

/** A job fit to run: its request, read back and checked in full, and what it needs. */
export interface Admitted {
  request: InvocationRequest;
  requirements: ComputeRequirements;
}

/**
 * Checks a fetched job before anything runs: its data, its record, its request and whether it can ever fit
 * this worker. A job that cannot run is ended here (failed with the reason, or completed as Failed bad
 * input) and undefined is returned; the worker goes on.
 */
export async function admit(
  deps: AdmissionDeps,
  job: LeasedJob,
  attempt: number,
  logger: Logger,
): Promise<Admitted | undefined> {
  const { store, metrics } = deps;
  // The job source checked its data: an unreadable job names no invocation it could run.
  const { invocationId, unreadable } = job;
  if (invocationId === undefined || unreadable !== undefined) {
    await reject(job, logger, unreadable ?? 'the job names no invocation');
    return undefined;
  }
  const record = await store.get(invocationId).catch((error: unknown) => {
    // A record that cannot be read will not become readable by fetching its job again.
    if (error instanceof MalformedRecordError) return error;
    throw error;
  });
  if (record instanceof MalformedRecordError) {
    await reject(job, logger, record.message);
    return undefined;
  }
  if (record === undefined) {
    await reject(job, logger, `no invocation record ${invocationId}`);
    return undefined;
  }
  const request = InvocationRequest.safeParse(record.request);
  if (!request.success) {
    // The detail names each bad field (a crafted image reference, an env var name…); one line.
    const reason = formatZodError(request.error, `invocation ${invocationId}'s request`).replace(
      /\n\s*/g,
      ' ',
    );
    await store.startAttempt(invocationId, attempt);
    await write(store, invocationId, attempt, settleInvalidRequest(record, reason));
    await reject(job, logger, reason);
    return undefined;
  }
  metrics.queueToStartSeconds.observe({ until: 'pickup' }, (Date.now() - job.enqueuedAt) / 1000);

  const requirements = requirementsOf(request.data);
  const shortfall = capacityShortfall(requirements, deps.offered);
  if (shortfall !== undefined) {
    const detail = `setup failed: ${shortfall}`;
    await store.startAttempt(invocationId, attempt);
    await write(store, invocationId, attempt, settleUnfittable(record, detail));
    await job.complete({ status: 'Failed', detail });
    metrics.recordAttempt(InvocationStatus.Failed, 'bad_input', []);
    return undefined;
  }
  return { request: request.data, requirements };
}

/** A status write of admission (before any attempt runs), when settling asks for one. */
async function write(
  store: InvocationStore,
  invocationId: string,
  attempt: number,
  write: StatusWrite | undefined,
): Promise<void> {
  if (write === undefined) return;
  await store.transition(invocationId, write.status, write.detail, {
    attempt,
    ...(write.final === undefined ? {} : { final: write.final }),
  });
}

/** An unusable job: failed for good with the reason, and the worker goes on. */
async function reject(job: LeasedJob, logger: Logger, reason: string): Promise<void> {
  logger.error({ jobId: job.id, reason }, 'queue.job_rejected');
  await job.fail(`rejected: ${reason}`);
}
