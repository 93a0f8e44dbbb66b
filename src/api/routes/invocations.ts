import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { InvalidTransitionError, MalformedRecordError } from '../../domain/errors.js';
import {
  type LogRecordWire,
  LogRecordWire as LogRecordSchema,
  liveLogRecords,
  storedLogRecords,
} from '../../domain/invocation-log-records.js';
import { InvocationStatus, parseStatus } from '../../domain/invocation-status.js';
import { InvocationRecordWire, invocationToWire, sortStatuses } from '../../domain/invocation-wire.js';
import {
  datasetsNamed,
  invocationRequestFromAction,
  resolveInheritance,
  visibleTo,
} from '../../domain/invoke-action.js';
import { UNSPECIFIED_DATA_SOURCE } from '../../domain/records.js';
import { decodePageToken, encodePageToken } from '../../domain/store-query.js';
import type { ActionLookup } from '../../ports/action-store.js';
import type { InvocationControl } from '../../ports/invocation-control.js';
import type { InvocationRecord, InvocationStore } from '../../ports/invocation-store.js';
import { HttpError } from '../errors.js';
import { envelope } from '../schemas.js';
import { ERROR_RESPONSES, callerOf, scopeOf } from './route-kit.js';

export interface InvocationRouteOptions {
  invocations: InvocationStore;
  /** Invoking (record + queue job) and cancelling, as `action-worker invoke/cancel` do. */
  control: InvocationControl;
  /** Registered actions, for invoking by name (A8). */
  actions: ActionLookup;
  /** Whether the dataset exists in that org (the data store's): an invocation's inputs and destination. */
  datasetExists: (orgId: string, datasetId: string) => Promise<boolean>;
  /** Minutes, when neither the invocation nor its action names a timeout (settings.defaultTimeoutMinutes). */
  defaultTimeoutMinutes: number;
  /** Invocations cancelled per cancel-all call (I5); by default 100. */
  cancelAllBatch?: number;
  /** Log lines per page (I8) and per stream answer (I9); by default 1000. */
  logPageSize?: number;
  /**
   * The id of the org's trigger of that name, if any: an invoke with `invocation_source: "Trigger"` names
   * its trigger by name (the SDK's Trigger.invoke) but is queried by id (Trigger.get_invocations), so the
   * name is stored as the id (spec §4.5). Without it the source id is kept as sent.
   */
  triggerIdOf?: (orgId: string, name: string) => Promise<string | undefined>;
}

const InvocationIdParams = z.object({ invocation_id: z.string().min(1).max(200) });
const WireEnvelope = envelope(InvocationRecordWire);
const RESPONSES = { 200: WireEnvelope, ...ERROR_RESPONSES, 409: ERROR_RESPONSES[404] } as const;

/** A QuerySpecification (spec §2.11): the condition is checked by the domain's evaluator. */
const QuerySpecification = z.object({
  condition: z.unknown().optional(),
  limit: z.number().int().nullable().optional(),
  max_results: z.number().int().nullable().optional(),
  after: z.string().nullable().optional(),
  sort_by: z.string().nullable().optional(),
  sort_direction: z.enum(['ASC', 'DESC']).nullable().optional(),
});

const UpdateStatusBody = z.object({
  status: z.union([z.number().int(), z.string().regex(/^\d+$/)]),
  detail: z.string().nullable().optional(),
});

const ComputeOverride = z.record(z.string(), z.unknown());

/** CreateInvocationRequest (spec A8): the SDK sends all twelve keys; absent ones take their defaults. */
const CreateInvocationBody = z.object({
  compute_requirement_overrides: ComputeOverride.nullable().optional(),
  container_parameter_overrides: z.record(z.string(), z.unknown()).nullable().optional(),
  data_source_id: z.string().min(1).nullable().optional(),
  data_source_type: z.literal('Dataset').nullable().optional(),
  idempotency_id: z.string().min(1).max(256).nullable().optional(),
  input_data: z.array(z.string()).nullable().optional(),
  rich_input_data: z.unknown().optional(),
  invocation_source: z.enum(['Manual', 'Trigger']).nullable().optional(),
  invocation_source_id: z.string().nullable().optional(),
  parameter_values: z.record(z.string(), z.unknown()).nullable().optional(),
  timeout: z.number().int().positive().nullable().optional(),
  upload_destination: z
    .object({
      destination_type: z.string().optional().default('Dataset'),
      destination_id: z.string().nullable().optional().default(null),
    })
    .nullable()
    .optional(),
});

