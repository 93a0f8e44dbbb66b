import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { DataStore } from '../../ports/data-store.js';
import { HttpError } from '../errors.js';
import {
  CreateDatasetRequest,
  DatasetIdParams,
  DatasetRecordSchema,
  datasetToWire,
  envelope,
} from '../schemas.js';
import { ERROR_RESPONSES, callerOf, scopeOf } from './route-kit.js';
import {
  ListingQuery,
  TopicRecordSchema,
  UpdateDatasetRequest,
  changesetOf,
  pageOf,
} from '../data-schemas.js';
import { applying } from './files.js';
import { topicPage } from './topics.js';

/** Datasets (spec §3.4), in the caller's org only: another org's dataset answers exactly as a missing one. */
export const datasetRoutes: FastifyPluginAsyncZod<{ store: DataStore }> = async (app, { store }) => {
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
      if (body.device_id) {
        throw new HttpError(
          404,
          'RobotoNotFoundException',
          `device ${body.device_id} not found: devices are not kept yet`,
        );
      }
      if (body.custom_fields && Object.keys(body.custom_fields).length > 0) {
        throw new HttpError(400, 'RobotoIllegalArgumentException', 'custom_fields are not kept yet');
      }
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
      if (body.device_id) {
        throw new HttpError(
          404,
          'RobotoNotFoundException',
          `device ${body.device_id} not found: devices are not kept yet`,
        );
      }
      if (body.custom_fields_changeset && Object.keys(body.custom_fields_changeset).length > 0) {
        throw new HttpError(400, 'RobotoIllegalArgumentException', 'custom_fields are not kept yet');
      }
      const record = await applying(() =>
        store.updateDataset(datasetId, changesetOf(body.metadata_changeset), {
          ...(body.name === undefined ? {} : { name: body.name }),
          ...(body.description === undefined ? {} : { description: body.description }),
        }),
      );
      return { data: datasetToWire(record) };
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
