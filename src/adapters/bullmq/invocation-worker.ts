import { type Job, type JobJson, Worker } from 'bullmq';

/**
 * The data of a job whose stored data could not be read (not JSON). BullMQ would throw from the fetch,
 * with the job already active and locked; the lock would run out, the job go back to the queue, and be
 * fetched again for ever. Handed over as this instead, it is rejected once, with the reason.
 */
export class UnreadableJobData {
  constructor(readonly reason: string) {}
}

/**
 * A BullMQ worker that hands a job with unreadable data to its caller (as {@link UnreadableJobData})
 * instead of failing the fetch.
 */
export class InvocationWorker extends Worker {
  protected override createJob(data: JobJson, jobId: string): Job {
    try {
      return super.createJob(data, jobId);
    } catch {
      // The data itself stays out of the reason: it is not ours to echo into logs.
      const job = super.createJob({ ...data, data: '{}' }, jobId);
      job.data = new UnreadableJobData(`its data is not JSON (${data.data.length} bytes)`);
      return job;
    }
  }
}
