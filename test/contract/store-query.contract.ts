import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Condition, ConditionGroup } from '../../src/domain/query-condition.js';
import type { QueryRow, QueryTarget } from '../../src/domain/query-fields.js';
import { COMPARATORS, compareCodePoints } from '../../src/domain/query-condition.js';
import { matchesQuery, pageRows, prepareQuery } from '../../src/domain/store-query.js';
import type { DataStore, DatasetRecord, Page, StoreQuery, StoredFile } from '../../src/ports/data-store.js';
import type { TopicRecord } from '../../src/domain/records.js';

export interface StoreQueryFixture {
  store: DataStore;
  /** A directory for source files. */
  scratch: string;
}

const signal = new AbortController().signal;

/** The seed's records by label: datasets A1, A2 (org og_a), B1 (og_b); files f1–f10; topics t1–t4. */
interface Seeded {
  ids: Map<string, string>;
  labelOf: Map<string, string>;
}

interface FileSeed {
  label: string;
  dataset: 'A1' | 'A2' | 'B1';
  path: string;
  size: number;
  tags: string[];
  metadata: Record<string, unknown>;
  description: string | null;
}

const FILES: FileSeed[] = [
  {
    label: 'f1',
    dataset: 'A1',
    path: 'logs/drive-01.log',
    size: 1500,
    tags: ['lidar', 'night'],
    metadata: {
      sensor: { kind: 'lidar', hz: 10 },
      passed: true,
      robot: 'r2',
      when: '2026-11-01T08:00:00Z',
      count: 5,
      list: ['a', 'b', 3],
      note: null,
    },
    description: 'first drive',
  },
  {
    label: 'f2',
    dataset: 'A1',
    path: 'logs/drive-02.log',
    size: 10,
    tags: ['camera'],
    metadata: {
      sensor: { kind: 'camera', hz: '30' },
      passed: false,
      robot: 'r1',
      count: '5',
      list: [],
      code: '007',
    },
    description: null,
  },
  {
    label: 'f3',
    dataset: 'A1',
    path: 'bags/run_1.bag',
    size: 3000,
    tags: ['keep'],
    metadata: { robot: 'r2', quality: 'good', count: 12.5, when: '2025-01-01' },
    description: 'keeper',
  },
  {
    label: 'f4',
    dataset: 'A1',
    path: 'bags/run%2.bag',
    size: 0,
    tags: [],
    metadata: { robot: 'R2', quality: 'bad', 'we"ird key': 'q', 'br[0]': 1, '1': 'one' },
    description: null,
  },
  {
    label: 'f5',
    dataset: 'A1',
    path: 'README.md',
    size: 100,
    tags: [],
    metadata: {},
    description: 'read me',
  },
  {
    label: 'f6',
    dataset: 'A2',
    path: 'bags/a.bag',
    size: 2000,
    tags: ['keep', 'lidar'],
    metadata: { robot: 'r3', count: 7, nested: { deep: { x: 1 } } },
    description: null,
  },
  {
    label: 'f7',
    dataset: 'A2',
    path: 'data/0.csv',
    size: 50,
    tags: ['1'],
    metadata: { robot: 2, flag: 'true', count: '7.0' },
    description: null,
  },
  {
    label: 'f8',
    dataset: 'A2',
    path: '日本/ファイル.txt',
    size: 20,
    tags: ['ü'],
    metadata: { label: 'ü', emoji: '😀x', robot: 'r10' },
    description: 'ünïcode',
  },
  {
    label: 'f9',
    dataset: 'B1',
    path: 'logs/drive-01.log',
    size: 5,
    tags: ['lidar'],
    metadata: { robot: 'r2' },
    description: null,
  },
  {
    label: 'f10',
    dataset: 'B1',
    path: 'x_y.bin',
    size: 7,
    tags: [],
    metadata: { inject: "'; DROP TABLE files; --", robot: null },
    description: "it's",
  },
];