const LogPage = envelope(z.object({ items: z.array(LogRecordSchema), next_token: z.string().nullable() }));
const LogStream = envelope(
  z.object({ items: z.array(LogRecordSchema), has_next: z.boolean(), last_read: z.string().nullable() }),
);

/**
 * Invocations (spec §3.2 I1–I9) and invoking an action by name (A8). Every invocation is its org's only:
 * another org's answers exactly as a missing one (404 RobotoNotFoundException).
 */
export const invocationRoutes: FastifyPluginAsyncZod<InvocationRouteOptions> = async (app, options) => {
  const { invocations, control, actions } = options;
  const cancelAllBatch = options.cancelAllBatch ?? 100;
  const logPageSize = options.logPageSize ?? 1000;
  const wireOptions = { defaultTimeoutMinutes: options.defaultTimeoutMinutes };
  const toWire = (record: InvocationRecord) => invocationToWire(record, wireOptions);

  const ownInvocation = async (request: FastifyRequest, invocationId: string) => {
    let record: InvocationRecord | undefined;
    try {
      record = await invocations.get(invocationId);
    } catch (error) {
      // Whose it is cannot be told: a 500 would tell another org that the id exists. Operators see it here.
      if (!(error instanceof MalformedRecordError)) throw error;
      request.log.error({ err: error, invocationId }, 'api.invocation_unreadable');
      record = undefined;
    }
    if (record === undefined || record.org_id !== callerOf(request).orgId) {
      throw new HttpError(404, 'RobotoNotFoundException', `invocation ${invocationId} not found`);
    }
    return record;
  };

  /** Every complete log line so far: the stored log once finished, the live output while it runs. */
  const logLines = async (record: InvocationRecord): Promise<LogRecordWire[]> => {
    const stored = await invocations.getLog(record.invocation_id);
    if (record.is_finished || stored !== '') return storedLogRecords(stored, record.created);
    const live = await invocations.readLiveLog(record.invocation_id, '0', 0);
    const latest = sortStatuses(record.status).at(-1)?.timestamp ?? record.created;
    return liveLogRecords(
      live.entries.map((entry) => entry.text),
      record.last_heartbeat ?? latest,
    );
  };

  app.get(
    '/v1/actions/invocations/:invocation_id',
    {
      schema: {
        summary: 'Get an invocation (spec I1)',
        params: InvocationIdParams,
        response: RESPONSES,
      },
    },
    async (request) => ({ data: toWire(await ownInvocation(request, request.params.invocation_id)) }),
  );

  app.post(
    '/v1/actions/invocations/query',
    {
      schema: {
        summary: "Query the org's invocations (spec I2)",
        body: QuerySpecification,
        response: {
          200: envelope(
            z.object({ items: z.array(InvocationRecordWire), next_token: z.string().nullable() }),
          ),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request) => {
      const orgId = callerOf(request).orgId;
      // Another org's invocations are not there for this caller: its owner header finds none.
      if (scopeOf(request).ownerOrgId !== orgId) return { data: { items: [], next_token: null } };
      const body = request.body;
      const page = await invocations.query(
        orgId,
        {
          condition: body.condition as never,
          limit: body.limit ?? null,
          after: body.after ?? null,
          sort_by: body.sort_by ?? null,
          sort_direction: body.sort_direction ?? null,
        },
        wireOptions,
      );
      return { data: { items: page.items.map(toWire), next_token: page.nextToken } };
    },
  );

  app.post(
    '/v1/actions/invocations/:invocation_id/status',
    {
      schema: {
        summary: 'Append a status, checked against the transition rules (spec I3)',
        params: InvocationIdParams,
        body: UpdateStatusBody,
        response: RESPONSES,
      },
    },
    async (request) => {
      const record = await ownInvocation(request, request.params.invocation_id);
      const to = parseStatus(request.body.status);
      if (to === undefined) {
        throw new HttpError(
          400,
          'RobotoInvalidRequestException',
          `status ${String(request.body.status)} is not one`,
        );
      }
      // A replay of the current status changes nothing (spec §4.4).
      if (to === record.last_status) return { data: toWire(record) };
      try {
        const updated = await invocations.transition(record.invocation_id, to, request.body.detail ?? null);
        return { data: toWire(updated) };
      } catch (error) {
        if (error instanceof InvalidTransitionError) {
          throw new HttpError(400, 'RobotoInvalidStateTransitionException', error.message);
        }
        throw error;
      }
    },
  );

  app.post(
    '/v1/actions/invocations/:invocation_id/cancel',
    {
      schema: {
        summary: 'Cancel an invocation; one already finished is left as it is (spec I4)',
        params: InvocationIdParams,
        response: RESPONSES,
      },
    },
    async (request) => {
      const record = await ownInvocation(request, request.params.invocation_id);
      if (!record.is_finished) await control.cancel(record.invocation_id);
      return { data: toWire((await invocations.get(record.invocation_id)) ?? record) };
    },
  );

  app.post(
    '/v1/actions/invocations/cancel/all',
    {
      schema: {
        summary: "Cancel a batch of the org's active invocations created before a time (spec I5)",
        body: z.object({
          created_before: z.iso.datetime({ offset: true, local: true }).nullable().optional(),
        }),
        response: {
          200: envelope(
            z.object({
              success_count: z.number().int(),
              failure_count: z.number().int(),
              has_more: z.boolean(),
            }),
          ),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request) => {
      const orgId = callerOf(request).orgId;
      if (scopeOf(request).ownerOrgId !== orgId) {
        return { data: { success_count: 0, failure_count: 0, has_more: false } };
      }
      const before = request.body.created_before ?? null;
      const conditions: unknown[] = [
        { field: 'last_status', comparator: 'LESS_THAN', value: InvocationStatus.Completed },
      ];
      if (before !== null) conditions.push({ field: 'created', comparator: 'LESS_THAN', value: before });
      const page = await invocations.query(
        orgId,
        { condition: { operator: 'AND', conditions } as never, sort_by: 'created', sort_direction: 'ASC' },
        wireOptions,
      );
      // Those already asked to stop are their workers' now: counting them again would never end the loop.
      const candidates = page.items.filter((record) => !record.is_cancel_requested && !record.is_finished);
      let success = 0;
      let failure = 0;
      for (const record of candidates.slice(0, cancelAllBatch)) {
        try {
          await control.cancel(record.invocation_id);
          success += 1;
        } catch (error) {
          failure += 1;
          request.log.warn({ err: error, invocationId: record.invocation_id }, 'api.cancel_all_failed');
        }
      }
      const hasMore = candidates.length > cancelAllBatch || page.nextToken !== null;
      return { data: { success_count: success, failure_count: failure, has_more: hasMore } };
    },
  );

  app.put(
    '/v1/actions/invocations/:invocation_id/container-info',
    {
      schema: {
        summary: "Record the container image's digest (spec I6)",
        params: InvocationIdParams,
        body: z.object({ image_digest: z.string().min(1).max(300) }),
        response: RESPONSES,
      },
    },
    async (request) => {
      const record = await ownInvocation(request, request.params.invocation_id);
      await invocations.setRunInfo(record.invocation_id, {
        image: {
          reference: record.image?.reference ?? record.request.action.image,
          id: record.image?.id ?? '',
          digest: request.body.image_digest,
        },
      });
      return { data: toWire((await invocations.get(record.invocation_id)) ?? record) };
    },
  );

  app.put(
    '/v1/actions/invocations/:invocation_id/logs',
    {
      schema: {
        summary: 'Accept a logs location; logs stay with the record (spec I7)',
        params: InvocationIdParams,
        body: z.object({ bucket: z.string(), prefix: z.string() }),
        response: RESPONSES,
      },
    },
    async (request) => ({ data: toWire(await ownInvocation(request, request.params.invocation_id)) }),
  );

  app.get(
    '/v1/actions/invocations/:invocation_id/logs',
    {
      schema: {
        summary: 'Log lines, oldest first, a page at a time (spec I8)',
        params: InvocationIdParams,
        querystring: z.object({ page_token: z.string().optional() }),
        response: { 200: LogPage, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const record = await ownInvocation(request, request.params.invocation_id);
      const token = request.query.page_token;
      const offset = token === undefined || token === '' ? 0 : decodePageToken(token);
      const lines = await logLines(record);
      const next = offset + logPageSize;
      return {
        data: {
          items: lines.slice(offset, next),
          next_token: next < lines.length ? encodePageToken(next) : null,
        },
      };
    },
  );

  app.get(
    '/v1/actions/invocations/:invocation_id/logs/stream',
    {
      schema: {
        summary: 'Log lines after a cursor (spec I9)',
        params: InvocationIdParams,
        querystring: z.object({ last_read: z.string().optional() }),
        response: { 200: LogStream, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const record = await ownInvocation(request, request.params.invocation_id);
      const cursor = request.query.last_read;
      const offset = cursor === undefined || cursor === '' ? 0 : decodePageToken(cursor);
      const lines = await logLines(record);
      const items = lines.slice(offset, offset + logPageSize);
      // Nothing new: the cursor received goes back unchanged (a null would restart the CLI's tail).
      const lastRead = items.length === 0 ? (cursor ?? null) : encodePageToken(offset + items.length);
      return { data: { items, has_next: offset + items.length < lines.length, last_read: lastRead } };
    },
  );

  app.post(
    '/v1/actions/:name/invoke',
    {
      schema: {
        summary: 'Invoke a registered action (spec A8): a Queued invocation in the caller org',
        params: z.object({ name: z.string().min(1).max(256) }),
        querystring: z.object({ digest: z.string().min(1).optional() }),
        body: CreateInvocationBody,
        response: RESPONSES,
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const scope = scopeOf(request);
      const { name } = request.params;
      const visible = visibleTo(caller.orgId);
      const action = await actions.getAction(scope.ownerOrgId, name, request.query.digest);
      if (action === undefined || !visible(action)) {
        const version = request.query.digest === undefined ? '' : `@${request.query.digest}`;
        throw new HttpError(404, 'RobotoNotFoundException', `action ${name}${version} not found`);
      }
      const resolved = await resolveInheritance(actions, action, visible);
      const body = request.body;
      let sourceId = body.invocation_source_id ?? null;
      if (body.invocation_source === 'Trigger' && sourceId !== null && options.triggerIdOf) {
        sourceId = (await options.triggerIdOf(scope.callerOrgId, sourceId)) ?? sourceId;
      }
      const invocationRequest = invocationRequestFromAction(
        resolved,
        {
          compute_requirement_overrides: (body.compute_requirement_overrides ?? null) as never,
          container_parameter_overrides: (body.container_parameter_overrides ?? null) as never,
          data_source_id: body.data_source_id ?? UNSPECIFIED_DATA_SOURCE,
          idempotency_id: body.idempotency_id ?? null,
          input_data: body.input_data ?? [],
          rich_input_data: body.rich_input_data ?? null,
          invocation_source: body.invocation_source ?? 'Manual',
          invocation_source_id: sourceId,
          parameter_values: body.parameter_values ?? null,
          timeout: body.timeout ?? null,
          upload_destination: body.upload_destination ?? null,
        },
        {
          callerOrgId: scope.callerOrgId,
          requesterId: caller.tokenId,
          defaultTimeoutMinutes: options.defaultTimeoutMinutes,
        },
      );
      for (const datasetId of datasetsNamed(invocationRequest)) {
        if (!(await options.datasetExists(scope.callerOrgId, datasetId))) {
          throw new HttpError(404, 'RobotoDatasetNotFoundException', `dataset ${datasetId} not found`);
        }
      }
      const { record, isNew } = await control.submit(invocationRequest);
      if (!isNew) {
        throw new HttpError(
          409,
          'RobotoConflictException',
          `idempotency_id ${String(invocationRequest.idempotency_id)} was already used in this org`,
        );
      }
      request.log.info(
        { invocationId: record.invocation_id, action: action.name, digest: action.digest },
        'api.invocation_created',
      );
      return { data: toWire(record) };
    },
  );

  await Promise.resolve();
};
