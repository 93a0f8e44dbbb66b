import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Condition } from '../../domain/query-condition.js';
import type { DataStore, Page, StoreQuery } from '../../ports/data-store.js';
import type { TopicRecord } from '../../domain/records.js';
import { ListingQuery, TopicRecordSchema, pageOf, topicToWire } from '../data-schemas.js';
import { HttpError } from '../errors.js';
import { envelope } from '../schemas.js';
import { ownFile } from './files.js';
import { ERROR_RESPONSES, callerOf } from './route-kit.js';

const topicNotFound = (what: string): HttpError =>
  new HttpError(404, 'RobotoNotFoundException', `topic ${what} not found`);

/**
 * The path segments of the URL as sent, `+` read as a space, then percent-decoded: the SDK form-encodes
 * topic associations and names (`quote_plus`, spec §1.2), so a `+` the router has already decoded could
 * not be told from an encoded `%2B`.
 */
export function formDecodedSegment(request: FastifyRequest, index: number): string {
  const segments = (request.url.split('?')[0] ?? '').split('/').filter((segment) => segment !== '');
  const raw = segments[index] ?? '';
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    throw new HttpError(400, 'RobotoInvalidRequestException', `malformed percent-encoding in ${raw}`);
  }
}

/** `file:<id>` or `file:<id>:<version>` (spec §2.7): the file id. Other association types are not kept. */
function fileOfAssociation(association: string): string {
  const match = /^file:([^:]+)(?::\d+)?$/.exec(association);
  if (!match?.[1]) {
    throw new HttpError(
      400,
      'RobotoIllegalArgumentException',
      `association ${JSON.stringify(association)} is not file:<file id>[:<version>]; only files have topics here`,
    );
  }
  return match[1];
}

/** A page of topics as the wire has it: no token for an empty tail (the store guarantees it). */
export function topicPage(page: Page<TopicRecord>) {
  return { data: { items: page.items.map(topicToWire), next_token: page.nextToken } };
}

/** Listing order: by name, then id (the store's tie-breaker), so pages never shift. */
const BY_NAME: Pick<StoreQuery, 'sortBy' | 'sortDirection'> = { sortBy: 'topic_name', sortDirection: 'ASC' };

/** Topics (spec §3.6), in the caller's org only: another org's topic or file answers as a missing one. */
export const topicRoutes: FastifyPluginAsyncZod<{ store: DataStore }> = async (app, { store }) => {
  app.get(
    '/v1/topics/id/:topic_id',
    {
      schema: {
        summary: 'Get a topic by id (spec P1)',
        params: z.object({ topic_id: z.string().min(1).max(200) }),
        response: { 200: envelope(TopicRecordSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { topic_id: topicId } = request.params;
      const topic = await store.getTopic(topicId);
      if (topic === undefined || topic.org_id !== callerOf(request).orgId) throw topicNotFound(topicId);
      return { data: topicToWire(topic) };
    },
  );

  app.get(
    '/v1/topics/association/:association',
    {
      schema: {
        summary: 'Topics of a file, paged (spec P2); the association is quote_plus("file:<id>")',
        params: z.object({ association: z.string().min(1) }),
        querystring: ListingQuery,
        response: { 200: envelope(pageOf(TopicRecordSchema)), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const fileId = fileOfAssociation(formDecodedSegment(request, 3));
      await ownFile(store, request, fileId);
      const page = await store.queryTopics({
        condition: { field: 'file_id', comparator: 'EQUALS', value: fileId },
        orgId: callerOf(request).orgId,
        ...BY_NAME,
        limit: request.query.limit ?? 1000,
        after: request.query.page_token ?? null,
      });
      return topicPage(page);
    },
  );

  app.get(
    '/v1/topics/association/:association/name/:name',
    {
      schema: {
        summary: "A file's topic by name (spec P3); both segments form-encoded (quote_plus)",
        params: z.object({ association: z.string().min(1), name: z.string().min(1) }),
        response: { 200: envelope(TopicRecordSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const fileId = fileOfAssociation(formDecodedSegment(request, 3));
      const name = formDecodedSegment(request, 5);
      await ownFile(store, request, fileId);
      const byName: Condition[] = [
        { field: 'file_id', comparator: 'EQUALS', value: fileId },
        { field: 'topic_name', comparator: 'EQUALS', value: name },
      ];
      const page = await store.queryTopics({
        condition: { operator: 'AND', conditions: byName },
        orgId: callerOf(request).orgId,
        limit: 1,
      });
      const topic = page.items[0];
      if (topic === undefined) throw topicNotFound(`${JSON.stringify(name)} of file ${fileId}`);
      return { data: topicToWire(topic) };
    },
  );

  await Promise.resolve();
};
