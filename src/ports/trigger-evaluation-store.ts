import type { TriggerEvaluationRecord } from '../domain/trigger-record.js';

/** A new evaluation: everything but its id, `pending`. */
export type PendingEvaluation = Omit<TriggerEvaluationRecord, 'trigger_evaluation_id'>;

/** How an evaluation ended (spec §4.5 step 4). */
export type EvaluationEnd =
  | {
      status: 'evaluated';
      outcome: 'invoked_action' | 'skipped';
      outcome_reason: TriggerEvaluationRecord['outcome_reason'];
      status_detail: string | null;
    }
  | { status: 'failed'; status_detail: string };

/** One page of evaluations, newest first, and the token of the next (null at the end). */
export interface EvaluationPage {
  items: TriggerEvaluationRecord[];
  nextToken: string | null;
}

export interface EvaluationPaging {
  limit: number;
  /** A `nextToken` of an earlier page, unchanged (domain/trigger-evaluation-page.ts checks it). */
  pageToken?: string;
}

/**
 * Trigger evaluations (spec §2.4), per org. One evaluation per (event, trigger): an event handled again
 * (it is delivered at least once) finds its evaluation instead of making a second.
 */
export interface TriggerEvaluationStore {
  /**
   * Records the evaluation of `eventId` by its trigger with a new integer id, or returns the one recorded
   * before for that pair (isNew false, unchanged).
   */
  createPending(
    orgId: string,
    eventId: string,
    evaluation: PendingEvaluation,
  ): Promise<{ record: TriggerEvaluationRecord; isNew: boolean }>;
  /** Ends an evaluation at `end` (ISO 8601); undefined when the org has no such evaluation. */
  finish(
    orgId: string,
    evaluationId: number,
    result: EvaluationEnd,
    end: string,
  ): Promise<TriggerEvaluationRecord | undefined>;
  /** A trigger's evaluations, newest first. */
  listByTrigger(orgId: string, triggerId: string, paging: EvaluationPaging): Promise<EvaluationPage>;
  /** Every trigger's evaluations of a dataset, newest first. */
  listByDataset(orgId: string, datasetId: string, paging: EvaluationPaging): Promise<EvaluationPage>;
}
