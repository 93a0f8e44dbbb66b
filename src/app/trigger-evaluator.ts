import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import { RedisTriggerEvaluationStore } from '../adapters/redis/redis-trigger-evaluation-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import { ActionWorkerError, UsageError } from '../domain/errors.js';
import type { InvocationRequest } from '../domain/invocation-request.js';
import { invocationRequestFromAction, resolveInheritance, visibleTo } from '../domain/invoke-action.js';
import type { DatasetRecord } from '../domain/records.js';
import {
  type EvaluationDecision,
  type EvaluationUnit,
  type EventSource,
  decideEvaluation,
} from '../domain/trigger-evaluation.js';
import type { TriggerEvent } from '../domain/trigger-event.js';
import type { TriggerEvaluationRecord, TriggerRecord } from '../domain/trigger-record.js';
import type { ActionLookup } from '../ports/action-store.js';
import type { DataStore } from '../ports/data-store.js';
import type { InvocationControl } from '../ports/invocation-control.js';
import type { InvocationStore } from '../ports/invocation-store.js';
import type { EvaluationEnd, TriggerEvaluationStore } from '../ports/trigger-evaluation-store.js';
import type { TriggerEventHandler } from '../ports/trigger-events.js';
import type { TriggerStore } from '../ports/trigger-store.js';
import { redisStoreOptions } from './control-plane.js';

export interface TriggerEvaluatorDependencies {
  triggers: Pick<TriggerStore, 'queryTriggers'>;
  evaluations: TriggerEvaluationStore;
  data: Pick<DataStore, 'getDataset' | 'listFiles'>;
  /** Where the invocation that produced an event's files is read (its provenance). */
  invocations: Pick<InvocationStore, 'get'>;
  actions: ActionLookup;
  control: InvocationControl;
  defaultTimeoutMinutes: number;
  logger: Logger;
  /** Where the evaluator's metrics are registered. */
  registry: Registry;
  now?: () => Date;
}

/** The metrics of trigger evaluation. */
class EvaluatorMetrics {
  readonly evaluations: Counter<'outcome' | 'reason'>;
  readonly lagSeconds: Histogram;

  constructor(registry: Registry) {
    this.evaluations = new Counter({
      name: 'action_worker_trigger_evaluations_total',
      help: 'Trigger evaluations ended, by outcome (invoked_action, skipped, failed) and reason',
      labelNames: ['outcome', 'reason'],
      registers: [registry],
    });
    this.lagSeconds = new Histogram({
      name: 'action_worker_trigger_evaluation_lag_seconds',
      help: 'From the change to data (event.occurred) to the trigger evaluation deciding',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
      registers: [registry],
    });
  }
}

/** How many of an event's trigger evaluations run at once. */
const EVALUATION_CONCURRENCY = 16;

/** How many triggers one query reads (the store's maximum page). */
const TRIGGER_PAGE = 1000;

/**
 * The trigger evaluator (spec §4.5 "Recommended evaluator", issue 13): for an event, every trigger of the
 * org (disabled ones too, recorded as skipped) whose causes include the event's gets one evaluation
 * record; the pure decision (domain/trigger-evaluation.ts) says what to invoke; each unit is submitted as
 * `POST /v1/actions/{name}/invoke` would, with a deterministic idempotency id, so an event handled again
 * invokes nothing twice and finds its evaluations instead of making new ones.
 */
export class TriggerEvaluator implements TriggerEventHandler {
  private readonly metrics: EvaluatorMetrics;
  private readonly now: () => Date;

  constructor(private readonly deps: TriggerEvaluatorDependencies) {
    this.metrics = new EvaluatorMetrics(deps.registry);
    this.now = deps.now ?? (() => new Date());
  }