async function seed(store: DataStore, scratch: string): Promise<Seeded> {
  const ids = new Map<string, string>();
  const datasets = [
    {
      label: 'A1',
      orgId: 'og_a',
      name: 'drives',
      description: 'night drives',
      tags: ['field', 'night'],
      metadata: { site: 'lab', year: 2026, nested: { k: 'v' } },
    },
    { label: 'A2', orgId: 'og_a', name: 'bench', tags: ['lab'], metadata: { site: 'yard', year: '2025' } },
    { label: 'B1', orgId: 'og_b', name: 'other' },
  ];
  for (const { label, ...dataset } of datasets)
    ids.set(label, (await store.createDataset(dataset)).dataset_id);
  for (const file of FILES) {
    const source = path.join(scratch, `${file.label}.bin`);
    await writeFile(source, Buffer.alloc(file.size, 0x61));
    const [record] = await store.putFiles(
      ids.get(file.dataset) ?? '',
      [{ relativePath: file.path, sourcePath: source }],
      { writeKey: { invocationId: `iv_${file.label}`, attempt: 1 }, origination: 'test', signal },
    );
    const fileId = record?.file_id ?? '';
    ids.set(file.label, fileId);
    await store.updateFile(fileId, {
      description: file.description,
      // replace_all: the keys are stored as they are (no dotted paths), odd ones included.
      metadataChangeset: {
        put_tags: file.tags,
        remove_tags: null,
        put_fields: file.metadata,
        remove_fields: null,
        replace_all: true,
      },
    });
  }
  const topics = [
    {
      label: 't1',
      file: 'f1',
      topicName: '/imu',
      schemaName: 'sensor_msgs/Imu',
      messageCount: 100,
      startTime: 1000,
      endTime: 5000,
      metadata: { rate: 100 },
    },
    { label: 't2', file: 'f1', topicName: '/camera', metadata: { rate: '30' } },
    {
      label: 't3',
      file: 'f3',
      topicName: '/imu',
      schemaName: 'sensor_msgs/Imu',
      messageCount: 50,
      startTime: 2000,
      endTime: 3000,
    },
    { label: 't4', file: 'f9', topicName: '/gps', schemaName: 'gps', messageCount: 7, metadata: { rate: 1 } },
  ];
  for (const { label, file, ...topic } of topics) {
    ids.set(label, (await store.addTopic(ids.get(file) ?? '', topic)).topic_id);
  }
  const labelOf = new Map([...ids].map(([label, id]) => [id, label]));
  return { ids, labelOf };
}

/** Every row of a target, as the reference evaluator reads them. */
async function allRows(store: DataStore, target: QueryTarget): Promise<{ id: string; row: QueryRow }[]> {
  const rows: { id: string; row: QueryRow }[] = [];
  for (const dataset of await store.listDatasets()) {
    if (target === 'datasets') {
      rows.push({ id: dataset.dataset_id, row: { dataset } });
      continue;
    }
    const files = await store.listFiles(dataset.dataset_id);
    if (target === 'files') {
      for (const { record } of files) rows.push({ id: record.file_id, row: { dataset, file: record } });
      continue;
    }
    const byId = new Map(files.map(({ record }) => [record.file_id, record]));
    for (const topic of await store.listTopics(dataset.dataset_id)) {
      rows.push({
        id: topic.topic_id,
        row: {
          dataset,
          topic,
          topicDatasetId: dataset.dataset_id,
          file: byId.get(topic.association.association_id),
        },
      });
    }
  }
  return rows;
}

type Target = 'datasets' | 'files' | 'topics';

function idOf(target: Target, item: unknown): string {
  if (target === 'datasets') return (item as DatasetRecord).dataset_id;
  if (target === 'files') return (item as StoredFile).record.file_id;
  return (item as TopicRecord).topic_id;
}

function runQuery(store: DataStore, target: Target, query: StoreQuery): Promise<Page<unknown>> {
  if (target === 'datasets') return store.queryDatasets(query);
  if (target === 'files') return store.queryFiles(query);
  return store.queryTopics(query);
}

/** Every page of a query with a small limit, checking each page's total and token. */
async function pageThrough(
  store: DataStore,
  target: Target,
  query: StoreQuery,
  limit: number,
): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  let total: number | undefined;
  for (let pages = 0; pages < 100; pages += 1) {
    const page: Page<unknown> = await runQuery(store, target, { ...query, limit, after });
    total ??= page.total;
    expect(page.total).toBe(total);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    ids.push(...page.items.map((item) => idOf(target, item)));
    if (page.nextToken === null) break;
    // Never a token for an empty tail.
    expect(page.items.length).toBe(limit);
    after = page.nextToken;
  }
  expect(ids.length).toBe(total);
  return ids;
}

