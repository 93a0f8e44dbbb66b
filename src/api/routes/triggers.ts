import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Condition, ConditionGroup } from '../../domain/query-condition.js';
import { decodeEvaluationToken } from '../../domain/trigger-evaluation-page.js';
import { type TriggerQuery, pageTriggers } from '../../domain/trigger-query.js';
import type { TriggerRecord } from '../../domain/trigger-record.js';
import {
  CreateTriggerRequest,
  TriggerExistsError,
  UpdateTriggerRequest,
  checkTriggerAction,
  newTrigger,
  updateRetargets,
  updatedTrigger,
} from '../../domain/trigger-versions.js';
import type { ActionLookup } from '../../ports/action-store.js';
import type { EvaluationPage, TriggerEvaluationStore } from '../../ports/trigger-evaluation-store.js';
import type { TriggerStore } from '../../ports/trigger-store.js';
import { QuerySpecificationBody } from '../action-schemas.js';
import { HttpError } from '../errors.js';
import { ErrorEnvelope, envelope } from '../schemas.js';
import {
  DatasetEvaluationsParams,
  DatasetEvaluationsQuery,
  TriggerEvaluationPage,
  TriggerEvaluationsQuery,
  TriggerNameParams,
  TriggerPage,
  TriggerRecordWire,
} from '../trigger-schemas.js';
import { ERROR_RESPONSES, callerOf, scopeOf } from './route-kit.js';

export interface TriggerRouteOptions {
  triggers: TriggerStore;
  /** Where a trigger's action is looked up (the registered actions). */
  actions: ActionLookup;
  /** Whether the dataset exists in the org (T7): another org's answers as a missing one. */
  datasetExists: (orgId: string, datasetId: string) => Promise<boolean>;
  /** The evaluations T6/T7 list; without it, none are recorded (an empty page). */
  evaluations?: Pick<TriggerEvaluationStore, 'listByTrigger' | 'listByDataset'>;
}

/** Evaluations per page when the caller gives no `limit` (T7 never does; its pager follows next_token). */
const EVALUATION_PAGE = 100;

/** One message for a missing trigger and one the caller may not see: they must not differ. */
const triggerNotFound = (name: string): HttpError =>
  new HttpError(404, 'RobotoNotFoundException', `trigger ${name} not found`);

function toQuery(body: z.output<typeof QuerySpecificationBody>): TriggerQuery {
  return {
    condition: (body.condition ?? null) as Condition | ConditionGroup | null,
    limit: body.limit ?? null,
    after: body.after ?? null,
    sortBy: body.sort_by ?? null,
    sortDirection: body.sort_direction ?? null,
  };
}

const page = (result: { items: TriggerRecord[]; total: number; nextToken: string | null }) => ({
  data: { items: result.items, next_token: result.nextToken, total_count: result.total },
});

/** A page of evaluations as T6/T7 answer it (spec §1.9: no token after the last page). */
const evaluationPage = (result: EvaluationPage) => ({
  data: { items: result.items, next_token: result.nextToken },
});

/** No evaluation store: a checked token, an empty page. */
function noEvaluations(pageToken: string | undefined) {
  if (pageToken !== undefined) decodeEvaluationToken(pageToken);
  return { data: { items: [], next_token: null } };
}

/**
 * Triggers (spec §3.3 T1–T7, §1.12). Creates go to the caller org; name routes and queries address the
 * owner org (header, default the caller's), which must be the caller's own: triggers are never shared, so
 * another org's trigger answers exactly as a missing one, and a query of another org finds nothing.
 * `created_by`/`modified_by` are the caller's token id. Evaluations (T6, T7) are the evaluator's records,
 * newest first.
 */