  async handle(event: TriggerEvent): Promise<void> {
    const { logger } = this.deps;
    const dataset = await this.deps.data.getDataset(event.dataset_id);
    if (dataset?.org_id !== event.org_id) {
      logger.warn(
        { eventId: event.event_id, datasetId: event.dataset_id, orgId: event.org_id },
        'trigger.event_dataset_missing',
      );
      return;
    }
    const triggers = (await this.orgTriggers(event.org_id)).filter((trigger) =>
      trigger.causes.includes(event.cause),
    );
    if (triggers.length === 0) return;
    const files = (await this.deps.data.listFiles(dataset.dataset_id)).map((stored) => stored.record);
    const source = await this.sourceOf(event);
    let retry: Error | undefined;
    // The triggers are independent (a record and idempotency ids of their own each): evaluated a few at a
    // time, so an org's hundred triggers cost a few Redis round trips of latency, not a hundred.
    const limit = pLimit(EVALUATION_CONCURRENCY);
    await Promise.all(
      triggers.map((trigger) =>
        limit(async () => {
          try {
            await this.evaluate(trigger, event, dataset, files, source);
          } catch (error) {
            // Recorded as failed; the event is retried (after the other triggers) only when trying again
            // may help.
            if (retry === undefined && isRetryable(error)) {
              retry = error instanceof Error ? error : new Error(String(error));
            }
          }
        }),
      ),
    );
    if (retry !== undefined) throw retry;
  }

  /** Every trigger of the org, enabled or not. */
  private async orgTriggers(orgId: string): Promise<TriggerRecord[]> {
    const all: TriggerRecord[] = [];
    let after: string | null = null;
    do {
      const page = await this.deps.triggers.queryTriggers(orgId, {
        limit: TRIGGER_PAGE,
        sortBy: 'created',
        sortDirection: 'ASC',
        after,
      });
      all.push(...page.items);
      after = page.nextToken;
    } while (after !== null);
    return all;
  }

  /** The invocation that uploaded the event's files, as the loop guards see it; null for any other change. */
  private async sourceOf(event: TriggerEvent): Promise<EventSource | null> {
    if (event.source_invocation_id === null) return null;
    const record = await this.deps.invocations.get(event.source_invocation_id);
    if (record?.org_id !== event.org_id) return null;
    const provenance = record.request.provenance;
    if (provenance?.source.source_type !== 'Trigger') return { trigger_id: null, trigger_depth: 0 };
    return { trigger_id: provenance.source.source_id, trigger_depth: provenance.trigger_depth ?? 1 };
  }

  private async evaluate(
    trigger: TriggerRecord,
    event: TriggerEvent,
    dataset: DatasetRecord,
    files: Parameters<typeof decideEvaluation>[0]['files'],
    source: EventSource | null,
  ): Promise<void> {
    const { evaluations, logger } = this.deps;
    const { record, isNew } = await evaluations.createPending(event.org_id, event.event_id, {
      trigger_id: trigger.trigger_id,
      data_source: { data_source_type: 'Dataset', data_source_id: dataset.dataset_id },
      data_constraint: constraintOf(event),
      evaluation_start: this.now().toISOString(),
      evaluation_end: null,
      status: 'pending',
      status_detail: null,
      outcome: null,
      outcome_reason: null,
      cause: event.cause,
    });
    // Handled before: an evaluated one stands; a pending (a crash) or failed one is evaluated again.
    if (!isNew && record.status === 'evaluated') return;
    let end: EvaluationEnd;
    try {
      const decision = decideEvaluation({ trigger, event, dataset, files, source });
      end = await this.act(trigger, dataset, decision, record.trigger_evaluation_id);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await this.finish(record, event, { status: 'failed', status_detail: message });
      logger.warn(
        { err: error, triggerId: trigger.trigger_id, evaluationId: record.trigger_evaluation_id },
        'trigger.evaluation_failed',
      );
      throw error;
    }
    await this.finish(record, event, end);
  }

  private async finish(
    record: TriggerEvaluationRecord,
    event: TriggerEvent,
    end: EvaluationEnd,
  ): Promise<void> {
    const at = this.now();
    await this.deps.evaluations.finish(event.org_id, record.trigger_evaluation_id, end, at.toISOString());
    const outcome = end.status === 'failed' ? 'failed' : end.outcome;
    const reason = end.status === 'failed' ? '' : (end.outcome_reason ?? (end.status_detail ? 'loop' : ''));
    this.metrics.evaluations.inc({ outcome, reason });
    const occurred = Date.parse(event.occurred);
    if (!Number.isNaN(occurred)) this.metrics.lagSeconds.observe(Math.max(0, at.getTime() - occurred) / 1000);
    this.deps.logger.info(
      {
        triggerId: record.trigger_id,
        evaluationId: record.trigger_evaluation_id,
        eventId: event.event_id,
        outcome,
        reason: reason || undefined,
      },
      'trigger.evaluated',
    );
  }