/** A seeded pseudo-random generator (mulberry32), so that a failing query can be reproduced. */
function random(seedValue: number): () => number {
  let state = seedValue >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FILE_FIELDS = [
  'path',
  'name',
  'size',
  'description',
  'tags',
  'created',
  'version',
  'metadata',
  'metadata.robot',
  'metadata.count',
  'metadata.sensor.hz',
  'metadata.sensor',
  'metadata.passed',
  'metadata.list',
  'metadata.when',
  'metadata.code',
  'metadata.note',
  'metadata.flag',
  'metadata.missing',
  'dataset.name',
  'dataset.metadata.year',
  'dataset.tags',
  'file.metadata.quality',
];
const VALUES: (string | number | boolean | null)[] = [
  'r2',
  'R2',
  'r',
  '5',
  5,
  6.5,
  7,
  0,
  -1,
  1000,
  2026,
  '',
  ' ',
  true,
  false,
  null,
  'lidar',
  'a',
  '2026-01-01',
  '2026-11-01T08:00:00Z',
  '2026-11-01T08:00:00.000Z',
  '%.bag',
  'logs/%',
  '_x',
  '%',
  '007',
  'true',
  '1e3',
  'drives',
  'good',
];
const COMPARATOR_POOL = COMPARATORS;

function pick<T>(next: () => number, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)] as T;
}

function roboqlValue(value: string | number | boolean | null): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function randomRoboql(next: () => number, depth = 0): string {
  const roll = next();
  if (depth < 2 && roll < 0.3) {
    const op = pick(next, ['AND', 'OR']);
    return `(${randomRoboql(next, depth + 1)} ${op} ${randomRoboql(next, depth + 1)})`;
  }
  if (depth < 2 && roll < 0.4) return `NOT ${randomRoboql(next, depth + 1)}`;
  const field = pick(next, FILE_FIELDS);
  const op = pick(next, ['=', '!=', '<', '<=', '>', '>=', 'LIKE', 'CONTAINS', 'IN']);
  if (op === 'IN')
    return `${field} IN (${roboqlValue(pick(next, VALUES))}, ${roboqlValue(pick(next, VALUES))})`;
  return `${field} ${op} ${roboqlValue(pick(next, VALUES))}`;
}

function randomCondition(next: () => number, depth = 0): Condition | ConditionGroup {
  if (depth < 2 && next() < 0.35) {
    const count = 1 + Math.floor(next() * 3);
    return {
      operator: pick(next, ['AND', 'OR', 'NOT'] as const),
      conditions: Array.from({ length: count }, () => randomCondition(next, depth + 1)),
    };
  }
  return {
    field: pick(next, FILE_FIELDS),
    comparator: pick(next, COMPARATOR_POOL),
    value: pick(next, VALUES),
  };
}

/**
 * What every DataStore's queries must do (spec §2.11, §6.2, §1.9): run it against each adapter. Seeds
 * through the port, then checks ids, order, totals and paging.
 */
