import { type RawBuilder, type Selectable, sql } from 'kysely';
import type { QueryEntity, QueryRow, QueryTarget } from '../../domain/query-fields.js';
import { TARGET_ENTITY } from '../../domain/query-fields.js';
import {
  type PreparedQuery,
  type StoreQuery,
  matchesQuery,
  nextPageToken,
  pageRows,
  prepareQuery,
} from '../../domain/store-query.js';
import type { DatasetRecord, Page, StoredFile } from '../../ports/data-store.js';
import type { TopicRecord } from '../../domain/records.js';
import type { DatasetsTable, FilesTable, SqlDatabase, TopicsTable } from './database.js';
import { QueryCompiler, sortColumn } from './query-compiler.js';
import { ENTITY_ALIAS } from './sql-dialect.js';
import { datasetFromRow, fileFromRow, topicFromRow } from './rows.js';

/** Ids fetched per statement when loading the records a re-check reads (a file's dataset, a topic's file). */
const ID_CHUNK = 500;

const TABLE: Record<QueryEntity, string> = { dataset: 'datasets', file: 'files', topic: 'topics' };
const ID_COLUMN: Record<QueryEntity, string> = { dataset: 'dataset_id', file: 'file_id', topic: 'topic_id' };

/** The rows of a query's own table, with what a re-check reads from the tables it hangs off. */
interface Fetched<R> {
  rows: R[];
  total: number;
  nextToken: string | null;
}

/**
 * Runs a query of `target` on the database. An exact predicate with a sort on a plain column is pushed
 * down whole: WHERE, ORDER BY (sort, then id), LIMIT/OFFSET, and COUNT(*) of the same WHERE for the total.
 * Otherwise the (superset) predicate selects candidates, the reference evaluator re-checks each, and the
 * page is cut in JavaScript, as the scanning store does.
 */
async function run<R>(
  database: SqlDatabase,
  target: QueryTarget,
  input: StoreQuery,
  toRow: (row: R, context: Context) => QueryRow,
): Promise<Fetched<R>> {
  const query = prepareQuery(target, input);
  const compiler = new QueryCompiler(query, database.dialect);
  const where = compiler.where();
  const entity = TARGET_ENTITY[target];
  const own = ENTITY_ALIAS[entity];
  const from = fromClause(target, compiler.joined);
  const sort = sortColumn(query);
  const isPostgres = database.dialect === 'postgres';
  if (where.exact && sort !== undefined) {
    const direction = sql.raw(query.direction);
    const collate = isPostgres && sort.isText ? sql` COLLATE "C"` : sql``;
    const nulls = sort.isNullable ? sql` NULLS LAST` : sql``;
    const id = sql.ref(`${own}.${ID_COLUMN[entity]}`);
    const idCollate = isPostgres ? sql` COLLATE "C"` : sql``;
    const [rows, counted] = await Promise.all([
      sql<R>`SELECT ${sql.raw(own)}.* FROM ${from} WHERE ${where.sql} ORDER BY ${sort.column}${collate} ${direction}${nulls}, ${id}${idCollate} ${direction} LIMIT ${query.limit} OFFSET ${query.offset}`.execute(
        database.db,
      ),
      // A lookup in one of SQLite's side tables counts from that table's index (see sql-dialect.ts).
      (where.count === undefined
        ? sql<{ total: number | string }>`SELECT COUNT(*) AS total FROM ${from} WHERE ${where.sql}`
        : sql<{ total: number | string }>`${where.count}`
      ).execute(database.db),
    ]);
    const total = Number(counted.rows[0]?.total ?? 0);
    return { rows: rows.rows, total, nextToken: nextPageToken(query, total) };
  }
  const candidates = await sql<R>`SELECT ${sql.raw(own)}.* FROM ${from} WHERE ${where.sql}`.execute(
    database.db,
  );
  const context = await loadContext(database, query, candidates.rows as Record<string, unknown>[]);
  const matching = candidates.rows
    .map((row) => ({ row, queryRow: toRow(row, context) }))
    .filter(({ queryRow }) => matchesQuery(query, queryRow));
  const page = pageRows(query, matching, (item) => item.queryRow);
  return { rows: page.items.map((item) => item.row), total: page.total, nextToken: page.nextToken };
}

