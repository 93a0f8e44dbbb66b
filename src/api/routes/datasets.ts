import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ChangeNotifier } from '../../ports/trigger-events.js';
import { announcementBy } from '../trigger-announce.js';
import { z } from 'zod';
import { gitignoreMatcher } from '../../domain/gitignore.js';
import type { Condition } from '../../domain/query-condition.js';
import { MAX_QUERY_LIMIT, decodePageToken, encodePageToken } from '../../domain/store-query.js';
import type { DataStore, StoreQuery, StoredFile } from '../../ports/data-store.js';
import { HttpError } from '../errors.js';
import {
  CreateDatasetRequest,
  DatasetIdParams,
  DatasetRecordSchema,
  datasetToWire,
  envelope,
} from '../schemas.js';
import {
  FileRecordSchema,
  ListingQuery,
  QueryDatasetFilesRequest,
  QuerySpecificationRequest,
  TopicRecordSchema,
  UpdateDatasetRequest,
  changesetOf,
  fileToWire,
  pageOf,
  storeQueryOf,
} from '../data-schemas.js';
import { applying, queryOrgOf } from './files.js';
import { ERROR_RESPONSES, callerOf, scopeOf } from './route-kit.js';
import { topicPage } from './topics.js';

/** How many records a pattern-filtered listing reads from the store per query. */
const SCAN_CHUNK = 1000;

/**
 * One page of a dataset's available files matching the patterns, by path. Without patterns the store pages
 * them itself. With patterns, which SQL cannot express, the store's pages (by path, in chunks) are
 * filtered here, never more than a chunk at a time in memory; the token is the position in the store's
 * order of the next match, looked for before answering, so that no token is given for an empty tail.
 */
async function datasetFilesPage(
  store: DataStore,
  options: {
    datasetId: string;
    orgId: string;
    include: string[];
    exclude: string[];
    limit: number;
    token: string | null;
  },
): Promise<{ items: StoredFile[]; nextToken: string | null }> {
  const available: Condition[] = [
    { field: 'status', comparator: 'EQUALS', value: 'available' },
    { field: 'fs_type', comparator: 'EQUALS', value: 'file' },
  ];
  const query: StoreQuery = {
    condition: { operator: 'AND', conditions: available },
    datasetId: options.datasetId,
    orgId: options.orgId,
    sortBy: 'relative_path',
    sortDirection: 'ASC',
  };
  if (options.include.length === 0 && options.exclude.length === 0) {
    const page = await store.queryFiles({ ...query, limit: options.limit, after: options.token });
    return { items: page.items, nextToken: page.nextToken };
  }
  const included = options.include.length === 0 ? () => true : gitignoreMatcher(options.include);
  const excluded = options.exclude.length === 0 ? () => false : gitignoreMatcher(options.exclude);
  const items: StoredFile[] = [];
  let position = options.token === null ? 0 : decodePageToken(options.token);
  for (;;) {
    const chunk = await store.queryFiles({
      ...query,
      limit: SCAN_CHUNK,
      after: position === 0 ? null : encodePageToken(position),
    });
    for (const stored of chunk.items) {
      const path = stored.record.relative_path;
      if (included(path) && !excluded(path)) {
        if (items.length === options.limit) return { items, nextToken: encodePageToken(position) };
        items.push(stored);
      }
      position += 1;
    }
    if (chunk.nextToken === null) return { items, nextToken: null };
  }
}

/**
 * Devices and custom fields are not kept yet: a device is answered as one that does not exist (404), a
 * non-empty custom field (or changeset of them) as an argument we refuse (400), rather than dropped.
 */
function refuseUnkept(deviceId: string | null | undefined, customFields: object | null | undefined): void {
  if (deviceId) {
    throw new HttpError(
      404,
      'RobotoNotFoundException',
      `device ${deviceId} not found: devices are not kept yet`,
    );
  }
  if (customFields && Object.keys(customFields).length > 0) {
    throw new HttpError(400, 'RobotoIllegalArgumentException', 'custom_fields are not kept yet');
  }
}

