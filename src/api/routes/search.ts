import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DataStore, StoreQuery } from '../../ports/data-store.js';
import { QuerySpecificationRequest, fileToWire, storeQueryOf, topicToWire } from '../data-schemas.js';
import { HttpError } from '../errors.js';
import { datasetToWire, envelope } from '../schemas.js';
import type { UrlSigner } from '../signed-urls.js';
import { queryOrgOf } from './files.js';
import { ERROR_RESPONSES, callerOf } from './route-kit.js';

/**
 * The query service (spec §3.8: `roboto datasets search`, and the runtime's input resolution). Queries are
 * answered at once: a submitted query is `results_available` from the start (the SDK would poll a
 * `scheduled` one forever), and a bad one is a 400 on submit. Nothing is stored: the query id is the query
 * itself, sealed with the server's signing key, so any replica sharing the key answers it and nobody can
 * forge one for another org.
 */

const TARGETS = ['datasets', 'files', 'topics'] as const;
type Target = (typeof TARGETS)[number];
/** What the SDK may name; only these three are kept here. */
const KNOWN_TARGETS = [
  'collections',
  'datasets',
  'devices',
  'files',
  'sessions',
  'topics',
  'topic_message_paths',
  'events',
] as const;

/** What a query id carries. */
interface SealedQuery {
  org: string;
  target: Target;
  query: StoreQuery;
  /** The QuerySpecification or RoboQL as submitted, for `query_ctx`. */
  ctx: Record<string, unknown>;
  submitted: string;
  by: string;
  count: number;
}

const QueryRecordSchema = z.object({
  modified: z.string(),
  org_id: z.string(),
  query_id: z.string(),
  query_ctx: z.object({ query_scheme: z.string(), query: z.record(z.string(), z.unknown()) }),
  result_count: z.number().int(),
  status: z.enum(['scheduled', 'results_available', 'failed']),
  submitted: z.string(),
  submitted_by: z.string(),
  target: z.enum(KNOWN_TARGETS),
});

function queryRecord(queryId: string, sealed: SealedQuery): z.output<typeof QueryRecordSchema> {
  return {
    modified: sealed.submitted,
    org_id: sealed.org,
    query_id: queryId,
    query_ctx: { query_scheme: 'query_spec_v1', query: sealed.ctx },
    result_count: sealed.count,
    status: 'results_available',
    submitted: sealed.submitted,
    submitted_by: sealed.by,
    target: sealed.target,
  };
}

const Submit = {
  content_mode: z.string().optional(),
  target: z.enum(KNOWN_TARGETS),
};

export const searchRoutes: FastifyPluginAsyncZod<{ store: DataStore; signer: UrlSigner }> = async (
  app,
  { store, signer },
) => {
  const run = async (target: Target, query: StoreQuery) => {
    switch (target) {
      case 'datasets': {
        const page = await store.queryDatasets(query);
        return { ...page, items: page.items.map(datasetToWire) as unknown[] };
      }
      case 'files': {
        const page = await store.queryFiles(query);
        return { ...page, items: page.items.map((stored) => fileToWire(stored.record)) as unknown[] };
      }
      case 'topics': {
        const page = await store.queryTopics(query);
        return { ...page, items: page.items.map(topicToWire) as unknown[] };
      }
    }
  };

  const submit = async (
    orgId: string | undefined,
    by: string,
    target: (typeof KNOWN_TARGETS)[number],
    query: StoreQuery,
    ctx: Record<string, unknown>,
  ) => {
    if (!(TARGETS as readonly string[]).includes(target)) {
      throw new HttpError(400, 'RobotoIllegalArgumentException', `query target ${target} is not kept here`);
    }
    const known = target as Target;
    // Run once now: a bad query fails here, and the count is known. Another org's scope has nothing.
    const count = orgId === undefined ? 0 : (await run(known, { ...query, limit: 1, after: null })).total;
    const sealed: SealedQuery = {
      org: orgId ?? '',
      target: known,
      query,
      ctx,
      submitted: new Date().toISOString(),
      by,
      count,
    };
    const queryId = `qr_${signer.seal(JSON.stringify(sealed))}`;
    return { data: queryRecord(queryId, sealed) };
  };

  /** The caller's query by id, or 404 (a forged, altered or another org's id is not found). */
  const ownQuery = (queryId: string, orgId: string): SealedQuery => {
    const text = queryId.startsWith('qr_') ? signer.unseal(queryId.slice(3)) : undefined;
    const sealed = text === undefined ? undefined : (JSON.parse(text) as SealedQuery);
    if (sealed === undefined || (sealed.org !== '' && sealed.org !== orgId)) {
      throw new HttpError(404, 'RobotoNotFoundException', `query ${queryId.slice(0, 40)}… not found`);
    }
    return sealed;
  };

  app.post(
    '/v1/query/submit/roboql',
    {
      schema: {
        summary: 'Submit a RoboQL query; answered at once (spec Q1)',
        body: z.object({ ...Submit, query: z.string() }),
        response: { 200: envelope(QueryRecordSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const orgId = queryOrgOf(request);
      const { query, target } = request.body;
      return submit(
        orgId,
        callerOf(request).tokenId,
        target,
        { roboql: query, ...(orgId === undefined ? {} : { orgId }) },
        { roboql: query },
      );
    },
  );

  app.post(
    '/v1/query/submit/structured',
    {
      schema: {
        summary: 'Submit a QuerySpecification; answered at once (spec Q2, `roboto datasets search`)',
        body: z.object({ ...Submit, query: QuerySpecificationRequest }),
        response: { 200: envelope(QueryRecordSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const orgId = queryOrgOf(request);
      const { query, target } = request.body;
      return submit(
        orgId,
        callerOf(request).tokenId,
        target,
        storeQueryOf({ ...query, after: null }, orgId ?? ''),
        query,
      );
    },
  );

  const QueryIdParams = z.object({ query_id: z.string().min(4) });

  app.get(
    '/v1/query/id/:query_id',
    {
      schema: {
        summary: "A query's status: always results_available (spec Q3)",
        params: QueryIdParams,
        response: { 200: envelope(QueryRecordSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { query_id: queryId } = request.params;
      return Promise.resolve({ data: queryRecord(queryId, ownQuery(queryId, callerOf(request).orgId)) });
    },
  );

  app.get(
    '/v1/query/id/:query_id/results',
    {
      schema: {
        summary: "A query's results, paged by next_page_token (spec Q3)",
        params: QueryIdParams,
        querystring: z.object({ next_page_token: z.string().min(1).optional() }),
        response: {
          200: envelope(z.object({ items: z.array(z.unknown()), next_token: z.string().nullable() })),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request) => {
      const sealed = ownQuery(request.params.query_id, callerOf(request).orgId);
      if (sealed.org === '') return { data: { items: [], next_token: null } };
      const page = await run(sealed.target, {
        ...sealed.query,
        orgId: sealed.org,
        after: request.query.next_page_token ?? null,
      });
      return { data: { items: page.items, next_token: page.nextToken } };
    },
  );

  await Promise.resolve();
};
