import {
  InvocationStatus,
  canTransition,
  statusName,
  type StatusRecord,
} from '../domain/invocation-status.js';
import type { AttemptResult, StatusRecorder } from '../ports/status-recorder.js';

/** Keeps an attempt's status history and refuses any transition the contract's matrix forbids. */
export class StatusTracker {
  private readonly history: StatusRecord[] = [];

  constructor(
    private readonly recorder: StatusRecorder,
    private current: InvocationStatus = InvocationStatus.Queued,
    private readonly now: () => Date = () => new Date(),
  ) {}

  get status(): InvocationStatus {
    return this.current;
  }

  get records(): readonly StatusRecord[] {
    return this.history;
  }

  /** Hands the attempt's result to the recorder, before the final status. */
  async storeResult(result: AttemptResult): Promise<void> {
    await this.recorder.storeResult?.(result);
  }

  async transition(
    to: InvocationStatus,
    detail: string | null = null,
    failure?: { retryable: boolean },
  ): Promise<void> {
    if (!canTransition(this.current, to)) {
      throw new Error(`invalid status transition ${statusName(this.current)} → ${statusName(to)}`);
    }
    await this.recorder.record(to, detail, failure);
    this.current = to;
    this.history.push({ status: to, detail, timestamp: this.now().toISOString() });
  }
}
