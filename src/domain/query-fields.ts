import { UsageError } from './errors.js';
import type { DatasetRecord, FileRecord, TopicRecord } from './records.js';

/** What a store query selects. */
export type QueryTarget = 'datasets' | 'files' | 'topics';

/** A record a field belongs to: the target's own, or one it hangs off (a file's dataset). */
export type QueryEntity = 'dataset' | 'file' | 'topic';

/**
 * How a field is stored, which decides how it compares (and how the SQL store compiles it):
 * - `text`: a string, never null; `nullable-text`: a string or null;
 * - `number`, `nullable-number`: a number (or null);
 * - `datetime`: an ISO-8601 UTC instant as `Date.prototype.toISOString` writes it, never null;
 * - `tags`: a list of strings; `metadata`: a JSON object, whose keys are read as `metadata.a.b`.
 */
export type FieldKind =
  'text' | 'nullable-text' | 'number' | 'nullable-number' | 'datetime' | 'tags' | 'metadata';

/** The records a query reads a row from: the target's own and those it hangs off. */
export interface QueryRow {
  dataset?: DatasetRecord;
  file?: FileRecord;
  topic?: TopicRecord;
  /** A topic's dataset id (not part of its wire record). */
  topicDatasetId?: string;
}

export interface FieldDefinition {
  /** The column of the entity's table (datasets, files, topics) that holds it. */
  column: string;
  kind: FieldKind;
  read(row: QueryRow): unknown;
}

const ds = (row: QueryRow) => row.dataset;
const fl = (row: QueryRow) => row.file;
const tp = (row: QueryRow) => row.topic;

function field(column: string, kind: FieldKind, read: (row: QueryRow) => unknown): FieldDefinition {
  return { column, kind, read };
}

/** The queryable fields of each entity: one definition for the reference evaluators and the SQL compiler. */
export const ENTITY_FIELDS: Record<QueryEntity, Record<string, FieldDefinition>> = {
  dataset: {
    dataset_id: field('dataset_id', 'text', (r) => ds(r)?.dataset_id),
    org_id: field('org_id', 'text', (r) => ds(r)?.org_id),
    name: field('name', 'nullable-text', (r) => ds(r)?.name),
    description: field('description', 'nullable-text', (r) => ds(r)?.description),
    tags: field('tags', 'tags', (r) => ds(r)?.tags),
    metadata: field('metadata', 'metadata', (r) => ds(r)?.metadata),
    created: field('created', 'datetime', (r) => ds(r)?.created),
    created_by: field('created_by', 'text', (r) => ds(r)?.created_by),
    modified: field('modified', 'datetime', (r) => ds(r)?.modified),
    modified_by: field('modified_by', 'text', (r) => ds(r)?.modified_by),
  },
  file: {
    file_id: field('file_id', 'text', (r) => fl(r)?.file_id),
    dataset_id: field('dataset_id', 'text', (r) => fl(r)?.association_id),
    association_id: field('dataset_id', 'text', (r) => fl(r)?.association_id),
    org_id: field('org_id', 'text', (r) => fl(r)?.org_id),
    path: field('relative_path', 'text', (r) => fl(r)?.relative_path),
    relative_path: field('relative_path', 'text', (r) => fl(r)?.relative_path),
    name: field('name', 'text', (r) => fl(r)?.name),
    size: field('size', 'number', (r) => fl(r)?.size),
    version: field('version', 'number', (r) => fl(r)?.version),
    description: field('description', 'nullable-text', (r) => fl(r)?.description),
    tags: field('tags', 'tags', (r) => fl(r)?.tags),
    metadata: field('metadata', 'metadata', (r) => fl(r)?.metadata),
    created: field('created', 'datetime', (r) => fl(r)?.created),
    created_by: field('created_by', 'text', (r) => fl(r)?.created_by),
    modified: field('modified', 'datetime', (r) => fl(r)?.modified),
    modified_by: field('modified_by', 'text', (r) => fl(r)?.modified_by),
    origination: field('origination', 'text', (r) => fl(r)?.origination),
    upload_id: field('upload_id', 'text', (r) => fl(r)?.upload_id),
    ingestion_status: field('ingestion_status', 'text', (r) => fl(r)?.ingestion_status),
    status: field('status', 'text', (r) => fl(r)?.status),
    storage_type: field('storage_type', 'text', (r) => fl(r)?.storage_type),
    fs_type: field('fs_type', 'text', (r) => fl(r)?.fs_type),
    device_id: field('device_id', 'nullable-text', (r) => fl(r)?.device_id),
    parent_id: field('parent_id', 'nullable-text', (r) => fl(r)?.parent_id),
  },
  topic: {
    topic_id: field('topic_id', 'text', (r) => tp(r)?.topic_id),
    name: field('topic_name', 'text', (r) => tp(r)?.topic_name),
    topic_name: field('topic_name', 'text', (r) => tp(r)?.topic_name),
    schema_name: field('schema_name', 'nullable-text', (r) => tp(r)?.schema_name),
    message_count: field('message_count', 'nullable-number', (r) => tp(r)?.message_count),
    start_time: field('start_time', 'nullable-number', (r) => tp(r)?.start_time),
    end_time: field('end_time', 'nullable-number', (r) => tp(r)?.end_time),
    file_id: field('file_id', 'text', (r) => tp(r)?.association.association_id),
    dataset_id: field('dataset_id', 'text', (r) => r.topicDatasetId),
    org_id: field('org_id', 'text', (r) => tp(r)?.org_id),
    metadata: field('metadata', 'metadata', (r) => tp(r)?.metadata),
    created: field('created', 'datetime', (r) => tp(r)?.created),
    modified: field('modified', 'datetime', (r) => tp(r)?.modified),
  },
};

