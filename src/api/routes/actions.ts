import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ActionQuery } from '../../domain/action-query.js';
import type { ActionRecord } from '../../domain/action-record.js';
import {
  ActionExistsError,
  CreateActionRequest,
  UpdateActionRequest,
  newAction,
  nextVersion,
} from '../../domain/action-versions.js';
import type { Condition, ConditionGroup } from '../../domain/query-condition.js';
import type { ActionStore } from '../../ports/action-store.js';
import {
  ActionNameParams,
  ActionPage,
  ActionRecordWire,
  DigestQuery,
  QuerySpecificationBody,
  SetAccessibilityBody,
} from '../action-schemas.js';
import { ErrorEnvelope, envelope } from '../schemas.js';
import { HttpError } from '../errors.js';
import { ERROR_RESPONSES, callerOf, scopeOf } from './route-kit.js';

/** One message for a missing action and one the caller may not see or change: they must not differ. */
function actionNotFound(name: string, digest?: string): HttpError {
  return new HttpError(
    404,
    'RobotoNotFoundException',
    digest === undefined ? `action ${name} not found` : `action ${name} has no version ${digest}`,
  );
}

function toQuery(body: z.output<typeof QuerySpecificationBody>, extra?: Condition): ActionQuery {
  const given = body.condition === undefined || body.condition === null ? null : body.condition;
  const condition: Condition | ConditionGroup | null =
    extra === undefined
      ? (given as Condition | ConditionGroup | null)
      : given === null
        ? extra
        : { operator: 'AND', conditions: [extra, given as Condition | ConditionGroup] };
  return {
    condition,
    limit: body.limit ?? null,
    after: body.after ?? null,
    sortBy: body.sort_by ?? null,
    sortDirection: body.sort_direction ?? null,
  };
}

function page(result: { items: ActionRecord[]; total: number; nextToken: string | null }) {
  return { data: { items: result.items, next_token: result.nextToken, total_count: result.total } };
}

/**
 * Registered actions (spec §3.1 A1–A7, §1.12). Creates go to the caller org; name routes and queries
 * address the owner org (header, default the caller's). Another org's action is readable only while it is
 * on the Action Hub and is never writable: otherwise it answers exactly as a missing one. `created_by` and
 * `modified_by` are the caller's token id (there are no users).
 */
export const actionRoutes: FastifyPluginAsyncZod<{ actions: ActionStore }> = async (app, { actions }) => {
  const author = (request: FastifyRequest) => ({ userId: callerOf(request).tokenId, now: new Date() });

  /** The owner org of a write, which must be the caller's own. */
  const writableOrg = (request: FastifyRequest, name: string): string => {
    const scope = scopeOf(request);
    if (scope.ownerOrgId !== scope.callerOrgId) throw actionNotFound(name);
    return scope.ownerOrgId;
  };

  app.post(
    '/v1/actions',
    {
      schema: {
        summary: 'Create an action in the caller org: its first version (spec A1)',
        body: CreateActionRequest,
        response: { 200: envelope(ActionRecordWire), 409: ErrorEnvelope, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const record = newAction(request.body, scopeOf(request).callerOrgId, author(request));
      try {
        return { data: await actions.createAction(record) };
      } catch (error) {
        if (error instanceof ActionExistsError) {
          throw new HttpError(409, 'RobotoConflictException', `action ${record.name} already exists`);
        }
        throw error;
      }
    },
  );

  app.post(
    '/v1/actions/query',
    {
      schema: {
        summary: "Query the owner org's actions, latest version of each (spec A6)",
        body: QuerySpecificationBody,
        response: { 200: envelope(ActionPage), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { callerOrgId, ownerOrgId } = scopeOf(request);
      if (ownerOrgId === callerOrgId) {
        return page(await actions.queryActions({ orgId: ownerOrgId }, toQuery(request.body)));
      }
      // Another org: only what it has on the Action Hub.
      const own: Condition = { field: 'org_id', comparator: 'EQUALS', value: ownerOrgId };
      return page(await actions.queryActions({ actionHub: true }, toQuery(request.body, own)));
    },
  );

  app.post(
    '/v1/actions/query/actionhub',
    {
      schema: {
        summary: "Query every org's Action Hub actions, latest version of each (spec A7)",
        body: QuerySpecificationBody,
        response: { 200: envelope(ActionPage), ...ERROR_RESPONSES },
      },
    },
    async (request) => page(await actions.queryActions({ actionHub: true }, toQuery(request.body))),
  );

  app.get(
    '/v1/actions/:name',
    {
      schema: {
        summary: 'Get an action: its latest version, or the one with ?digest= (spec A2)',
        params: ActionNameParams,
        querystring: DigestQuery,
        response: { 200: envelope(ActionRecordWire), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { name } = request.params;
      const { digest } = request.query;
      const { callerOrgId, ownerOrgId } = scopeOf(request);
      const record = await actions.getAction(ownerOrgId, name, digest);
      if (record === undefined || (record.org_id !== callerOrgId && record.accessibility !== 'action_hub')) {
        throw actionNotFound(name, digest);
      }
      return { data: record };
    },
  );

  app.put(
    '/v1/actions/:name',
    {
      schema: {
        summary: 'Update an action: a new version with a new digest (spec A3)',
        params: ActionNameParams,
        body: UpdateActionRequest,
        response: { 200: envelope(ActionRecordWire), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { name } = request.params;
      const orgId = writableOrg(request, name);
      const made = author(request);
      const record = await actions.updateAction(orgId, name, (latest) =>
        nextVersion(latest, request.body, made),
      );
      if (record === undefined) throw actionNotFound(name);
      return { data: record };
    },
  );

  app.delete(
    '/v1/actions/:name',
    {
      schema: {
        summary: 'Delete an action and all its versions (spec A4)',
        params: ActionNameParams,
        response: { 200: envelope(z.null()), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { name } = request.params;
      if (!(await actions.deleteAction(writableOrg(request, name), name))) throw actionNotFound(name);
      return { data: null };
    },
  );

  app.put(
    '/v1/actions/:name/accessibility',
    {
      schema: {
        summary: 'Set who may see an action: its org or the Action Hub; no new version (spec A5)',
        params: ActionNameParams,
        body: SetAccessibilityBody,
        response: { 200: envelope(ActionRecordWire), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { name } = request.params;
      const orgId = writableOrg(request, name);
      const digest = request.body.digest ?? undefined;
      // Accessibility belongs to the whole action; a digest given must still name one of its versions.
      if (digest !== undefined && (await actions.getAction(orgId, name, digest)) === undefined) {
        throw actionNotFound(name, digest);
      }
      const record = await actions.setAccessibility(orgId, name, request.body.accessibility);
      if (record === undefined) throw actionNotFound(name);
      return { data: record };
    },
  );

  await Promise.resolve();
};
