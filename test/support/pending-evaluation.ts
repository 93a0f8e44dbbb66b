import type { PendingEvaluation } from '../../src/ports/trigger-evaluation-store.js';

/** A pending evaluation of a trigger on a dataset, as the evaluator opens one on a file upload. */
export const pendingEvaluation = (
  triggerId: string,
  datasetId: string,
  start: string,
  changes: Partial<PendingEvaluation> = {},
): PendingEvaluation => ({
  trigger_id: triggerId,
  data_source: { data_source_type: 'Dataset', data_source_id: datasetId },
  data_constraint: { transaction_id: 'tx_1', file_id: null },
  evaluation_start: start,
  evaluation_end: null,
  status: 'pending',
  status_detail: null,
  outcome: null,
  outcome_reason: null,
  cause: 'file_upload',
  ...changes,
});
