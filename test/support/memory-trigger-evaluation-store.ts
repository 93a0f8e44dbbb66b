import { pageEvaluationIds } from '../../src/domain/trigger-evaluation-page.js';
import type { TriggerEvaluationRecord } from '../../src/domain/trigger-record.js';
import type {
  EvaluationEnd,
  EvaluationPage,
  EvaluationPaging,
  PendingEvaluation,
  TriggerEvaluationStore,
} from '../../src/ports/trigger-evaluation-store.js';

/** The TriggerEvaluationStore of unit tests: the evaluations live in the instance, copied in and out. */
export class MemoryTriggerEvaluationStore implements TriggerEvaluationStore {
  private next = 1;
  private readonly records = new Map<number, { orgId: string; record: TriggerEvaluationRecord }>();
  private readonly byEvent = new Map<string, number>();

  createPending(
    orgId: string,
    eventId: string,
    evaluation: PendingEvaluation,
  ): Promise<{ record: TriggerEvaluationRecord; isNew: boolean }> {
    const key = `${orgId}\u0000${eventId}\u0000${evaluation.trigger_id}`;
    const known = this.byEvent.get(key);
    if (known !== undefined) {
      return Promise.resolve({ record: structuredClone(this.records.get(known)!.record), isNew: false });
    }
    const record = { trigger_evaluation_id: this.next++, ...structuredClone(evaluation) };
    this.records.set(record.trigger_evaluation_id, { orgId, record });
    this.byEvent.set(key, record.trigger_evaluation_id);
    return Promise.resolve({ record: structuredClone(record), isNew: true });
  }

  finish(
    orgId: string,
    evaluationId: number,
    result: EvaluationEnd,
    end: string,
  ): Promise<TriggerEvaluationRecord | undefined> {
    const stored = this.records.get(evaluationId);
    if (stored?.orgId !== orgId) return Promise.resolve(undefined);
    stored.record = {
      ...stored.record,
      status: result.status,
      status_detail: result.status_detail,
      outcome: result.status === 'evaluated' ? result.outcome : null,
      outcome_reason: result.status === 'evaluated' ? result.outcome_reason : null,
      evaluation_end: end,
    };
    return Promise.resolve(structuredClone(stored.record));
  }

  private page(
    orgId: string,
    keep: (record: TriggerEvaluationRecord) => boolean,
    paging: EvaluationPaging,
  ): Promise<EvaluationPage> {
    try {
      const ids = [...this.records.values()]
        .filter((each) => each.orgId === orgId && keep(each.record))
        .map((each) => each.record.trigger_evaluation_id)
        .sort((a, b) => b - a);
      const { ids: chosen, nextToken } = pageEvaluationIds(ids, paging.limit, paging.pageToken);
      return Promise.resolve({
        items: chosen.map((id) => structuredClone(this.records.get(id)!.record)),
        nextToken,
      });
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  listByTrigger(orgId: string, triggerId: string, paging: EvaluationPaging): Promise<EvaluationPage> {
    return this.page(orgId, (record) => record.trigger_id === triggerId, paging);
  }

  listByDataset(orgId: string, datasetId: string, paging: EvaluationPaging): Promise<EvaluationPage> {
    return this.page(
      orgId,
      (record) =>
        record.data_source.data_source_type === 'Dataset' && record.data_source.data_source_id === datasetId,
      paging,
    );
  }
}
