import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.js';

/** The first schema: datasets, files and their versions, topics, and the progress of a store migration. */
export function initialSchema(dialect: Dialect) {
  const json = dialect === 'postgres' ? 'jsonb' : 'text';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('datasets')
        .addColumn('dataset_id', 'text', (c) => c.primaryKey())
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('description', 'text')
        .addColumn('tags', json, (c) => c.notNull())
        .addColumn('metadata', json, (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('modified', 'text', (c) => c.notNull())
        .addColumn('modified_by', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('datasets_org_created')
        .on('datasets')
        .columns(['org_id', 'created'])
        .execute();

      await db.schema
        .createTable('files')
        .addColumn('file_id', 'text', (c) => c.primaryKey())
        .addColumn('dataset_id', 'text', (c) => c.notNull().references('datasets.dataset_id'))
        .addColumn('relative_path', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('tags', json, (c) => c.notNull())
        .addColumn('metadata', json, (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('modified', 'text', (c) => c.notNull())
        .addColumn('modified_by', 'text', (c) => c.notNull())
        .addColumn('origination', 'text', (c) => c.notNull())
        .addColumn('upload_id', 'text', (c) => c.notNull())
        .addColumn('ingestion_status', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('storage_type', 'text', (c) => c.notNull())
        .addColumn('fs_type', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text')
        .addColumn('parent_id', 'text')
        .addColumn('uri', 'text', (c) => c.notNull())
        .addColumn('written_by_invocation', 'text', (c) => c.notNull())
        .addColumn('written_by_attempt', 'integer', (c) => c.notNull())
        .addColumn('source_stat', 'text')
        .addUniqueConstraint('files_dataset_path', ['dataset_id', 'relative_path'])
        .execute();
      await db.schema.createIndex('files_org_created').on('files').columns(['org_id', 'created']).execute();
      await db.schema.createIndex('files_path').on('files').column('relative_path').execute();
      await db.schema.createIndex('files_sha256').on('files').column('sha256').execute();
      // Queries scoped to a dataset, newest first (the default sort); path filters over an org (LIKE '%.bag'
      // is answered from the index alone, without reading the rows).
      await db.schema
        .createIndex('files_dataset_created')
        .on('files')
        .columns(['dataset_id', 'created'])
        .execute();
      await db.schema
        .createIndex('files_org_path')
        .on('files')
        .columns(['org_id', 'relative_path'])
        .execute();
      if (dialect === 'postgres') {
        // Containment (`metadata @> '{"k": v}'`, `tags ? 'x'`) lookups.
        await sql`CREATE INDEX files_metadata_gin ON files USING gin (metadata jsonb_path_ops)`.execute(db);
        await sql`CREATE INDEX files_tags_gin ON files USING gin (tags)`.execute(db);
      } else {
        await createSqliteFileIndexes(db);
      }

      await db.schema
        .createTable('file_versions')
        .addColumn('file_id', 'text', (c) => c.notNull().references('files.file_id'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('upload_id', 'text', (c) => c.notNull())
        .addColumn('origination', 'text', (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('file_versions_pk', ['file_id', 'version'])
        .execute();

      await db.schema
        .createTable('topics')
        .addColumn('topic_id', 'text', (c) => c.primaryKey())
        .addColumn('file_id', 'text', (c) => c.notNull().references('files.file_id'))
        .addColumn('dataset_id', 'text', (c) => c.notNull().references('datasets.dataset_id'))
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('topic_name', 'text', (c) => c.notNull())
        .addColumn('schema_name', 'text')
        .addColumn('message_count', 'bigint')
        .addColumn('start_time', 'bigint')
        .addColumn('end_time', 'bigint')
        .addColumn('metadata', json, (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('modified', 'text', (c) => c.notNull())
        .addColumn('record', json, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('topics_dataset_name')
        .on('topics')
        .columns(['dataset_id', 'topic_name'])
        .execute();
      await db.schema.createIndex('topics_file').on('topics').column('file_id').execute();
      await db.schema.createIndex('topics_name').on('topics').column('topic_name').execute();

      await db.schema
        .createTable('store_migrations')
        .addColumn('id', dialect === 'postgres' ? 'serial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('source', 'text', (c) => c.notNull().unique())
        .addColumn('started', 'text', (c) => c.notNull())
        .addColumn('last_dataset_id', 'text')
        .addColumn('datasets_done', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('files_done', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('verified', 'text')
        .execute();
    },
  };
}

/**
 * SQLite has no index over JSON values: two side tables, kept by triggers, index a file's tags and the
 * string values of its metadata (one row per leaf, keyed by its JSON path, `$.a.b`), with the file's org
 * and dataset, so that `tags CONTAINS "x"` and `metadata.a.b = "x"` over an org read an index range
 * instead of every file's JSON. The query compiler reads them (src/adapters/sql/sql-dialect.ts).
 */
async function createSqliteFileIndexes(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE file_tag_index (
    file_id text NOT NULL, org_id text NOT NULL, dataset_id text NOT NULL, tag text NOT NULL)`.execute(db);
  await sql`CREATE INDEX file_tag_index_tag ON file_tag_index (tag, org_id, dataset_id, file_id)`.execute(db);
  await sql`CREATE INDEX file_tag_index_file ON file_tag_index (file_id)`.execute(db);
  await sql`CREATE TABLE file_metadata_index (
    file_id text NOT NULL, org_id text NOT NULL, dataset_id text NOT NULL, key text NOT NULL, value text NOT NULL)`.execute(
    db,
  );
  await sql`CREATE INDEX file_metadata_index_value ON file_metadata_index (key, value, org_id, dataset_id, file_id)`.execute(
    db,
  );
  await sql`CREATE INDEX file_metadata_index_file ON file_metadata_index (file_id)`.execute(db);
  const fill = (row: 'new') => sql`
    INSERT INTO file_tag_index (file_id, org_id, dataset_id, tag)
      SELECT ${sql.raw(row)}.file_id, ${sql.raw(row)}.org_id, ${sql.raw(row)}.dataset_id, value
      FROM json_each(${sql.raw(row)}.tags) WHERE type = 'text';
    INSERT INTO file_metadata_index (file_id, org_id, dataset_id, key, value)
      SELECT ${sql.raw(row)}.file_id, ${sql.raw(row)}.org_id, ${sql.raw(row)}.dataset_id, fullkey, atom
      FROM json_tree(${sql.raw(row)}.metadata) WHERE type = 'text';`;
  const clear = sql`
    DELETE FROM file_tag_index WHERE file_id = old.file_id;
    DELETE FROM file_metadata_index WHERE file_id = old.file_id;`;
  await sql`CREATE TRIGGER files_index_insert AFTER INSERT ON files BEGIN ${fill('new')} END`.execute(db);
  await sql`CREATE TRIGGER files_index_update AFTER UPDATE OF tags, metadata, org_id, dataset_id, file_id ON files
    BEGIN ${clear} ${fill('new')} END`.execute(db);
  await sql`CREATE TRIGGER files_index_delete AFTER DELETE ON files BEGIN ${clear} END`.execute(db);
}
