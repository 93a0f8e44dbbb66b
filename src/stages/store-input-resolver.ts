import type { Logger } from 'pino';
import { UsageError } from '../domain/errors.js';
import { gitignoreMatcher, isHiddenSystemPath } from '../domain/gitignore.js';
import type { DataSelector, FileSelector, InvocationInput } from '../domain/input-selectors.js';
import type { TopicRecord } from '../domain/records.js';
import { evaluateQuery, likeToRegExp, parseQuery, readPath } from '../domain/roboql.js';
import type { DataStore, StoredFile } from '../ports/data-store.js';
import type { InputResolver, ResolvedFile, ResolvedInput } from '../ports/input-resolver.js';

/** The fields a file query can read (spec §6.2's RoboQL, file target). */
function fileField(file: StoredFile, field: string): unknown {
  const { record } = file;
  if (field.startsWith('metadata.')) return readPath(record.metadata, field.slice('metadata.'.length));
  const fields: Record<string, unknown> = {
    dataset_id: record.association_id,
    path: record.relative_path,
    relative_path: record.relative_path,
    name: record.name,
    size: record.size,
    created: record.created,
    modified: record.modified,
    tags: record.tags,
    file_id: record.file_id,
    version: record.version,
    description: record.description,
    metadata: record.metadata,
  };
  return fields[field];
}

/** The fields a topic query can read (topic target). */
function topicField(topic: TopicRecord, datasetId: string, field: string): unknown {
  if (field.startsWith('metadata.')) return readPath(topic.metadata, field.slice('metadata.'.length));
  const fields: Record<string, unknown> = {
    name: topic.topic_name,
    topic_name: topic.topic_name,
    topic_id: topic.topic_id,
    schema_name: topic.schema_name,
    message_count: topic.message_count,
    start_time: topic.start_time,
    end_time: topic.end_time,
    file_id: topic.association.association_id,
    dataset_id: datasetId,
    created: topic.created,
  };
  return fields[field];
}

/**
 * Resolves input selectors against a DataStore, as the SDK's resolver does (spec §6.2): each selector in
 * order, within it dataset+paths, then query, then ids, then names; results de-duplicated by id, first
 * seen kept. Unlike the hosted resolver (which only warns), a selector that matches nothing is an error
 * that names it: an action run against nothing is almost always a mistake in the selector.
 */
export class StoreInputResolver implements InputResolver {
  constructor(
    private readonly store: DataStore,
    private readonly logger: Logger,
  ) {}

  async resolve(input: InvocationInput, signal: AbortSignal): Promise<ResolvedInput> {
    const files = new Map<string, StoredFile>();
    for (const [index, selector] of (input.files ?? []).entries()) {
      signal.throwIfAborted();
      const matched = await this.selectFiles(selector);
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
      const matched = await this.selectTopics(selector);
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

  private async selectFiles(selector: FileSelector): Promise<StoredFile[]> {
    const out: StoredFile[] = [];
    const hasOther =
      Boolean(selector.query) || Boolean(selector.ids?.length) || Boolean(selector.names?.length);
    if (selector.dataset_id && selector.paths?.length) {
      const isIncluded = gitignoreMatcher(selector.paths);
      for (const file of await this.filesOf(selector.dataset_id)) {
        if (isIncluded(file.record.relative_path) && !isHiddenSystemPath(file.record.relative_path))
          out.push(file);
      }
    } else if (selector.dataset_id && hasOther) {
      this.logger.warn({ datasetId: selector.dataset_id }, 'input.dataset_id_ignored');
    }
    if (selector.query) {
      const query = parseQuery(selector.query);
      for (const file of await this.allFiles())
        if (evaluateQuery(query, (field) => fileField(file, field))) out.push(file);
    }
    for (const id of selector.ids ?? []) {
      const file = await this.store.getFile(id);
      if (file === undefined) throw new UsageError(`no file with id "${id}"`, 'E_INVALID_INPUT');
      out.push(file);
    }
    if (selector.names?.length) {
      const patterns = selector.names.map(likeToRegExp);
      for (const file of await this.allFiles()) {
        if (patterns.some((pattern) => pattern.test(file.record.relative_path))) out.push(file);
      }
    }
    return out;
  }

  private async selectTopics(selector: DataSelector): Promise<TopicRecord[]> {
    const out: TopicRecord[] = [];
    for (const id of selector.ids ?? []) {
      const topic = await this.store.getTopic(id);
      if (topic === undefined) throw new UsageError(`no topic with id "${id}"`, 'E_INVALID_INPUT');
      out.push(topic);
    }
    const all = selector.names?.length || selector.query ? await this.allTopics() : [];
    if (selector.names?.length) {
      const names = new Set(selector.names);
      out.push(...all.filter(({ topic }) => names.has(topic.topic_name)).map(({ topic }) => topic));
    }
    if (selector.query) {
      const query = parseQuery(selector.query);
      for (const { topic, datasetId } of all) {
        if (evaluateQuery(query, (field) => topicField(topic, datasetId, field))) out.push(topic);
      }
    }
    return out;
  }

  private async filesOf(datasetId: string): Promise<StoredFile[]> {
    if ((await this.store.getDataset(datasetId)) === undefined) {
      throw new UsageError(`unknown dataset "${datasetId}"`, 'E_INVALID_INPUT');
    }
    return this.store.listFiles(datasetId);
  }

  private async allFiles(): Promise<StoredFile[]> {
    const all: StoredFile[] = [];
    for (const dataset of await this.store.listDatasets())
      all.push(...(await this.store.listFiles(dataset.dataset_id)));
    return all;
  }

  private async allTopics(): Promise<{ topic: TopicRecord; datasetId: string }[]> {
    const all: { topic: TopicRecord; datasetId: string }[] = [];
    for (const dataset of await this.store.listDatasets()) {
      for (const topic of await this.store.listTopics(dataset.dataset_id))
        all.push({ topic, datasetId: dataset.dataset_id });
    }
    return all;
  }
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