export function describeStoreQueryContract(
  name: string,
  fixture: () => Promise<StoreQueryFixture>,
  options: { generatedQueries?: number } = {},
): void {
  describe(`DataStore query contract: ${name}`, () => {
    let store: DataStore;
    let seeded: Seeded;
    const id = (label: string): string => seeded.ids.get(label) ?? label;
    const labels = (ids: string[]) => ids.map((one) => seeded.labelOf.get(one) ?? one);
    const substitute = (text: string) => text.replace(/\{(\w+)\}/g, (_, label: string) => id(label));

    beforeAll(async () => {
      const opened = await fixture();
      store = opened.store;
      seeded = await seed(store, opened.scratch);
    });

    /** Checks one query: the expected labels (any order), the default order, the total, and paging. */
    async function check(target: Target, query: StoreQuery, expected: string[]): Promise<void> {
      const page = await runQuery(store, target, query);
      const got = page.items.map((item) => idOf(target, item));
      expect(labels(got).sort()).toEqual([...expected].sort());
      expect(page.total).toBe(expected.length);
      expect(page.nextToken).toBeNull();
      // Ordered by the reference order (created DESC then id DESC unless the query sorts otherwise).
      const rows = new Map((await allRows(store, target)).map(({ id: rowId, row }) => [rowId, row]));
      const prepared = prepareQuery(target, query);
      const reference = pageRows(prepared, got, (one) => rows.get(one) ?? {}).items;
      expect(got).toEqual(reference);
      expect(await pageThrough(store, target, query, 3)).toEqual(got);
    }

    const fileQueries: [string, string[]][] = [
      ['path = "logs/drive-01.log"', ['f1', 'f9']],
      ["name = 'drive-01.log'", ['f1', 'f9']],
      ['dataset_id != "{A1}"', ['f6', 'f7', 'f8', 'f9', 'f10']],
      ['size > 1000', ['f1', 'f3', 'f6']],
      ['size <= 10', ['f2', 'f4', 'f9', 'f10']],
      ['size >= 1500 AND size < 1501', ['f1']],
      ['size > "1000"', ['f1', 'f3', 'f6']],
      ['size = " "', []],
      ['created > "2000-01-01"', ['f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9', 'f10']],
      ['created < "2000-01-01T00:00:00Z"', []],
      ['path LIKE "logs/%.log"', ['f1', 'f2', 'f9']],
      ['path LIKE "%drive-0_.log"', ['f1', 'f2', 'f9']],
      ['path LIKE "drive%"', []],
      ['path LIKE "bags/run%2.bag"', ['f4']],
      ['path LIKE "bags/run_1.bag"', ['f3']],
      ['path LIKE "%.BAG"', []],
      ['path LIKE "日本/%"', ['f8']],
      ['tags CONTAINS "lidar"', ['f1', 'f6', 'f9']],
      ['tags CONTAINS "day"', []],
      ['tags CONTAINS 1', ['f7']],
      ['name IN ("a.bag", "drive-01.log")', ['f1', 'f6', 'f9']],
      ['metadata.sensor.kind = "lidar"', ['f1']],
      ['metadata.sensor.hz >= 10', ['f1', 'f2']],
      ['metadata.passed = true', ['f1']],
      ['metadata.passed = false', ['f2']],
      ['metadata.missing = null', ['f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9', 'f10']],
      ['metadata.robot = null', ['f5', 'f10']],
      ['metadata.robot = "r2"', ['f1', 'f3', 'f9']],
      ['metadata.robot = 2', ['f7']],
      ['metadata.robot = "2"', ['f7']],
      ['metadata.robot != "r2"', ['f2', 'f4', 'f5', 'f6', 'f7', 'f8', 'f10']],
      ['metadata.robot IN ("r1", "r3")', ['f2', 'f6']],
      ['metadata.robot > "r1"', ['f1', 'f3', 'f6', 'f8', 'f9']],
      ['metadata.robot CONTAINS "2"', ['f1', 'f3', 'f4', 'f9']],
      ['metadata.count = 5', ['f1', 'f2']],
      ['metadata.count = "5"', ['f1', 'f2']],
      ['metadata.count > 6', ['f3', 'f6', 'f7']],
      ['metadata.count < "6"', ['f1', 'f2']],
      ['metadata.when > "2026-01-01"', ['f1']],
      ['metadata.code = 7', ['f2']],
      ['metadata.flag = true', []],
      ['metadata.list CONTAINS "a"', ['f1']],
      ['metadata.list CONTAINS 3', ['f1']],
      ['metadata.list.0 = "a"', []],
      ['metadata.sensor = null', ['f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9', 'f10']],
      ['metadata.nested.deep.x = 1', ['f6']],
      ['metadata.label = "ü"', ['f8']],
      ['metadata.emoji LIKE "_x"', ['f8']],
      ['metadata.inject = "\'; DROP TABLE files; --"', ['f10']],
      ['NOT tags CONTAINS "lidar"', ['f2', 'f3', 'f4', 'f5', 'f7', 'f8', 'f10']],
      ['size > 2000 OR tags CONTAINS "night"', ['f1', 'f3']],
      ['(size > 2000 OR size < 100) AND name = "drive-01.log"', ['f9']],
      ['not (size > 2000) and name = "x" or path like "%.log"', ['f1', 'f2', 'f9']],
      ['description = null', ['f2', 'f4', 'f6', 'f7', 'f9']],
      ['description != null', ['f1', 'f3', 'f5', 'f8', 'f10']],
      ['description LIKE "%\'%"', ['f10']],
      ['version = 1', ['f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9', 'f10']],
      ['dataset.name = "drives"', ['f1', 'f2', 'f3', 'f4', 'f5']],
      ['file.metadata.robot = "r2" AND dataset.metadata.site = "lab"', ['f1', 'f3']],
      ['dataset.tags CONTAINS "lab"', ['f6', 'f7', 'f8']],
    ];
    it.each(fileQueries)('files: %s', async (roboql, expected) => {
      await check('files', { roboql: substitute(roboql) }, expected);
    });

    const c = (field: string, comparator: Condition['comparator'], value?: Condition['value']): Condition =>
      value === undefined ? { field, comparator } : { field, comparator, value };
    const conditionQueries: [string, Condition | ConditionGroup, string[]][] = [
      ['EQUALS a string', c('metadata.robot', 'EQUALS', 'r2'), ['f1', 'f3', 'f9']],
      [
        'NOT_EQUALS skips null and missing',
        c('metadata.robot', 'NOT_EQUALS', 'r2'),
        ['f2', 'f4', 'f6', 'f7', 'f8'],
      ],
      ['GREATER_THAN an int: text goes through int()', c('metadata.count', 'GREATER_THAN', 6), ['f3', 'f6']],
      [
        'GREATER_THAN a float: text goes through float()',
        c('metadata.count', 'GREATER_THAN', 6.5),
        ['f3', 'f6', 'f7'],
      ],
      ['EQUALS a number', c('metadata.count', 'EQUALS', 5), ['f1', 'f2']],
      ['EQUALS a numeric string is not a number', c('metadata.count', 'EQUALS', '5'), ['f2']],
      ['EQUALS true', c('metadata.passed', 'EQUALS', true), ['f1']],
      ['EQUALS 1 matches true', c('metadata.passed', 'EQUALS', 1), ['f1']],
      ['EQUALS true never matches "true"', c('metadata.flag', 'EQUALS', true), []],
      ['IS_NULL', c('metadata.robot', 'IS_NULL'), ['f5', 'f10']],
      ['NOT_EXISTS', c('metadata.robot', 'NOT_EXISTS'), ['f5', 'f10']],
      ['EXISTS', c('metadata.robot', 'EXISTS'), ['f1', 'f2', 'f3', 'f4', 'f6', 'f7', 'f8', 'f9']],
      ['IS_NOT_NULL', c('metadata.sensor', 'IS_NOT_NULL'), ['f1', 'f2']],
      ['tags CONTAINS', c('tags', 'CONTAINS', 'lidar'), ['f1', 'f6', 'f9']],
      ['tags NOT_CONTAINS', c('tags', 'NOT_CONTAINS', 'lidar'), ['f2', 'f3', 'f4', 'f5', 'f7', 'f8', 'f10']],
      ['tags EQUALS', c('tags', 'EQUALS', 'lidar'), []],
      [
        'tags NOT_EQUALS',
        c('tags', 'NOT_EQUALS', 'x'),
        ['f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9', 'f10'],
      ],
      ['BEGINS_WITH', c('path', 'BEGINS_WITH', 'bags/'), ['f3', 'f4', 'f6']],
      ['LIKE', c('path', 'LIKE', '%.bag'), ['f3', 'f4', 'f6']],
      ['NOT_LIKE', c('path', 'NOT_LIKE', '%.bag'), ['f1', 'f2', 'f5', 'f7', 'f8', 'f9', 'f10']],
      ['CONTAINS on a string', c('name', 'CONTAINS', 'drive'), ['f1', 'f2', 'f9']],
      [
        'NOT_CONTAINS on a string',
        c('name', 'NOT_CONTAINS', 'drive'),
        ['f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f10'],
      ],
      ['CONTAINS on a metadata list', c('metadata.list', 'CONTAINS', 'b'), ['f1']],
      ['NOT_CONTAINS on a metadata list', c('metadata.list', 'NOT_CONTAINS', 'z'), ['f1', 'f2']],
      [
        'CONTAINS on metadata strings',
        c('metadata.robot', 'CONTAINS', 'r'),
        ['f1', 'f2', 'f3', 'f6', 'f8', 'f9'],
      ],
      [
        'a datetime against an aware instant',
        c('created', 'GREATER_THAN', '2000-01-01T00:00:00Z'),
        FILES.map((f) => f.label),
      ],
      ['a datetime against a naive date matches nothing', c('created', 'GREATER_THAN', '2000-01-01'), []],
      ['a datetime is never equal to a number', c('created', 'NOT_EQUALS', 5), FILES.map((f) => f.label)],
      ['GREATER_THAN_OR_EQUAL', c('size', 'GREATER_THAN_OR_EQUAL', 2000), ['f3', 'f6']],
      ['a number does not order against a string', c('size', 'LESS_THAN', '100'), []],
      ['a number is never equal to a string', c('size', 'NOT_EQUALS', '100'), FILES.map((f) => f.label)],
      ['IS_NOT_NULL on a column', c('description', 'IS_NOT_NULL'), ['f1', 'f3', 'f5', 'f8', 'f10']],
      ['EQUALS null', c('description', 'EQUALS', null), []],
      [
        'OR',
        {
          operator: 'OR',
          conditions: [c('metadata.robot', 'EQUALS', 'r1'), c('size', 'GREATER_THAN', 2500)],
        },
        ['f2', 'f3'],
      ],
      [
        'NOT is none of',
        { operator: 'NOT', conditions: [c('tags', 'CONTAINS', 'lidar'), c('size', 'LESS_THAN', 20)] },
        ['f3', 'f5', 'f7', 'f8'],
      ],
      [
        'qualified fields',
        {
          operator: 'AND',
          conditions: [c('dataset.name', 'EQUALS', 'drives'), c('file.metadata.quality', 'EQUALS', 'good')],
        },
        ['f3'],
      ],
      ['a key with a quote', c('metadata.we"ird key', 'EQUALS', 'q'), ['f4']],
      ['a key with brackets', c('metadata.br[0]', 'EQUALS', 1), ['f4']],
      ['a numeric key', c('metadata.1', 'EQUALS', 'one'), ['f4']],
      ['an injection attempt is a value', c('metadata.inject', 'EQUALS', "'; DROP TABLE files; --"), ['f10']],
      ['LESS_THAN an int through int()', c('metadata.sensor.hz', 'LESS_THAN', 20), ['f1']],
      [
        'strings order by code point',
        c('metadata.robot', 'GREATER_THAN', 'r1'),
        ['f1', 'f3', 'f6', 'f8', 'f9'],
      ],
      ["a dataset's metadata", c('dataset.metadata.year', 'EQUALS', 2026), ['f1', 'f2', 'f3', 'f4', 'f5']],
      [
        "a dataset's metadata through int()",
        c('dataset.metadata.year', 'GREATER_THAN', 2020),
        ['f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8'],
      ],
      ['metadata strings are strings', c('metadata.when', 'GREATER_THAN', '2026-01-01'), ['f1']],
      ['metadata itself EXISTS', c('metadata', 'EXISTS'), FILES.map((f) => f.label)],
    ];
    it.each(conditionQueries)('files, condition: %s', async (_, condition, expected) => {
      await check('files', { condition }, expected);
    });

    it.each([
      ['name = "drives"', ['A1']],
      ['tags CONTAINS "lab"', ['A2']],
      ['metadata.site = "yard" OR name = "other"', ['A2', 'B1']],
      ['metadata.year > 2025', ['A1']],
      ['description = null', ['A2', 'B1']],
    ])('datasets: %s', async (roboql, expected) => {
      await check('datasets', { roboql }, expected);
    });

    it('datasets: conditions, org scope and qualified fields', async () => {
      await check('datasets', { condition: c('dataset.metadata.nested.k', 'EQUALS', 'v') }, ['A1']);
      await check('datasets', { orgId: 'og_a' }, ['A1', 'A2']);
      await check('datasets', { orgId: 'og_b', roboql: 'name = "drives"' }, []);
    });

    it.each([
      ['name = "/imu"', ['t1', 't3']],
      ['topic_name = "/imu" AND message_count > 60', ['t1']],
      ['schema_name = null', ['t2']],
      ['file.path LIKE "bags/%"', ['t3']],
      ['dataset.name = "other"', ['t4']],
      ['metadata.rate = "30"', ['t2']],
      ['metadata.rate = 30', ['t2']],
      ['start_time >= 1500', ['t3']],
      ['file_id = "{f1}"', ['t1', 't2']],
      // Re-checked by the reference evaluator (a number against JSON that may hold text), reading the file.
      ['file.metadata.count = 5', ['t1', 't2']],
      ['dataset.metadata.year >= 2026 AND file.size > "1000"', ['t1', 't2', 't3']],
    ])('topics: %s', async (roboql, expected) => {
      await check('topics', { roboql: substitute(roboql) }, expected);
    });

    it('topics: conditions and dataset scope', async () => {
      await check('topics', { condition: c('message_count', 'IS_NULL') }, ['t2']);
      await check('topics', { datasetId: id('A1') }, ['t1', 't2', 't3']);
      await check('topics', { datasetId: id('A1'), condition: c('file.metadata.robot', 'EQUALS', 'r2') }, [
        't1',
        't2',
        't3',
      ]);
    });

    it('scopes files to an org and to a dataset', async () => {
      await check('files', { orgId: 'og_b' }, ['f9', 'f10']);
      await check('files', { datasetId: id('A2'), roboql: 'tags CONTAINS "keep"' }, ['f6']);
      await check('files', { orgId: 'og_a', roboql: 'path = "logs/drive-01.log"' }, ['f1']);
      await check('files', { orgId: 'og_a', datasetId: id('B1') }, []);
      // One tag or metadata lookup, scoped (SQLite counts these from its side tables).
      await check('files', { orgId: 'og_a', roboql: 'metadata.robot = "r2"' }, ['f1', 'f3']);
      await check('files', { orgId: 'og_b', roboql: 'tags CONTAINS "lidar"' }, ['f9']);
      await check('files', { datasetId: id('A2'), condition: c('tags', 'CONTAINS', 'lidar') }, ['f6']);
      await check('files', { orgId: 'og_a', datasetId: id('A1'), roboql: 'tags CONTAINS "lidar"' }, ['f1']);
    });

    it('sorts by a text column by code point, ties by id, and pages the same way', async () => {
      const [first, second] = [id('f1'), id('f9')].sort(compareCodePoints);
      const expected = [
        'f5',
        'f6',
        'f4',
        'f3',
        'f7',
        seeded.labelOf.get(first ?? ''),
        seeded.labelOf.get(second ?? ''),
        'f2',
        'f10',
        'f8',
      ];
      const query: StoreQuery = { sortBy: 'path', sortDirection: 'ASC' };
      const page = await store.queryFiles(query);
      expect(labels(page.items.map((file) => file.record.file_id))).toEqual(expected);
      expect(labels(await pageThrough(store, 'files', query, 4))).toEqual(expected);
    });

    it('sorts by a number, by a nullable column with nulls last, and by a metadata key', async () => {
      const sorted = async (query: StoreQuery) =>
        labels((await store.queryFiles(query)).items.map((file) => file.record.file_id));
      expect(await sorted({ sortBy: 'size' })).toEqual([
        'f3',
        'f6',
        'f1',
        'f5',
        'f7',
        'f8',
        'f2',
        'f10',
        'f9',
        'f4',
      ]);
      const nulls = ['f2', 'f4', 'f6', 'f7', 'f9'].sort((a, b) => compareCodePoints(id(a), id(b)));
      expect(await sorted({ sortBy: 'description', sortDirection: 'ASC' })).toEqual([
        'f1',
        'f10',
        'f3',
        'f5',
        'f8',
        ...nulls,
      ]);
      expect(await sorted({ sortBy: 'description', sortDirection: 'DESC' })).toEqual([
        'f8',
        'f5',
        'f3',
        'f10',
        'f1',
        ...[...nulls].reverse(),
      ]);
      const r2 = ['f1', 'f3', 'f9'].sort((a, b) => compareCodePoints(id(a), id(b)));
      const missing = ['f5', 'f10'].sort((a, b) => compareCodePoints(id(a), id(b)));
      expect(await sorted({ sortBy: 'metadata.robot', sortDirection: 'ASC' })).toEqual([
        'f7',
        'f4',
        'f2',
        'f8',
        ...r2,
        'f6',
        ...missing,
      ]);
      expect(
        labels(await pageThrough(store, 'files', { sortBy: 'metadata.robot', sortDirection: 'ASC' }, 3)),
      ).toEqual(await sorted({ sortBy: 'metadata.robot', sortDirection: 'ASC' }));
    });

    it('sorts by created, newest first, by default', async () => {
      const page = await store.queryFiles({});
      expect(page.total).toBe(FILES.length);
      const rows = new Map((await allRows(store, 'files')).map(({ id: rowId, row }) => [rowId, row]));
      const ids = page.items.map((file) => file.record.file_id);
      const expected = [...ids].sort((a, b) => {
        const x = rows.get(a)?.file?.created ?? '';
        const y = rows.get(b)?.file?.created ?? '';
        return x === y ? compareCodePoints(b, a) : compareCodePoints(y, x);
      });
      expect(ids).toEqual(expected);
    });

    it('refuses a bad query, naming what is wrong', async () => {
      const refused = async (target: Target, query: StoreQuery, message: RegExp) => {
        const error = await runQuery(store, target, query).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error).toMatchObject({ code: 'E_INVALID_INPUT' });
        expect((error as Error).message).toMatch(message);
      };
      await refused('files', { roboql: 'size >> 3' }, /expected a value/);
      await refused('files', { roboql: 'colour = "red"' }, /files have no field "colour"|no field "colour"/);
      await refused(
        'files',
        { condition: { field: 'size', comparator: 'EQ' as never, value: 1 } },
        /unknown comparator "EQ"/,
      );
      await refused('files', { condition: { operator: 'AND', conditions: [] } }, /non-empty list/);
      await refused('files', { limit: 0 }, /limit 0 is out of range/);
      await refused('files', { limit: 1001 }, /limit 1001 is out of range/);
      await refused('files', { after: 'not a token!' }, /malformed page token/);
      await refused(
        'files',
        { after: Buffer.from('v1:json:{"offset":-1}').toString('base64url') },
        /malformed page token/,
      );
      await refused('files', { sortBy: 'nope' }, /no field "nope"/);
      await refused('files', { roboql: 'msgpath.x = 1' }, /message path/);
      await refused('datasets', { roboql: 'file.name = "x"' }, /cannot read file fields/);
      await refused('files', { roboql: 'size = 1', condition: c('size', 'EQUALS', 1) }, /not both/);
    });

    it('still has every file after an injection attempt in a value and in a field name', async () => {
      await store.queryFiles({ roboql: 'metadata.x = "\'; DROP TABLE files; --"' });
      await store.queryFiles({ condition: c('metadata.a"]; DROP TABLE files; --', 'EQUALS', 1) });
      expect((await store.queryFiles({})).total).toBe(FILES.length);
    });

    it('returns a total and a token on a page before the last, and none after it', async () => {
      const first = await store.queryFiles({ limit: 4 });
      expect(first.items).toHaveLength(4);
      expect(first.total).toBe(FILES.length);
      expect(first.nextToken).not.toBeNull();
      const exact = await store.queryFiles({ limit: FILES.length });
      expect(exact.nextToken).toBeNull();
      const past = await store.queryFiles({
        limit: 4,
        after: Buffer.from('v1:json:{"offset":40}').toString('base64url'),
      });
      expect(past).toEqual({ items: [], total: FILES.length, nextToken: null });
    });

    const generated = options.generatedQueries ?? 0;
    if (generated > 0) {
      it(`agrees with the reference evaluators on ${generated} generated RoboQL queries and ${generated} condition trees`, async () => {
        const rows = await allRows(store, 'files');
        const byId = new Map(rows.map(({ id: rowId, row }) => [rowId, row]));
        const next = random(14);
        const failures: string[] = [];
        for (let i = 0; i < generated * 2; i += 1) {
          const query: StoreQuery =
            i % 2 === 0 ? { roboql: randomRoboql(next) } : { condition: randomCondition(next) };
          const prepared = prepareQuery('files', query);
          const expected = pageRows(
            prepared,
            rows.filter(({ row }) => matchesQuery(prepared, row)).map(({ id: rowId }) => rowId),
            (one) => byId.get(one) ?? {},
          );
          const page = await store.queryFiles(query);
          const got = page.items.map((file) => file.record.file_id);
          if (JSON.stringify(got) !== JSON.stringify(expected.items) || page.total !== expected.total) {
            failures.push(
              `${JSON.stringify(query)}: got ${JSON.stringify(labels(got))}, expected ${JSON.stringify(labels(expected.items))}`,
            );
          }
        }
        expect(failures).toEqual([]);
      });
    }
  });
}
