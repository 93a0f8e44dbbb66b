import type { Logger } from 'pino';
import { UsageError } from '../domain/errors.js';
import { gitignoreMatcher, isHiddenSystemPath } from '../domain/gitignore.js';
import type { DataSelector, FileSelector, InvocationInput } from '../domain/input-selectors.js';
import type { Comparator, ConditionGroup } from '../domain/query-condition.js';
import type { TopicRecord } from '../domain/records.js';
import { MAX_QUERY_LIMIT } from '../domain/store-query.js';
import type { DataStore, Page, StoreQuery, StoredFile } from '../ports/data-store.js';
import type { InputResolver, ResolvedFile, ResolvedInput } from '../ports/input-resolver.js';

/**
 * Resolves input selectors against a DataStore, as the SDK's resolver does (spec §6.2): each selector in
 * order, within it dataset+paths, then query, then ids, then names; results de-duplicated by id, first
 * seen kept, and only ever the invocation's org's records (a selector is the invoker's input: a query or an
 * id of another org's must not hand its files to the action). Unlike the hosted resolver (which only warns), a selector that matches nothing is an error
 * that names it: an action run against nothing is almost always a mistake in the selector.
 */
export class StoreInputResolver implements InputResolver {
  private readonly byPath: { sortBy: string; limit: number };
  private readonly byName: { sortBy: string; limit: number };

  /** `pageSize`: how many records each query page holds (the store's maximum by default). */
  constructor(
    private readonly store: DataStore,
    private readonly logger: Logger,
    { pageSize = MAX_QUERY_LIMIT }: { pageSize?: number } = {},
  ) {
    this.byPath = { sortBy: 'path', limit: pageSize };
    this.byName = { sortBy: 'name', limit: pageSize };
  }

  async resolve(input: InvocationInput, orgId: string, signal: AbortSignal): Promise<ResolvedInput> {
    const files = new Map<string, StoredFile>();
    for (const [index, selector] of (input.files ?? []).entries()) {
      signal.throwIfAborted();
      const matched = await this.selectFiles(selector, orgId);
      if (matched.length === 0) {
        throw new UsageError(
          `file selector ${index + 1} (${describeSelector(selector)}) matched no file`,
          'E_INVALID_INPUT',
        );
      }
      for (const file of matched) if (!files.has(file.record.file_id)) files.set(file.record.file_id, file);
    }
    const topics = new Map<string, TopicRecord>();
    for (const [index, selector] of (input.topics ?? []).entries()) {
      signal.throwIfAborted();
      const matched = await this.selectTopics(selector, orgId);
      if (matched.length === 0) {
        throw new UsageError(
          `topic selector ${index + 1} (${describeSelector(selector)}) matched no topic`,
          'E_INVALID_INPUT',
        );
      }
      for (const topic of matched) if (!topics.has(topic.topic_id)) topics.set(topic.topic_id, topic);
    }
    const resolved: ResolvedFile[] = [];
    for (const file of files.values()) {
      resolved.push({
        record: file.record,
        sourcePath: await this.store.contentPath(file),
        sha256: file.sha256,
      });
    }
    return { files: resolved, topics: [...topics.values()] };
  }

  private async selectFiles(selector: FileSelector, orgId: string): Promise<StoredFile[]> {
    const out: StoredFile[] = [];
    const hasOther =
      Boolean(selector.query) || Boolean(selector.ids?.length) || Boolean(selector.names?.length);
    if (selector.dataset_id && selector.paths?.length) {
      const isIncluded = gitignoreMatcher(selector.paths);
      for (const file of await this.filesOf(selector.dataset_id, orgId)) {
        if (isIncluded(file.record.relative_path) && !isHiddenSystemPath(file.record.relative_path))
          out.push(file);
      }
    } else if (selector.dataset_id && hasOther) {
      this.logger.warn({ datasetId: selector.dataset_id }, 'input.dataset_id_ignored');
    }
    if (selector.query)
      out.push(
        ...(await everyPage((query) => this.store.queryFiles(query), {
          roboql: selector.query,
          orgId,
          ...this.byPath,
        })),
      );
    for (const id of selector.ids ?? []) {
      const found = await this.store.getFile(id);
      // Another org's file answers as a missing one.
      const file = found?.record.org_id === orgId ? found : undefined;
      if (file === undefined) throw new UsageError(`no file with id "${id}"`, 'E_INVALID_INPUT');
      out.push(file);
    }
    if (selector.names?.length) {
      // The SDK's `path LIKE "<n1>" OR path LIKE "<n2>" …`.
      const condition = anyOf('path', 'LIKE', selector.names);
      out.push(
        ...(await everyPage((query) => this.store.queryFiles(query), { condition, orgId, ...this.byPath })),
      );
    }
    return out;
  }

  private async selectTopics(selector: DataSelector, orgId: string): Promise<TopicRecord[]> {
    const out: TopicRecord[] = [];
    for (const id of selector.ids ?? []) {
      const found = await this.store.getTopic(id);
      const topic = found?.org_id === orgId ? found : undefined;
      if (topic === undefined) throw new UsageError(`no topic with id "${id}"`, 'E_INVALID_INPUT');
      out.push(topic);
    }
    if (selector.names?.length) {
      const condition = anyOf('name', 'EQUALS', selector.names);
      out.push(
        ...(await everyPage((query) => this.store.queryTopics(query), { condition, orgId, ...this.byName })),
      );
    }
    if (selector.query)
      out.push(
        ...(await everyPage((query) => this.store.queryTopics(query), {
          roboql: selector.query,
          orgId,
          ...this.byName,
        })),
      );
    return out;
  }

  private async filesOf(datasetId: string, orgId: string): Promise<StoredFile[]> {
    if ((await this.store.getDataset(datasetId))?.org_id !== orgId) {
      throw new UsageError(`unknown dataset "${datasetId}"`, 'E_INVALID_INPUT');
    }
    return this.store.listFiles(datasetId);
  }
}

/** `field comparator v1 OR field comparator v2 …`, as a condition tree (no quoting to get wrong). */
function anyOf(field: string, comparator: Comparator, values: string[]): ConditionGroup {
  return { operator: 'OR', conditions: values.map((value) => ({ field, comparator, value })) };
}

/** Every result of a query, page after page, in a stable order (path or name, then id). */
async function everyPage<T>(
  run: (query: StoreQuery) => Promise<Page<T>>,
  query: StoreQuery & { sortBy: string; limit: number },
): Promise<T[]> {
  const all: T[] = [];
  let after: string | null = null;
  do {
    const page: Page<T> = await run({ ...query, sortDirection: 'ASC', after });
    all.push(...page.items);
    after = page.nextToken;
  } while (after !== null);
  return all;
}

function describeSelector(selector: FileSelector | DataSelector): string {
  const parts: string[] = [];
  if (selector.dataset_id) parts.push(`dataset ${selector.dataset_id}`);
  if ('paths' in selector && selector.paths?.length) parts.push(`paths ${selector.paths.join(', ')}`);
  if (selector.query) parts.push(`query ${selector.query}`);
  if (selector.ids?.length) parts.push(`ids ${selector.ids.join(', ')}`);
  if (selector.names?.length) parts.push(`names ${selector.names.join(', ')}`);
  return parts.join('; ');
}
