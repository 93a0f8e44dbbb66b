// RoboQL queries over a large file table, on SQLite and PostgreSQL: p50/p99 of representative queries
// (limit 100, with the total), scoped to one dataset and org-wide.
// Usage: node --import tsx bench/query.ts [files] [datasets] [rounds] [sqlite|postgres|both]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { SqlDatabase } from '../src/adapters/sql/database.js';
import { openSqlDatabase } from '../src/adapters/sql/open-database.js';
import { datasetRow, fileRow } from '../src/adapters/sql/rows.js';
import { QueryCompiler } from '../src/adapters/sql/query-compiler.js';
import { queryFiles } from '../src/adapters/sql/sql-queries.js';
import { prepareQuery } from '../src/domain/store-query.js';
import type { FileRecord } from '../src/domain/records.js';
import type { DatasetRecord, StoreQuery } from '../src/ports/data-store.js';
import { PrivatePostgres } from '../test/support/private-postgres.js';

const fileCount = Number(process.argv[2] ?? 1_000_000);
const datasetCount = Number(process.argv[3] ?? 1000);
const rounds = Number(process.argv[4] ?? 15);
const which = process.argv[5] ?? 'both';
/** Orgs the datasets are spread over: an org-wide query reads a tenth of the table. */
const ORGS = 10;
const BATCH = 5000;
const EXTENSIONS = ['bag', 'mcap', 'csv', 'log', 'png', 'json', 'txt', 'bin', 'jpg', 'yaml'];
const BASE_TIME = Date.parse('2026-01-01T00:00:00Z');

function dataset(d: number): DatasetRecord {
  const created = new Date(BASE_TIME + d * 1000).toISOString();
  return {
    dataset_id: `ds_${String(d).padStart(6, '0')}`,
    org_id: `og_${d % ORGS}`,
    name: `drive ${d}`,
    description: null,
    tags: d % 2 ? ['field'] : [],
    metadata: { site: `site${d % 5}` },
    created,
    created_by: 'bench',
    modified: created,
    modified_by: 'bench',
  };
}

/** The i-th file of the table (files are spread round-robin over the datasets). */
function fileAt(i: number): FileRecord {
  const d = i % datasetCount;
  const n = Math.floor(i / datasetCount);
  // Spread by the position in the dataset, so that every dataset holds every kind of file.
  const relativePath = `run_${n % 50}/part-${n}.${EXTENSIONS[n % EXTENSIONS.length]}`;
  const created = new Date(BASE_TIME + 10_000_000 + i).toISOString();
  const tags = [];
  if (n % 10 === 3) tags.push('night');
  if (n % 7 === 0) tags.push('lidar');
  return {
    association_id: dataset(d).dataset_id,
    created,
    created_by: 'bench',
    description: null,
    device_id: null,
    file_id: `fl_${String(i).padStart(8, '0')}`,
    fs_type: 'file',
    ingestion_status: 'not_ingested',
    metadata: { robot: `r${(n * 31 + d) % 20}`, sensor: { hz: n % 100 }, quality: n % 3 ? 'good' : 'bad' },
    modified: created,
    modified_by: 'bench',
    name: path.posix.basename(relativePath),
    org_id: dataset(d).org_id,
    origination: 'bench',
    parent_id: null,
    relative_path: relativePath,
    size: (i * 7919) % 100_000,
    status: 'available',
    storage_type: 'uploaded',
    tags,
    upload_id: 'bench',
    uri: 'blob:bench',
    version: 1,
  };
}

const sha = '0'.repeat(64);
const writeKey = { invocationId: 'iv_bench', attempt: 1 };

/** SQLite: one prepared INSERT, batches in big transactions, through better-sqlite3 directly. */
async function seedSqlite(file: string): Promise<void> {
  (await openSqlDatabase({ dialect: 'sqlite', file })).close().catch(() => undefined);
  const { default: BetterSqlite3 } = await import('better-sqlite3');
  const connection = new BetterSqlite3(file);
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = OFF');
  // A big page cache for the load: the indexes (and the triggers' side tables) are written at random.
  connection.pragma('cache_size = -1000000');
  const insertDataset = connection.prepare(
    `INSERT INTO datasets (${Object.keys(datasetRow(dataset(0))).join(', ')}) VALUES (${Object.keys(
      datasetRow(dataset(0)),
    )
      .map((key) => `@${key}`)
      .join(', ')})`,
  );
  const columns = Object.keys(fileRow(file0(), sha, writeKey));
  const insertFile = connection.prepare(
    `INSERT INTO files (${columns.join(', ')}) VALUES (${columns.map((key) => `@${key}`).join(', ')})`,
  );
  connection.transaction(() => {
    for (let d = 0; d < datasetCount; d += 1) insertDataset.run(datasetRow(dataset(d)));
  })();
  const insertBatch = connection.transaction((start: number) => {
    for (let i = start; i < Math.min(start + BATCH * 10, fileCount); i += 1)
      insertFile.run(fileRow(fileAt(i), sha, writeKey));
  });
  for (let start = 0; start < fileCount; start += BATCH * 10) insertBatch(start);
  connection.exec('ANALYZE');
  connection.close();
}

function file0(): FileRecord {
  return fileAt(0);
}