export const triggerRoutes: FastifyPluginAsyncZod<TriggerRouteOptions> = async (
  app,
  { triggers, actions, datasetExists, evaluations },
) => {
  const author = (request: FastifyRequest) => ({ userId: callerOf(request).tokenId, now: new Date() });

  /** The org of a name route: the owner org, which must be the caller's own. */
  const ownOrg = (request: FastifyRequest, name: string): string => {
    const scope = scopeOf(request);
    if (scope.ownerOrgId !== scope.callerOrgId) throw triggerNotFound(name);
    return scope.ownerOrgId;
  };

  app.post(
    '/v1/triggers',
    {
      schema: {
        summary: 'Create a trigger in the caller org; its action must exist and be visible (spec T1)',
        body: CreateTriggerRequest,
        response: { 200: envelope(TriggerRecordWire), 409: ErrorEnvelope, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const record = newTrigger(request.body, scopeOf(request).callerOrgId, author(request));
      await checkTriggerAction(actions, record);
      try {
        return { data: await triggers.createTrigger(record) };
      } catch (error) {
        if (error instanceof TriggerExistsError) {
          throw new HttpError(409, 'RobotoConflictException', `trigger ${record.name} already exists`);
        }
        throw error;
      }
    },
  );

  app.post(
    '/v1/triggers/query',
    {
      schema: {
        summary: "Query the owner org's triggers (spec T3)",
        body: QuerySpecificationBody,
        response: { 200: envelope(TriggerPage), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { callerOrgId, ownerOrgId } = scopeOf(request);
      const query = toQuery(request.body);
      // Another org's triggers are not the caller's to see: the query is still checked, and finds nothing.
      if (ownerOrgId !== callerOrgId) return page(pageTriggers([], query));
      return page(await triggers.queryTriggers(ownerOrgId, query));
    },
  );

  app.get(
    '/v1/triggers/dataset/id/:dataset_id/evaluations',
    {
      schema: {
        summary: 'Evaluations of every trigger for a dataset, newest first (spec T7)',
        params: DatasetEvaluationsParams,
        querystring: DatasetEvaluationsQuery,
        response: { 200: envelope(TriggerEvaluationPage), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { dataset_id: datasetId } = request.params;
      const { callerOrgId, ownerOrgId } = scopeOf(request);
      if (ownerOrgId !== callerOrgId || !(await datasetExists(callerOrgId, datasetId))) {
        throw new HttpError(404, 'RobotoDatasetNotFoundException', `dataset ${datasetId} not found`);
      }
      const pageToken = request.query.page_token;
      if (evaluations === undefined) return noEvaluations(pageToken);
      return evaluationPage(
        await evaluations.listByDataset(callerOrgId, datasetId, {
          limit: EVALUATION_PAGE,
          ...(pageToken === undefined ? {} : { pageToken }),
        }),
      );
    },
  );

  app.get(
    '/v1/triggers/:name',
    {
      schema: {
        summary: 'Get a trigger by name (spec T2)',
        params: TriggerNameParams,
        response: { 200: envelope(TriggerRecordWire), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { name } = request.params;
      const record = await triggers.getTrigger(ownOrg(request, name), name);
      if (record === undefined) throw triggerNotFound(name);
      return { data: record };
    },
  );

  app.put(
    '/v1/triggers/:name',
    {
      schema: {
        summary: 'Update, enable or disable a trigger: only the keys present change, null clears (spec T4)',
        params: TriggerNameParams,
        body: UpdateTriggerRequest,
        response: { 200: envelope(TriggerRecordWire), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { name } = request.params;
      const orgId = ownOrg(request, name);
      const made = author(request);
      const record = await triggers.updateTrigger(orgId, name, async (current) => {
        const next = updatedTrigger(current, request.body, made);
        // Enabling or disabling a trigger whose action went away still works; retargeting it does not.
        if (updateRetargets(request.body)) await checkTriggerAction(actions, next);
        return next;
      });
      if (record === undefined) throw triggerNotFound(name);
      return { data: record };
    },
  );

  app.delete(
    '/v1/triggers/:name',
    {
      schema: {
        summary: 'Delete a trigger (spec T5)',
        params: TriggerNameParams,
        response: { 200: envelope(z.null()), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { name } = request.params;
      if (!(await triggers.deleteTrigger(ownOrg(request, name), name))) throw triggerNotFound(name);
      return { data: null };
    },
  );

  app.get(
    '/v1/triggers/:name/evaluations',
    {
      schema: {
        summary: "A trigger's evaluations, newest first (spec T6)",
        params: TriggerNameParams,
        querystring: TriggerEvaluationsQuery,
        response: { 200: envelope(TriggerEvaluationPage), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { name } = request.params;
      const orgId = ownOrg(request, name);
      const trigger = await triggers.getTrigger(orgId, name);
      if (trigger === undefined) throw triggerNotFound(name);
      const { limit, page_token: pageToken } = request.query;
      if (evaluations === undefined) return noEvaluations(pageToken);
      return evaluationPage(
        await evaluations.listByTrigger(orgId, trigger.trigger_id, {
          limit: limit ?? EVALUATION_PAGE,
          ...(pageToken === undefined ? {} : { pageToken }),
        }),
      );
    },
  );

  await Promise.resolve();
};