  /** Submits the decision's units: invoked_action when this evaluation made one, already_run when none. */
  private async act(
    trigger: TriggerRecord,
    dataset: DatasetRecord,
    decision: EvaluationDecision,
    evaluationId: number,
  ): Promise<EvaluationEnd> {
    if (decision.kind === 'skipped') {
      return {
        status: 'evaluated',
        outcome: 'skipped',
        outcome_reason: decision.reason,
        status_detail: decision.detail,
      };
    }
    // An invocation this evaluation made: new now, or made by an earlier try of this same evaluation (cut
    // off after submitting, or a concurrent delivery of its event), which the invocation's provenance
    // names. One made by another event's evaluation of the same data ran already.
    let created = 0;
    for (const unit of decision.units) {
      const request = await this.requestFor(trigger, dataset, unit, decision.trigger_depth, evaluationId);
      const { record, isNew } = await this.deps.control.submit(request);
      if (isNew || record.request.provenance?.trigger_evaluation_id === evaluationId) {
        created += 1;
        this.deps.logger.info(
          { triggerId: trigger.trigger_id, invocationId: record.invocation_id },
          'trigger.invocation_created',
        );
      }
    }
    return created > 0
      ? { status: 'evaluated', outcome: 'invoked_action', outcome_reason: null, status_detail: null }
      : { status: 'evaluated', outcome: 'skipped', outcome_reason: 'already_run', status_detail: null };
  }

  /** The request `POST /v1/actions/{name}/invoke` (spec A8, T9) would make for the unit. */
  private async requestFor(
    trigger: TriggerRecord,
    dataset: DatasetRecord,
    unit: EvaluationUnit,
    depth: number,
    evaluationId: number,
  ): Promise<InvocationRequest> {
    const { actions } = this.deps;
    const visible = visibleTo(trigger.org_id);
    const reference = trigger.action;
    const action = await actions.getAction(reference.owner, reference.name, reference.digest ?? undefined);
    if (action === undefined || !visible(action)) {
      throw new UsageError(
        `trigger ${trigger.name}: action ${reference.name}${reference.digest === null ? '' : `@${reference.digest}`} of ${reference.owner} not found`,
        'E_INVALID_INPUT',
      );
    }
    const resolved = await resolveInheritance(actions, action, visible);
    const request = invocationRequestFromAction(
      resolved,
      {
        compute_requirement_overrides: trigger.compute_requirement_overrides,
        container_parameter_overrides: trigger.container_parameter_overrides,
        data_source_id: dataset.dataset_id,
        idempotency_id: unit.idempotency_id,
        input_data: unit.input_data,
        rich_input_data: null,
        invocation_source: 'Trigger',
        invocation_source_id: trigger.trigger_id,
        parameter_values: trigger.parameter_values,
        timeout: trigger.timeout,
        upload_destination: { destination_type: 'Dataset', destination_id: dataset.dataset_id },
      },
      {
        callerOrgId: trigger.org_id,
        requesterId: trigger.service_user_id,
        defaultTimeoutMinutes: this.deps.defaultTimeoutMinutes,
      },
    );
    return {
      ...request,
      provenance:
        request.provenance === null
          ? null
          : { ...request.provenance, trigger_depth: depth, trigger_evaluation_id: evaluationId },
    };
  }
}

/** What the evaluation considers (spec §2.4): the upload transaction, or the one file. */
function constraintOf(event: TriggerEvent): TriggerEvaluationRecord['data_constraint'] {
  if (event.cause === 'file_upload') {
    return event.transaction_id === null ? null : { transaction_id: event.transaction_id, file_id: null };
  }
  if (event.cause === 'dataset_metadata_update') return null;
  const [fileId] = event.file_ids;
  return fileId === undefined ? null : { transaction_id: null, file_id: fileId };
}

/** Whether handling the event again may succeed: infrastructure (Redis, the queue) rather than the trigger. */
function isRetryable(error: unknown): boolean {
  // Errors that are not the app's own come from a client library (a connection dropped): transient.
  return error instanceof ActionWorkerError ? error.retryable : true;
}

/** The trigger evaluations in Redis, beside the triggers (under the records prefix). */
export function openTriggerEvaluationStore(
  settings: WorkerSettings,
  options: Parameters<typeof redisStoreOptions>[1] = {},
): RedisTriggerEvaluationStore {
  return new RedisTriggerEvaluationStore(redisStoreOptions(settings, options));
}