/** The entity a target's rows are, and the entities a qualified field of that target may name. */
export const TARGET_ENTITY: Record<QueryTarget, QueryEntity> = {
  datasets: 'dataset',
  files: 'file',
  topics: 'topic',
};
const REACHABLE: Record<QueryTarget, readonly QueryEntity[]> = {
  datasets: ['dataset'],
  files: ['file', 'dataset'],
  topics: ['topic', 'file', 'dataset'],
};

/** A field of a query, resolved against its target. */
export interface FieldRef {
  /** As written, for messages. */
  text: string;
  entity: QueryEntity;
  /** The entity's field (`metadata`, `path`, …). */
  name: string;
  definition: FieldDefinition;
  /** The keys below the field (`metadata.a.b` → ['a', 'b']); empty for the field itself. */
  path: string[];
}

/**
 * Strips the spec's resource qualifiers (§2.11): anchored at the start, in this order,
 * `[msgpath.][topic.][file.]dataset.<path>`, `[msgpath.][topic.]file.<path>`, `[msgpath.]topic.<path>`,
 * `msgpath.<path>`; the last qualifier names the entity.
 */
function unqualify(fieldName: string): { entity: QueryEntity | 'msgpath' | undefined; rest: string } {
  const patterns: [RegExp, QueryEntity | 'msgpath'][] = [
    [/^(?:msgpath\.)?(?:topic\.)?(?:file\.)?dataset\.(.+)$/s, 'dataset'],
    [/^(?:msgpath\.)?(?:topic\.)?file\.(.+)$/s, 'file'],
    [/^(?:msgpath\.)?topic\.(.+)$/s, 'topic'],
    [/^msgpath\.(.+)$/s, 'msgpath'],
  ];
  for (const [pattern, entity] of patterns) {
    const match = pattern.exec(fieldName);
    if (match) return { entity, rest: match[1] ?? '' };
  }
  return { entity: undefined, rest: fieldName };
}

/** Resolves a field of a query of `target`, or throws a UsageError naming it and what it may be. */
export function resolveField(target: QueryTarget, fieldName: string): FieldRef {
  const { entity: qualified, rest } = unqualify(fieldName);
  const entity = qualified ?? TARGET_ENTITY[target];
  if (entity === 'msgpath' || !REACHABLE[target].includes(entity)) {
    throw new UsageError(
      `query field "${fieldName}": a ${target} query cannot read ${entity === 'msgpath' ? 'message path' : entity} fields`,
      'E_INVALID_INPUT',
    );
  }
  const [name = '', ...path] = rest.split('.');
  const definition = ENTITY_FIELDS[entity][name];
  if (definition === undefined || !Object.hasOwn(ENTITY_FIELDS[entity], name)) {
    throw new UsageError(
      `query field "${fieldName}": ${entity}s have no field "${name}" (known: ${Object.keys(ENTITY_FIELDS[entity]).join(', ')}, metadata.<key>)`,
      'E_INVALID_INPUT',
    );
  }
  if (path.some((key) => key === '')) {
    throw new UsageError(`query field "${fieldName}" has an empty key`, 'E_INVALID_INPUT');
  }
  return { text: fieldName, entity, name, definition, path };
}

/**
 * Reads a resolved field of a row. Below the field, each step is an object-key lookup (own keys only); a
 * missing key, a list or a scalar on the way yields `undefined` (spec §2.11, rule 1).
 */
export function readField(row: QueryRow, ref: FieldRef): unknown {
  let node = ref.definition.read(row);
  for (const key of ref.path) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    if (!Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
