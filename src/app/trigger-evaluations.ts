import type { WorkerSettings } from '../config/worker-settings.js';
import { UnknownOrgError } from '../domain/api-token.js';
import type { TriggerEvaluationRecord } from '../domain/trigger-record.js';
import { TriggerNotFoundError } from '../domain/trigger-versions.js';
import type { TenancyStore } from '../ports/tenancy.js';
import type {
  EvaluationPage,
  EvaluationPaging,
  TriggerEvaluationStore,
} from '../ports/trigger-evaluation-store.js';
import type { TriggerStore } from '../ports/trigger-store.js';
import { usingRedisStore } from './control-plane.js';
import { openTriggerEvaluationStore } from './trigger-evaluator.js';

/** The most evaluations one store call returns; longer listings follow the pages. */
export const EVALUATION_PAGE_SIZE = 100;

/** Runs `use` against the evaluation store the evaluator writes (same Redis, same prefix), then closes it. */
export async function usingTriggerEvaluations<T>(
  settings: WorkerSettings,
  use: (evaluations: TriggerEvaluationStore) => Promise<T>,
): Promise<T> {
  return usingRedisStore(settings, openTriggerEvaluationStore(settings), use);
}

export type EvaluationsOf = { trigger: string } | { datasetId: string };

/**
 * `triggers evaluations`: a trigger's evaluations (by name, in the org), or every trigger's evaluations of a
 * dataset, newest first, following pages until `limit`. An unknown org or trigger is a UsageError; another
 * org's trigger is not found, exactly like a missing one (the lookup is by the org given).
 */
export async function listTriggerEvaluations(
  stores: {
    triggers: Pick<TriggerStore, 'getTrigger'>;
    evaluations: Pick<TriggerEvaluationStore, 'listByTrigger' | 'listByDataset'>;
    orgs: Pick<TenancyStore, 'getOrg'>;
  },
  options: { orgId: string; of: EvaluationsOf; limit: number },
): Promise<TriggerEvaluationRecord[]> {
  const { orgId, of, limit } = options;
  if ((await stores.orgs.getOrg(orgId)) === undefined) throw new UnknownOrgError(orgId);
  let list: (paging: EvaluationPaging) => Promise<EvaluationPage>;
  if ('trigger' in of) {
    const trigger = await stores.triggers.getTrigger(orgId, of.trigger);
    if (trigger === undefined) throw new TriggerNotFoundError(orgId, of.trigger);
    list = (paging) => stores.evaluations.listByTrigger(orgId, trigger.trigger_id, paging);
  } else {
    list = (paging) => stores.evaluations.listByDataset(orgId, of.datasetId, paging);
  }
  const records: TriggerEvaluationRecord[] = [];
  let pageToken: string | null = null;
  do {
    const page: EvaluationPage = await list({
      limit: Math.min(EVALUATION_PAGE_SIZE, limit - records.length),
      ...(pageToken === null ? {} : { pageToken }),
    });
    records.push(...page.items);
    pageToken = page.nextToken;
  } while (pageToken !== null && records.length < limit);
  return records.slice(0, limit);
}

/** One evaluation as lines of text: why it ran or why not. */
export function describeEvaluation(record: TriggerEvaluationRecord, triggerName?: string): string {
  const constraint = record.data_constraint;
  const lines = [
    `evaluation ${record.trigger_evaluation_id}  ${record.evaluation_start}  ${record.status}` +
      (record.outcome === null ? '' : `  ${record.outcome}`) +
      (record.outcome_reason === null ? '' : ` (${record.outcome_reason})`),
    `  trigger: ${triggerName === undefined ? record.trigger_id : `${triggerName} (${record.trigger_id})`}`,
    `  cause: ${record.cause ?? '-'}`,
    `  data: ${record.data_source.data_source_type} ${record.data_source.data_source_id}` +
      (constraint === null
        ? ''
        : `  transaction ${constraint.transaction_id ?? '-'}  file ${constraint.file_id ?? '-'}`),
    `  ended: ${record.evaluation_end ?? '-'}`,
  ];
  if (record.status_detail !== null) lines.push(`  detail: ${record.status_detail}`);
  return lines.join('\n');
}