/** Datasets (spec §3.4), in the caller's org only: another org's dataset answers exactly as a missing one. */
export const datasetRoutes: FastifyPluginAsyncZod<{
  store: DataStore;
  /** Told after D3 announced a change of metadata, tags or description (issue 13); none: no events. */
  changes?: ChangeNotifier;
}> = async (app, { store, changes }) => {
  const ownDataset = async (request: FastifyRequest, datasetId: string) => {
    const record = await store.getDataset(datasetId);
    if (record === undefined || record.org_id !== callerOf(request).orgId) {
      throw new HttpError(404, 'RobotoDatasetNotFoundException', `dataset ${datasetId} not found`);
    }
    return record;
  };

  app.get(
    '/v1/datasets/:dataset_id',
    {
      schema: {
        summary: 'Get a dataset (spec D2)',
        params: DatasetIdParams,
        response: { 200: envelope(DatasetRecordSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => ({ data: datasetToWire(await ownDataset(request, request.params.dataset_id)) }),
  );

  app.post(
    '/v1/datasets',
    {
      schema: {
        summary: 'Create a dataset in the caller org (spec D1)',
        body: CreateDatasetRequest,
        response: { 200: envelope(DatasetRecordSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const body = request.body;
      refuseUnkept(body.device_id, body.custom_fields);
      const record = await store.createDataset({
        orgId: scopeOf(request).callerOrgId,
        name: body.name ?? null,
        description: body.description ?? null,
        tags: body.tags ?? [],
        metadata: body.metadata ?? {},
      });
      return { data: datasetToWire(record) };
    },
  );

  app.put(
    '/v1/datasets/:dataset_id',
    {
      schema: {
        summary: 'Update a dataset: metadata changeset, name, description (spec D3)',
        params: DatasetIdParams,
        body: UpdateDatasetRequest,
        response: { 200: envelope(DatasetRecordSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { dataset_id: datasetId } = request.params;
      await ownDataset(request, datasetId);
      const body = request.body;
      refuseUnkept(body.device_id, body.custom_fields_changeset);
      // A change of what a trigger's condition reads (spec §4.5) is announced in the update's transaction.
      const announce = changes === undefined ? undefined : announcementBy(request);
      const record = await applying(() =>
        store.updateDataset(
          datasetId,
          changesetOf(body.metadata_changeset),
          {
            ...(body.name === undefined ? {} : { name: body.name }),
            ...(body.description === undefined ? {} : { description: body.description }),
          },
          announce,
        ),
      );
      changes?.changed();
      return { data: datasetToWire(record) };
    },
  );

  app.delete(
    '/v1/datasets/:dataset_id',
    {
      schema: {
        summary: 'Delete a dataset with its files and topics (spec D4)',
        params: DatasetIdParams,
        response: { 200: envelope(z.null()), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { dataset_id: datasetId } = request.params;
      await ownDataset(request, datasetId);
      if (!(await store.deleteDataset(datasetId))) {
        throw new HttpError(404, 'RobotoDatasetNotFoundException', `dataset ${datasetId} not found`);
      }
      return { data: null };
    },
  );

  app.post(
    '/v1/datasets/query',
    {
      schema: {
        summary: "Query the owner org's datasets with a QuerySpecification (spec D5)",
        body: QuerySpecificationRequest,
        response: { 200: envelope(pageOf(DatasetRecordSchema)), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const orgId = queryOrgOf(request);
      if (orgId === undefined) return { data: { items: [], next_token: null } };
      const page = await store.queryDatasets(storeQueryOf(request.body, orgId));
      return { data: { items: page.items.map(datasetToWire), next_token: page.nextToken } };
    },
  );

  app.post(
    '/v1/datasets/:dataset_id/files/query',
    {
      schema: {
        summary: "A dataset's files matching gitignore-style include/exclude patterns, paged (spec D6)",
        params: DatasetIdParams,
        querystring: z.object({ page_token: z.string().min(1).optional() }),
        body: QueryDatasetFilesRequest,
        response: { 200: envelope(pageOf(FileRecordSchema)), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { dataset_id: datasetId } = request.params;
      const dataset = await ownDataset(request, datasetId);
      const body = request.body;
      const page = await datasetFilesPage(store, {
        datasetId,
        orgId: dataset.org_id,
        include: body.include_patterns ?? [],
        exclude: body.exclude_patterns ?? [],
        limit: body.limit ?? MAX_QUERY_LIMIT,
        // The SDK sends the token both ways from page 2 on (spec §1.9).
        token: request.query.page_token ?? body.page_token ?? null,
      });
      return {
        data: { items: page.items.map((stored) => fileToWire(stored.record)), next_token: page.nextToken },
      };
    },
  );

  app.get(
    '/v1/datasets/:dataset_id/topics',
    {
      schema: {
        summary: "A dataset's topics, paged (spec D8)",
        params: DatasetIdParams,
        querystring: ListingQuery,
        response: { 200: envelope(pageOf(TopicRecordSchema)), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { dataset_id: datasetId } = request.params;
      const dataset = await ownDataset(request, datasetId);
      const page = await store.queryTopics({
        datasetId,
        orgId: dataset.org_id,
        sortBy: 'topic_name',
        sortDirection: 'ASC',
        limit: request.query.limit ?? 1000,
        after: request.query.page_token ?? null,
      });
      return topicPage(page);
    },
  );

  await Promise.resolve();
};