/** PostgreSQL: batches of rows as one JSON parameter each (jsonb_populate_recordset), in one transaction. */
async function seedPostgres(database: SqlDatabase): Promise<void> {
  const { db } = database;
  const asJson = (row: Record<string, unknown>) => ({
    ...row,
    tags: JSON.parse(String(row.tags)) as unknown,
    metadata: JSON.parse(String(row.metadata)) as unknown,
  });
  await sql`INSERT INTO datasets SELECT * FROM jsonb_populate_recordset(NULL::datasets, ${JSON.stringify(
    Array.from({ length: datasetCount }, (_, d) => asJson(datasetRow(dataset(d)))),
  )}::jsonb)`.execute(db);
  for (let start = 0; start < fileCount; start += BATCH) {
    const rows = [];
    for (let i = start; i < Math.min(start + BATCH, fileCount); i += 1)
      rows.push(asJson(fileRow(fileAt(i), sha, writeKey)));
    await sql`INSERT INTO files SELECT * FROM jsonb_populate_recordset(NULL::files, ${JSON.stringify(rows)}::jsonb)`.execute(
      db,
    );
  }
  // What autovacuum would have done by the time anyone queries: statistics and the visibility map.
  await sql`VACUUM ANALYZE`.execute(db);
}

const QUERIES: [string, string][] = [
  ['metadata equality', 'metadata.robot = "r7"'],
  ['path LIKE with a suffix', 'path LIKE "%.bag"'],
  ['tag CONTAINS', 'tags CONTAINS "night"'],
  ['size range AND metadata', 'size >= 1000 AND size < 30000 AND metadata.robot = "r7"'],
];

interface Row {
  dialect: string;
  query: string;
  scope: string;
  total: number;
  p50: number;
  p99: number;
}

async function measure(dialect: string, database: SqlDatabase): Promise<Row[]> {
  const rows: Row[] = [];
  const scopes: [string, Partial<StoreQuery>][] = [
    ['one dataset', { datasetId: dataset(7).dataset_id }],
    ['org-wide', { orgId: dataset(7).org_id }],
  ];
  for (const [name, roboql] of QUERIES) {
    for (const [scope, scoping] of scopes) {
      const query: StoreQuery = { roboql, limit: 100, ...scoping };
      let total = 0;
      for (let i = 0; i < 2; i += 1) total = (await queryFiles(database, query)).total;
      const times: number[] = [];
      for (let i = 0; i < rounds; i += 1) {
        const start = performance.now();
        const page = await queryFiles(database, query);
        times.push(performance.now() - start);
        if (page.items.length === 0 && page.total > 0) throw new Error(`${name}: an empty first page`);
      }
      times.sort((a, b) => a - b);
      if (process.env.BENCH_QUERY_EXPLAIN !== undefined) await explain(database, query);
      const at = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]!;
      rows.push({ dialect, query: `${name}: \`${roboql}\``, scope, total, p50: at(0.5), p99: at(0.99) });
      console.error(`${dialect} ${name} (${scope}): total ${total}, p50 ${at(0.5).toFixed(1)} ms`);
    }
  }
  return rows;
}

/** Prints the plans of a query's count and first page (BENCH_QUERY_EXPLAIN=1). */
async function explain(database: SqlDatabase, query: StoreQuery): Promise<void> {
  const where = new QueryCompiler(prepareQuery('files', query), database.dialect).where().sql;
  const analyze = database.dialect === 'postgres' ? sql`EXPLAIN ANALYZE` : sql`EXPLAIN QUERY PLAN`;
  for (const statement of [
    sql`${analyze} SELECT COUNT(*) FROM files AS f WHERE ${where}`,
    sql`${analyze} SELECT f.* FROM files AS f WHERE ${where} ORDER BY f.created DESC, f.file_id DESC LIMIT 100`,
  ]) {
    const plan = await statement.execute(database.db);
    console.error(plan.rows.map((row) => Object.values(row as object).join(' ')).join('\n'));
  }
}

async function main(): Promise<void> {
  const load = os
    .loadavg()
    .map((value) => value.toFixed(1))
    .join(' ');
  console.log(
    `${new Date().toISOString().slice(0, 10)}, ${fileCount.toLocaleString('en')} files in ${datasetCount} datasets (${ORGS} orgs), ` +
      `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.versions.node}, load average before: ${load}`,
  );
  const results: Row[] = [];
  if (which !== 'postgres') {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aw-bench-query-'));
    try {
      const file = path.join(dir, 'store.db');
      let start = performance.now();
      await seedSqlite(file);
      console.log(`SQLite seed: ${((performance.now() - start) / 1000).toFixed(1)} s`);
      const database = await openSqlDatabase({ dialect: 'sqlite', file });
      try {
        start = performance.now();
        results.push(...(await measure('SQLite', database)));
      } finally {
        await database.close();
      }
    } finally {
      if (process.env.BENCH_QUERY_KEEP === undefined) await rm(dir, { recursive: true, force: true });
      else console.log(`kept ${dir}`);
    }
  }
  if (which !== 'sqlite') {
    const server = await PrivatePostgres.create();
    try {
      const database = await openSqlDatabase({ dialect: 'postgres', url: await server.database() });
      try {
        const start = performance.now();
        await seedPostgres(database);
        console.log(`PostgreSQL seed: ${((performance.now() - start) / 1000).toFixed(1)} s`);
        results.push(...(await measure('PostgreSQL', database)));
      } finally {
        await database.close();
      }
    } finally {
      await server.stop();
    }
  }
  console.log(
    `load average after: ${os
      .loadavg()
      .map((value) => value.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    '\n| database | query | scope | total | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- | --- |',
  );
  for (const row of results) {
    console.log(
      `| ${row.dialect} | ${row.query} | ${row.scope} | ${row.total} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} |`,
    );
  }
}

await main();