function fromClause(target: QueryTarget, joined: ReadonlySet<QueryEntity>): RawBuilder<unknown> {
  switch (target) {
    case 'datasets':
      return sql`datasets AS d`;
    case 'files':
      return joined.has('dataset')
        ? sql`files AS f JOIN datasets AS d ON d.dataset_id = f.dataset_id`
        : sql`files AS f`;
    case 'topics': {
      const parts = [sql`topics AS t`];
      if (joined.has('file')) parts.push(sql`JOIN files AS f ON f.file_id = t.file_id`);
      if (joined.has('dataset')) parts.push(sql`JOIN datasets AS d ON d.dataset_id = t.dataset_id`);
      return sql.join(parts, sql` `);
    }
  }
}

/** The datasets and files the candidates hang off, for a re-check that reads their fields. */
interface Context {
  datasets: Map<string, DatasetRecord>;
  files: Map<string, StoredFile['record']>;
}

async function loadContext(
  database: SqlDatabase,
  query: PreparedQuery,
  candidates: Record<string, unknown>[],
): Promise<Context> {
  const entities = new Set([...query.fields.values()].map((ref) => ref.entity));
  entities.add(query.sort.entity);
  const context: Context = { datasets: new Map(), files: new Map() };
  if (query.target !== 'datasets' && entities.has('dataset')) {
    const ids = [...new Set(candidates.map((row) => String(row.dataset_id)))];
    for (const row of await selectByIds<Selectable<DatasetsTable>>(database, 'dataset', ids))
      context.datasets.set(row.dataset_id, datasetFromRow(row));
  }
  if (query.target === 'topics' && entities.has('file')) {
    const ids = [...new Set(candidates.map((row) => String(row.file_id)))];
    for (const row of await selectByIds<Selectable<FilesTable>>(database, 'file', ids))
      context.files.set(row.file_id, fileFromRow(row).record);
  }
  return context;
}

async function selectByIds<R>(database: SqlDatabase, entity: QueryEntity, ids: string[]): Promise<R[]> {
  const out: R[] = [];
  for (let start = 0; start < ids.length; start += ID_CHUNK) {
    const chunk = ids.slice(start, start + ID_CHUNK);
    const result =
      await sql<R>`SELECT * FROM ${sql.table(TABLE[entity])} WHERE ${sql.ref(ID_COLUMN[entity])} IN (${sql.join(chunk)})`.execute(
        database.db,
      );
    out.push(...result.rows);
  }
  return out;
}

export async function queryDatasets(database: SqlDatabase, query: StoreQuery): Promise<Page<DatasetRecord>> {
  const fetched = await run<Selectable<DatasetsTable>>(database, 'datasets', query, (row) => ({
    dataset: datasetFromRow(row),
  }));
  return { items: fetched.rows.map(datasetFromRow), total: fetched.total, nextToken: fetched.nextToken };
}

export async function queryFiles(database: SqlDatabase, query: StoreQuery): Promise<Page<StoredFile>> {
  const fetched = await run<Selectable<FilesTable>>(database, 'files', query, (row, context) => ({
    file: fileFromRow(row).record,
    dataset: context.datasets.get(row.dataset_id),
  }));
  return {
    items: fetched.rows.map((row) => {
      const { record, sha256 } = fileFromRow(row);
      return { record, sha256 };
    }),
    total: fetched.total,
    nextToken: fetched.nextToken,
  };
}

export async function queryTopics(database: SqlDatabase, query: StoreQuery): Promise<Page<TopicRecord>> {
  const fetched = await run<Selectable<TopicsTable>>(database, 'topics', query, (row, context) => ({
    topic: topicFromRow(row),
    topicDatasetId: row.dataset_id,
    file: context.files.get(row.file_id),
    dataset: context.datasets.get(row.dataset_id),
  }));
  return { items: fetched.rows.map(topicFromRow), total: fetched.total, nextToken: fetched.nextToken };
}
