import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ChangeNotifier } from '../../ports/trigger-events.js';
import { announcementBy } from '../trigger-announce.js';
import { z } from 'zod';
import { MetadataPathError } from '../../domain/metadata-changeset.js';
import type { DataStore, StoredFile } from '../../ports/data-store.js';
import {
  FileRecordSchema,
  QuerySpecificationRequest,
  UpdateFileRequest,
  pageOf,
  storeQueryOf,
  VersionQuery,
  changesetOf,
  fileToWire,
} from '../data-schemas.js';
import { HttpError } from '../errors.js';
import { envelope } from '../schemas.js';
import { ERROR_RESPONSES, callerOf, scopeOf } from './route-kit.js';

const FileIdParams = z.object({ file_id: z.string().min(1).max(200) });

const fileNotFound = (what: string): HttpError =>
  new HttpError(404, 'RobotoNotFoundException', `file ${what} not found`);

/**
 * The caller's file by id (at a version, when asked), or 404: a file of another org answers exactly as a
 * missing one. Only the current version is kept with its record, so another version is not found.
 */
export async function ownFile(
  store: DataStore,
  request: FastifyRequest,
  fileId: string,
  version?: number,
): Promise<StoredFile> {
  const stored = await store.getFile(fileId);
  if (stored === undefined || stored.record.org_id !== callerOf(request).orgId) throw fileNotFound(fileId);
  if (version !== undefined && stored.record.version !== version) {
    throw fileNotFound(`${fileId} version ${version}`);
  }
  return stored;
}

/**
 * The org a query reads (spec §1.12): the owner header, by default the caller's org. A token reads its own
 * org only, so another org's scope is answered as an org with nothing in it (undefined).
 */
export function queryOrgOf(request: FastifyRequest): string | undefined {
  const { ownerOrgId } = scopeOf(request);
  return ownerOrgId === callerOf(request).orgId ? ownerOrgId : undefined;
}

/** A metadata changeset that cannot be applied (a list index out of range) is the caller's mistake. */
export async function applying<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof MetadataPathError) {
      throw new HttpError(400, 'RobotoIllegalArgumentException', error.message);
    }
    throw error;
  }
}

/** Files (spec §3.5, and D7 file by path), in the caller's org only. */
export const fileRoutes: FastifyPluginAsyncZod<{
  store: DataStore;
  /** Told after F2 announced a file ingested or its metadata changed (issue 13); none: no events. */
  changes?: ChangeNotifier;
}> = async (app, { store, changes }) => {
  app.get(
    '/v1/files/record/path/:path/association/:dataset_id',
    {
      schema: {
        summary: "Get a dataset's file by its path, percent-encoded as one segment (spec D7)",
        params: z.object({ path: z.string().min(1), dataset_id: z.string().min(1).max(200) }),
        querystring: VersionQuery,
        response: { 200: envelope(FileRecordSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { path, dataset_id: datasetId } = request.params;
      const orgId = callerOf(request).orgId;
      // Pushed down to the store: one file of this org's dataset at this path (none for another org's).
      const page = await store.queryFiles({
        condition: { field: 'relative_path', comparator: 'EQUALS', value: path },
        datasetId,
        orgId,
        limit: 1,
      });
      const found = page.items[0];
      if (found === undefined) throw fileNotFound(`${JSON.stringify(path)} in dataset ${datasetId}`);
      const { version_id: version } = request.query;
      if (version !== undefined && found.record.version !== version) {
        throw fileNotFound(`${JSON.stringify(path)} version ${version} in dataset ${datasetId}`);
      }
      return { data: fileToWire(found.record) };
    },
  );

  app.get(
    '/v1/files/record/:file_id',
    {
      schema: {
        summary: 'Get a file (spec F1)',
        params: FileIdParams,
        querystring: VersionQuery,
        response: { 200: envelope(FileRecordSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const stored = await ownFile(store, request, request.params.file_id, request.query.version_id);
      return { data: fileToWire(stored.record) };
    },
  );

  app.put(
    '/v1/files/record/:file_id',
    {
      schema: {
        summary: 'Update a file: metadata changeset, description, ingestion complete (spec F2)',
        params: FileIdParams,
        body: UpdateFileRequest,
        response: { 200: envelope(FileRecordSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { file_id: fileId } = request.params;
      await ownFile(store, request, fileId);
      const body = request.body;
      if (body.device_id) {
        throw new HttpError(404, 'RobotoNotFoundException', `device ${body.device_id} not found`);
      }
      // A file ingested, or its tags or metadata changed, is announced in the update's transaction.
      const announce = changes === undefined ? undefined : announcementBy(request);
      const record = await applying(() =>
        store.updateFile(
          fileId,
          {
            ...(body.description === undefined ? {} : { description: body.description }),
            ...(body.metadata_changeset ? { metadataChangeset: changesetOf(body.metadata_changeset) } : {}),
            ...(body.ingestion_complete ? { ingestionStatus: 'ingested' as const } : {}),
          },
          announce,
        ),
      );
      changes?.changed();
      return { data: fileToWire(record) };
    },
  );

  app.delete(
    '/v1/files/:file_id',
    {
      schema: {
        summary: 'Delete a file with its versions and topics (spec F5)',
        params: FileIdParams,
        response: { 200: envelope(z.null()), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { file_id: fileId } = request.params;
      await ownFile(store, request, fileId);
      if (!(await store.deleteFile(fileId))) throw fileNotFound(fileId);
      return { data: null };
    },
  );

  app.post(
    '/v1/files/query',
    {
      schema: {
        summary: "Query the owner org's files with a QuerySpecification (spec F3)",
        body: QuerySpecificationRequest,
        response: { 200: envelope(pageOf(FileRecordSchema)), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const orgId = queryOrgOf(request);
      if (orgId === undefined) return { data: { items: [], next_token: null } };
      const page = await store.queryFiles(storeQueryOf(request.body, orgId));
      return {
        data: { items: page.items.map((stored) => fileToWire(stored.record)), next_token: page.nextToken },
      };
    },
  );

  await Promise.resolve();
};
