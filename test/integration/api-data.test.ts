import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApi } from '../../src/app/api-server.js';
import { openDataStore } from '../../src/app/local-adapters.js';
import type { DataStore } from '../../src/ports/data-store.js';
import { type ApiTestServer, MapAuthenticator, apiTestServer } from '../support/api-test-server.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

/**
 * Datasets, files and topics over HTTP (spec §3.4–§3.6): `serve` on 127.0.0.1 with its default SQLite
 * store; the test writes files and topics into the same store through a second connection, as the worker
 * does, and reads them back the way the SDK does.
 */

const TOKEN_A = 'tok-data-a-5e4d3c2b1a';
const TOKEN_B = 'tok-data-b-6f5e4d3c2b';

let server: ApiTestServer;
let api: RunningApi;
/** What serve logged. */
const logLines: string[] = [];
/** The signed URLs' clock, in milliseconds: tests move it instead of waiting. */
let clock = Date.parse('2026-01-01T00:00:00Z');
let store: DataStore;
let scratch: string;

beforeAll(async () => {
  scratch = await tempDir('api-data');
  server = await apiTestServer({
    name: 'api-data',
    settings: { storeDir: path.join(scratch, 'store') },
    server: {
      logger: pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) }),
      now: () => clock,
      authenticator: new MapAuthenticator(
        new Map([
          [TOKEN_A, { orgId: 'og_a', tokenId: 'tk_a' }],
          [TOKEN_B, { orgId: 'og_b', tokenId: 'tk_b' }],
        ]),
      ),
    },
  });
  api = server.api;
  store = await openDataStore(server.settings);
});

afterAll(async () => {
  await store.close();
  await server.close({ force: true });
  await removeTempDirs();
});

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read what the SDK reads
  json: any;
  text: string;
}

/** An error answer's message. */
const messageOf = (answer: Answer): string => String(answer.json.error.message);

async function call(
  urlPath: string,
  init: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return await server.request(urlPath, { ...init, token: init.token ?? TOKEN_A });
}

let sourceCount = 0;
/** A dataset of org `orgId` holding these paths (content: the path itself). */
async function datasetWith(orgId: string, paths: readonly string[], name: string | null = null) {
  const dataset = await store.createDataset({ orgId, name, tags: ['start'], metadata: { keep: 1 } });
  const files = await Promise.all(
    paths.map(async (relativePath) => {
      const sourcePath = path.join(scratch, `source-${sourceCount++}`);
      await writeFile(sourcePath, relativePath);
      return { relativePath, sourcePath };
    }),
  );
  const records = await store.putFiles(dataset.dataset_id, files, {
    writeKey: { invocationId: 'iv_test', attempt: 1 },
    origination: 'test',
    signal: new AbortController().signal,
  });
  return { dataset, records };
}

/** Python's quote(path, safe=""): every byte but A–Z a–z 0–9 _ . - ~ as %XX (spec §1.2). */
const quote = (text: string) =>
  [...Buffer.from(text, 'utf8')]
    .map((byte) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');

/** The SDK's FileRecord fields, each of which it requires or defaults without accepting null (spec §2.6). */
const FILE_FIELDS = [
  'association_id',
  'created',
  'created_by',
  'description',
  'device_id',
  'file_id',
  'fs_type',
  'ingestion_status',
  'metadata',
  'modified',
  'modified_by',
  'name',
  'org_id',
  'origination',
  'parent_id',
  'relative_path',
  'size',
  'status',
  'storage_type',
  'tags',
  'upload_id',
  'uri',
  'version',
];
const NULLABLE_FILE_FIELDS = new Set(['description', 'device_id', 'parent_id']);
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

function expectFileRecord(answered: unknown): void {
  const data = answered as Record<string, unknown>;
  expect(Object.keys(data).sort()).toEqual([...FILE_FIELDS].sort());
  for (const field of FILE_FIELDS) {
    if (!NULLABLE_FILE_FIELDS.has(field)) expect(data[field], field).not.toBeNull();
  }
  expect(data.created).toMatch(ISO);
  expect(data.modified).toMatch(ISO);
  expect(Number.isInteger(data.size)).toBe(true);
  expect(Number.isInteger(data.version)).toBe(true);
  // Nothing of where the server keeps the bytes.
  expect(JSON.stringify(data)).not.toContain(scratch);
}

describe('datasets over HTTP (spec D3)', () => {
  it('refuses devices and custom fields, which it does not keep, on create and update, and keeps nothing of them', async () => {
    const { dataset } = await datasetWith('og_a', []);
    const id = dataset.dataset_id;
    const device = await call('/v1/datasets', { method: 'POST', body: { name: 'd', device_id: 'dv_1' } });
    expect(device.status).toBe(404);
    expect(device.json.error.error_code).toBe('RobotoNotFoundException');
    const custom = await call('/v1/datasets', {
      method: 'POST',
      body: { name: 'c', custom_fields: { a: 1 } },
    });
    expect(custom.status).toBe(400);
    expect(custom.json.error.error_code).toBe('RobotoIllegalArgumentException');
    const moved = await call(`/v1/datasets/${id}`, {
      method: 'PUT',
      body: { device_id: 'dv_1', metadata_changeset: { put_tags: ['no'] } },
    });
    expect(moved.status).toBe(404);
    const customized = await call(`/v1/datasets/${id}`, {
      method: 'PUT',
      body: { custom_fields_changeset: { put_fields: { a: 1 } }, metadata_changeset: { put_tags: ['no'] } },
    });
    expect(customized.status).toBe(400);
    expect((await store.getDataset(id))?.tags).not.toContain('no');
    // Empty ones, as the SDK sends them, are fine.
    const empty = await call('/v1/datasets', { method: 'POST', body: { name: 'e', custom_fields: {} } });
    expect(empty.status).toBe(200);
  });

  it('applies a metadata changeset as the SDK sends it (put_tags, put_metadata, remove_tags) and bumps modified', async () => {
    const { dataset } = await datasetWith('og_a', []);
    const id = dataset.dataset_id;
    const tagged = await call(`/v1/datasets/${id}`, {
      method: 'PUT',
      body: { metadata_changeset: { put_tags: ['a', 'b'] }, custom_fields_changeset: null },
    });
    expect(tagged.status).toBe(200);
    expect(tagged.json.data.tags).toEqual(['start', 'a', 'b']);
    expect(tagged.json.data.modified >= dataset.modified).toBe(true);
    const fields = await call(`/v1/datasets/${id}`, {
      method: 'PUT',
      body: { metadata_changeset: { put_fields: { 'x.y': 1 } }, custom_fields_changeset: null },
    });
    expect(fields.json.data.metadata).toEqual({ keep: 1, x: { y: 1 } });
    const removed = await call(`/v1/datasets/${id}`, {
      method: 'PUT',
      body: {
        metadata_changeset: { remove_tags: ['a'], remove_fields: ['x.y'] },
        custom_fields_changeset: null,
      },
    });
    expect(removed.json.data).toMatchObject({ tags: ['start', 'b'], metadata: { keep: 1 } });
    // What the store holds, read back as the SDK's refresh does.
    expect((await call(`/v1/datasets/${id}`)).json.data).toEqual(removed.json.data);
    expect(await store.getDataset(id)).toMatchObject({ tags: ['start', 'b'], metadata: { keep: 1 } });
  });

  it('sets and clears name and description, leaves absent keys alone, and takes the CLI shape (all four keys, nulls)', async () => {
    const { dataset } = await datasetWith('og_a', [], 'named');
    const id = dataset.dataset_id;
    const described = await call(`/v1/datasets/${id}`, {
      method: 'PUT',
      body: { description: 'x', custom_fields_changeset: null },
    });
    expect(described.json.data).toMatchObject({ name: 'named', description: 'x', tags: ['start'] });
    const cli = await call(`/v1/datasets/${id}`, {
      method: 'PUT',
      body: {
        metadata_changeset: { put_tags: ['a'], remove_tags: null, put_fields: null, remove_fields: null },
        name: null,
        custom_fields_changeset: null,
      },
    });
    expect(cli.status).toBe(200);
    expect(cli.json.data).toMatchObject({ name: null, description: 'x', tags: ['start', 'a'] });
    const replaced = await call(`/v1/datasets/${id}`, {
      method: 'PUT',
      body: { metadata_changeset: { put_fields: { only: true }, replace_all: true } },
    });
    expect(replaced.json.data).toMatchObject({ tags: [], metadata: { only: true } });
  });

  it('refuses malformed bodies with 400 and changes nothing', async () => {
    const { dataset } = await datasetWith('og_a', []);
    const id = dataset.dataset_id;
    for (const body of [
      '{"name":',
      { name: 'n'.repeat(121) },
      { metadata_changeset: { put_tags: 'a' } },
      { metadata_changeset: 'x' },
    ]) {
      const answer = await call(`/v1/datasets/${id}`, { method: 'PUT', body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.json.error.error_code).toMatch(/^Roboto(InvalidRequest|IllegalArgument)Exception$/);
    }
    // put_fields onto a list index that does not exist: refused, not a 500.
    await store.updateDataset(id, { ...emptyChangeset(), put_fields: { list: [1] } });
    const outOfRange = await call(`/v1/datasets/${id}`, {
      method: 'PUT',
      body: { metadata_changeset: { put_fields: { 'list.5.k': 1 } } },
    });
    expect(outOfRange.status).toBe(400);
    expect(outOfRange.json.error.error_code).toBe('RobotoIllegalArgumentException');
    expect((await store.getDataset(id))?.metadata).toEqual({ keep: 1, list: [1] });
  });

  it("answers an update of another org's dataset exactly as a missing one, and changes nothing (the attack)", async () => {
    const { dataset } = await datasetWith('og_a', [], 'secret');
    const id = dataset.dataset_id;
    const body = { metadata_changeset: { put_tags: ['pwned'] }, name: 'pwned' };
    const theirs = await call(`/v1/datasets/${id}`, { method: 'PUT', body, token: TOKEN_B });
    const missing = await call('/v1/datasets/ds_nosuchdataset', { method: 'PUT', body, token: TOKEN_B });
    expect(theirs.status).toBe(404);
    expect(theirs.json.error.error_code).toBe('RobotoDatasetNotFoundException');
    expect(messageOf(theirs).replace(id, 'ID')).toBe(messageOf(missing).replace('ds_nosuchdataset', 'ID'));
    expect(await store.getDataset(id)).toMatchObject({ name: 'secret', tags: ['start'] });
  });
});

function emptyChangeset() {
  return { put_tags: null, remove_tags: null, put_fields: null, remove_fields: null, replace_all: false };
}

describe('files over HTTP (spec D7, F1, F2)', () => {
  const awkward = ['logs/a b+c.bag', 'dir/100%/x.txt', 'ünï/cödé ✓.txt', 'plain.txt'];

  it('finds a file by its percent-encoded path (spaces, /, %, +, unicode) with every FileRecord field', async () => {
    const { dataset, records } = await datasetWith('og_a', awkward);
    for (const [index, relativePath] of awkward.entries()) {
      const answer = await call(
        `/v1/files/record/path/${quote(relativePath)}/association/${dataset.dataset_id}`,
      );
      expect(answer.status, relativePath).toBe(200);
      expectFileRecord(answer.json.data);
      expect(answer.json.data).toMatchObject({
        relative_path: relativePath,
        file_id: records[index]!.file_id,
        association_id: dataset.dataset_id,
        org_id: 'og_a',
        name: path.posix.basename(relativePath),
        size: Buffer.byteLength(relativePath),
        version: 1,
        status: 'available',
        fs_type: 'file',
      });
    }
    // A path that is a prefix, or differs in case, is another path.
    const miss = await call(`/v1/files/record/path/${quote('logs/a')}/association/${dataset.dataset_id}`);
    expect(miss.status).toBe(404);
    expect(miss.json.error.error_code).toBe('RobotoNotFoundException');
  });

  it('answers ?version_id= for the version it holds and 404 for any other', async () => {
    const { dataset, records } = await datasetWith('og_a', ['v.txt']);
    const fileId = records[0]!.file_id;
    const byPath = `/v1/files/record/path/v.txt/association/${dataset.dataset_id}`;
    expect((await call(`${byPath}?version_id=1`)).status).toBe(200);
    expect((await call(`/v1/files/record/${fileId}?version_id=1`)).json.data.version).toBe(1);
    expect((await call(`${byPath}?version_id=2`)).status).toBe(404);
    expect((await call(`/v1/files/record/${fileId}?version_id=2`)).status).toBe(404);
    expect((await call(`/v1/files/record/${fileId}?version_id=x`)).status).toBe(400);
  });

  it('gets a file by id with every FileRecord field, and 404 for an unknown id', async () => {
    const { records } = await datasetWith('og_a', ['f.bin']);
    const answer = await call(`/v1/files/record/${records[0]!.file_id}`);
    expect(answer.status).toBe(200);
    expectFileRecord(answer.json.data);
    const missing = await call('/v1/files/record/fl_nosuchfile');
    expect(missing.status).toBe(404);
    expect(missing.json.error.error_code).toBe('RobotoNotFoundException');
  });

  it('updates a file as the SDK does: put_tags, mark_ingested, description set and cleared', async () => {
    const { records } = await datasetWith('og_a', ['u.txt']);
    const fileId = records[0]!.file_id;
    const url = `/v1/files/record/${fileId}`;
    const tagged = await call(url, { method: 'PUT', body: { metadata_changeset: { put_tags: ['a'] } } });
    expect(tagged.status).toBe(200);
    expectFileRecord(tagged.json.data);
    expect(tagged.json.data).toMatchObject({ tags: ['a'], ingestion_status: 'not_ingested' });
    const ingested = await call(url, { method: 'PUT', body: { ingestion_complete: true } });
    expect(ingested.json.data).toMatchObject({ tags: ['a'], ingestion_status: 'ingested' });
    const folded = await call(url, {
      method: 'PUT',
      body: { description: 'd', metadata_changeset: { put_fields: { 'k.v': 2 }, remove_tags: ['a'] } },
    });
    expect(folded.json.data).toMatchObject({ description: 'd', tags: [], metadata: { k: { v: 2 } } });
    const cleared = await call(url, { method: 'PUT', body: { description: null } });
    expect(cleared.json.data).toMatchObject({ description: null, metadata: { k: { v: 2 } } });
    expect((await store.getFile(fileId))?.record).toMatchObject({
      description: null,
      ingestion_status: 'ingested',
      metadata: { k: { v: 2 } },
    });
    for (const body of ['[', { ingestion_complete: false }, { metadata_changeset: { remove_tags: 7 } }]) {
      const bad = await call(url, { method: 'PUT', body });
      expect(bad.status, JSON.stringify(body)).toBe(400);
    }
  });

  it("answers another org's file exactly as a missing one on every file route, and changes nothing (the attack)", async () => {
    const { dataset, records } = await datasetWith('og_a', ['secret.txt']);
    const fileId = records[0]!.file_id;
    const attempts: [string, string, unknown][] = [
      ['GET', `/v1/files/record/${fileId}`, undefined],
      ['GET', `/v1/files/record/path/secret.txt/association/${dataset.dataset_id}`, undefined],
      ['PUT', `/v1/files/record/${fileId}`, { metadata_changeset: { put_tags: ['pwned'] } }],
    ];
    for (const [method, url, body] of attempts) {
      const theirs = await call(url, { method, body, token: TOKEN_B });
      const missing = await call(
        url.replace(fileId, 'fl_nosuchfile').replace(dataset.dataset_id, 'ds_nosuch'),
        {
          method,
          body,
          token: TOKEN_B,
        },
      );
      expect(theirs.status, url).toBe(404);
      expect(theirs.json.error.error_code, url).toBe('RobotoNotFoundException');
      expect(missing.status, url).toBe(404);
      // The same words as for a missing file: nothing of the file's own record.
      expect(messageOf(theirs).replace(fileId, 'F').replace(dataset.dataset_id, 'D'), url).toBe(
        messageOf(missing).replace('fl_nosuchfile', 'F').replace('ds_nosuch', 'D'),
      );
      expect(theirs.text, url).not.toContain('og_a');
    }
    expect((await store.getFile(fileId))?.record.tags).toEqual([]);
  });
});

/** Every page of a listing, following next_token as the SDK's pager does (token in the query string). */
async function allPages(url: string, token = TOKEN_A): Promise<{ pages: Answer[]; items: unknown[] }> {
  const pages: Answer[] = [];
  let next: string | null = null;
  do {
    const separator = url.includes('?') ? '&' : '?';
    const answer = await call(
      next === null ? url : `${url}${separator}page_token=${encodeURIComponent(next)}`,
      {
        token,
      },
    );
    expect(answer.status, url).toBe(200);
    expect(Object.keys(answer.json.data as object).sort()).toEqual(['items', 'next_token']);
    pages.push(answer);
    next = answer.json.data.next_token as string | null;
    expect(next === null || next.length > 0).toBe(true);
  } while (next !== null && pages.length < 50);
  return { pages, items: pages.flatMap((page) => page.json.data.items as unknown[]) };
}

const TOPIC_FIELDS = [
  'association',
  'created',
  'created_by',
  'default_representation',
  'end_time',
  'message_count',
  'message_paths',
  'metadata',
  'modified',
  'modified_by',
  'org_id',
  'schema_checksum',
  'schema_id',
  'schema_name',
  'start_time',
  'topic_id',
  'topic_name',
];

function expectTopicRecord(answered: unknown, fileId: string): void {
  const data = answered as Record<string, unknown>;
  expect(Object.keys(data).sort()).toEqual(TOPIC_FIELDS);
  expect(data.association).toEqual({
    association_id: fileId,
    association_type: 'file',
    association_version: 1,
    parent: null,
  });
  expect(data.message_paths).toEqual([]);
  expect(data.metadata).not.toBeNull();
  expect(data.created).toMatch(ISO);
}

/** Python's quote_plus: form-encoding, space as `+` (spec §1.2). */
const quotePlus = (text: string) => quote(text).replaceAll('%20', '+');

describe('topics over HTTP (spec P1, P2, P3, D8)', () => {
  async function fileWithTopics(orgId: string, names: readonly string[]) {
    const { dataset, records } = await datasetWith(orgId, ['t.mcap', 'other.mcap']);
    const fileId = records[0]!.file_id;
    const topics = [];
    for (const [index, topicName] of names.entries()) {
      topics.push(
        await store.addTopic(fileId, {
          topicName,
          messageCount: index,
          startTime: 1_700_000_000_000_000_000,
        }),
      );
    }
    await store.addTopic(records[1]!.file_id, { topicName: '/elsewhere' });
    return { dataset, fileId, topics };
  }

  it('gets a topic by id with every TopicRecord field, and 404 for an unknown one', async () => {
    const { fileId, topics } = await fileWithTopics('og_a', ['/imu']);
    const answer = await call(`/v1/topics/id/${topics[0]!.topic_id}`);
    expect(answer.status).toBe(200);
    expectTopicRecord(answer.json.data, fileId);
    expect(answer.json.data).toMatchObject({ topic_name: '/imu', message_count: 0, org_id: 'og_a' });
    const missing = await call('/v1/topics/id/tp_nosuchtopic');
    expect(missing.status).toBe(404);
    expect(missing.json.error.error_code).toBe('RobotoNotFoundException');
  });

  it("pages a file's topics by name with page_token, without a token for an empty tail", async () => {
    const names = ['/a', '/b', '/c', '/d', '/e'];
    const { fileId } = await fileWithTopics('og_a', [...names].reverse());
    const association = quotePlus(`file:${fileId}`);
    expect(association).toBe(`file%3A${fileId}`);
    const { pages, items } = await allPages(`/v1/topics/association/${association}?limit=2`);
    expect(pages.map((page) => (page.json.data.items as unknown[]).length)).toEqual([2, 2, 1]);
    expect(items.map((item) => (item as { topic_name: string }).topic_name)).toEqual(names);
    for (const item of items) expectTopicRecord(item, fileId);
    // Exactly a page's worth: the last page is full and carries no token.
    const exact = await allPages(`/v1/topics/association/${association}?limit=5`);
    expect(exact.pages).toHaveLength(1);
    // The SDK's own call: no limit, every topic in one page.
    expect((await allPages(`/v1/topics/association/${association}`)).items).toHaveLength(5);
    // A versioned association names the same file.
    expect((await allPages(`/v1/topics/association/${quotePlus(`file:${fileId}:1`)}`)).items).toHaveLength(5);
    const badToken = await call(`/v1/topics/association/${association}?page_token=not-a-token`);
    expect(badToken.status).toBe(400);
    const badType = await call(`/v1/topics/association/${quotePlus('dataset:ds_1')}`);
    expect(badType.status).toBe(400);
  });

  it("finds a file's topic by a quote_plus-encoded name (space as +, / as %2F, a literal +)", async () => {
    const names = ['/imu data', '/a+b', '/ünï/cödé'];
    const { fileId } = await fileWithTopics('og_a', names);
    for (const name of names) {
      const url = `/v1/topics/association/${quotePlus(`file:${fileId}`)}/name/${quotePlus(name)}`;
      const answer = await call(url);
      expect(answer.status, url).toBe(200);
      expectTopicRecord(answer.json.data, fileId);
      expect(answer.json.data.topic_name).toBe(name);
    }
    // `/imu+data` on the wire is "/imu data": a topic named "/imu+data" is another one.
    const other = await call(`/v1/topics/association/file%3A${fileId}/name/${quote('/imu+data')}`);
    expect(other.status).toBe(404);
    expect(other.json.error.error_code).toBe('RobotoNotFoundException');
    expect((await call(`/v1/topics/association/file%3A${fileId}/name/%2Felsewhere`)).status).toBe(404);
  });

  it("pages a dataset's topics", async () => {
    const { dataset, fileId } = await fileWithTopics('og_a', ['/x', '/y', '/z']);
    const { pages, items } = await allPages(`/v1/datasets/${dataset.dataset_id}/topics?limit=2`);
    expect(pages).toHaveLength(2);
    expect(items.map((item) => (item as { topic_name: string }).topic_name)).toEqual([
      '/elsewhere',
      '/x',
      '/y',
      '/z',
    ]);
    expectTopicRecord(items[1], fileId);
    const empty = await datasetWith('og_a', []);
    const none = await call(`/v1/datasets/${empty.dataset.dataset_id}/topics`);
    expect(none.json.data).toEqual({ items: [], next_token: null });
  });

  it("answers another org's topics, files and datasets exactly as missing ones on every topic route (the attack)", async () => {
    const { dataset, fileId, topics } = await fileWithTopics('og_a', ['/secret']);
    const topicId = topics[0]!.topic_id;
    const urls = [
      [`/v1/topics/id/${topicId}`, '/v1/topics/id/tp_nosuch'],
      [`/v1/topics/association/file%3A${fileId}`, '/v1/topics/association/file%3Afl_nosuch'],
      [
        `/v1/topics/association/file%3A${fileId}/name/%2Fsecret`,
        '/v1/topics/association/file%3Afl_nosuch/name/%2Fsecret',
      ],
      [`/v1/datasets/${dataset.dataset_id}/topics`, '/v1/datasets/ds_nosuch/topics'],
    ] as const;
    for (const [theirsUrl, missingUrl] of urls) {
      const theirs = await call(theirsUrl, { token: TOKEN_B });
      const missing = await call(missingUrl, { token: TOKEN_B });
      expect(theirs.status, theirsUrl).toBe(404);
      expect(theirs.json.error.error_code, theirsUrl).toBe(missing.json.error.error_code);
      expect(
        messageOf(theirs).replace(topicId, 'X').replace(fileId, 'X').replace(dataset.dataset_id, 'X'),
      ).toBe(
        messageOf(missing).replace('tp_nosuch', 'X').replace('fl_nosuch', 'X').replace('ds_nosuch', 'X'),
      );
    }
  });
});

/** Every page of a POST query, the QuerySpecification's `after` set to the last next_token (spec §2.11). */
async function allQueryPages(
  url: string,
  spec: Record<string, unknown>,
  init: { token?: string; headers?: Record<string, string> } = {},
) {
  const pages: Answer[] = [];
  let after: string | null = null;
  do {
    const answer = await call(url, { ...init, body: after === null ? spec : { ...spec, after } });
    expect(answer.status, JSON.stringify(spec)).toBe(200);
    expect(Object.keys(answer.json.data as object).sort()).toEqual(['items', 'next_token']);
    pages.push(answer);
    after = answer.json.data.next_token as string | null;
  } while (after !== null && pages.length < 50);
  return { pages, items: pages.flatMap((page) => page.json.data.items as Record<string, unknown>[]) };
}

describe('queries over HTTP (spec D5, D6, F3)', () => {
  it("queries the caller org's datasets with a condition, sorted and paged by `after`", async () => {
    const marker = `q-${Date.now()}`;
    for (const name of ['q3', 'q1', 'q2']) {
      const { dataset } = await datasetWith('og_a', [], name);
      await store.updateDataset(dataset.dataset_id, { ...emptyChangeset(), put_tags: [marker] });
    }
    const { dataset: theirs } = await datasetWith('og_b', [], 'q0');
    await store.updateDataset(theirs.dataset_id, { ...emptyChangeset(), put_tags: [marker] });
    const spec = {
      condition: { field: 'tags', comparator: 'CONTAINS', value: marker },
      sort_by: 'name',
      sort_direction: 'ASC',
      limit: 2,
    };
    const { pages, items } = await allQueryPages('/v1/datasets/query', spec);
    expect(pages).toHaveLength(2);
    expect(items.map((item) => item.name)).toEqual(['q1', 'q2', 'q3']);
    expect(items.every((item) => item.org_id === 'og_a' && item.roboto_record_version === 0)).toBe(true);
    // The other org sees only its own, whatever the owner header says.
    const b = await allQueryPages('/v1/datasets/query', spec, { token: TOKEN_B });
    expect(b.items.map((item) => item.name)).toEqual(['q0']);
    const crossed = await call('/v1/datasets/query', {
      body: spec,
      token: TOKEN_B,
      headers: { 'x-roboto-resource-owner-id': 'og_a' },
    });
    expect(crossed.json.data).toEqual({ items: [], next_token: null });
    // The SDK's default query: {"limit":50}.
    expect((await call('/v1/datasets/query', { body: { limit: 50 } })).status).toBe(200);
  });

  it('refuses a malformed QuerySpecification with 400 naming the problem', async () => {
    for (const spec of [
      { condition: { field: 'tags', comparator: '=', value: 'a' } },
      { condition: { field: 'no_such_field', comparator: 'EQUALS', value: 'a' } },
      { condition: { operator: 'AND', conditions: [] } },
      { limit: 0 },
      { limit: 1001 },
      { sort_direction: 'desc' },
      { after: 'garbage!' },
    ]) {
      for (const url of ['/v1/datasets/query', '/v1/files/query']) {
        const answer = await call(url, { body: spec });
        expect(answer.status, `${url} ${JSON.stringify(spec)}`).toBe(400);
        expect(answer.json.error.error_code).toMatch(/^Roboto(InvalidRequest|IllegalArgument)Exception$/);
      }
    }
  });

  it('queries files across the org by tag, a dataset field and a metadata path', async () => {
    const marker = `fq-${Date.now()}`;
    const { dataset, records } = await datasetWith('og_a', ['a.bag', 'b.bag', 'c.txt'], marker);
    for (const record of records.slice(0, 2)) {
      await store.updateFile(record.file_id, {
        metadataChangeset: { ...emptyChangeset(), put_tags: [marker], put_fields: { robot: { id: 'r2' } } },
      });
    }
    const mine = await datasetWith('og_b', ['a.bag']);
    await store.updateFile(mine.records[0]!.file_id, {
      metadataChangeset: { ...emptyChangeset(), put_tags: [marker] },
    });
    const spec = {
      condition: {
        operator: 'AND',
        conditions: [
          { field: 'tags', comparator: 'CONTAINS', value: marker },
          { field: 'dataset.name', comparator: 'EQUALS', value: marker },
          { field: 'metadata.robot.id', comparator: 'EQUALS', value: 'r2' },
        ],
      },
      sort_by: 'relative_path',
      sort_direction: 'DESC',
      limit: 1,
    };
    const { pages, items } = await allQueryPages('/v1/files/query', spec);
    expect(pages).toHaveLength(2);
    expect(items.map((item) => item.relative_path)).toEqual(['b.bag', 'a.bag']);
    for (const item of items) expectFileRecord(item);
    expect(items.every((item) => item.association_id === dataset.dataset_id)).toBe(true);
  });

  const tree = [
    'a.bag',
    'logs/b.bag',
    'logs/deep/c.bag',
    'logs/x.txt',
    '.hidden/d.bag',
    'top.tmp',
    'z/y.tmp',
  ];

  /** Every page of D6 as the SDK asks for it: the token in the body, and in the query string from page 2. */
  async function listFiles(
    datasetId: string,
    include: string[] | null,
    exclude: string[] | null,
    limit?: number,
    token = TOKEN_A,
  ) {
    const pages: Answer[] = [];
    let pageToken: string | null = null;
    do {
      const answer = await call(
        `/v1/datasets/${datasetId}/files/query${pageToken === null ? '' : `?page_token=${encodeURIComponent(pageToken)}`}`,
        {
          token,
          body: {
            page_token: pageToken,
            include_patterns: include,
            exclude_patterns: exclude,
            ...(limit === undefined ? {} : { limit }),
          },
        },
      );
      expect(answer.status).toBe(200);
      pages.push(answer);
      pageToken = answer.json.data.next_token as string | null;
    } while (pageToken !== null && pages.length < 50);
    return {
      pages,
      paths: pages.flatMap((page) =>
        (page.json.data.items as { relative_path: string }[]).map((item) => item.relative_path),
      ),
    };
  }

  it("lists a dataset's files with gitignore-style include and exclude patterns, by path", async () => {
    const { dataset } = await datasetWith('og_a', tree);
    const id = dataset.dataset_id;
    expect((await listFiles(id, null, null)).paths).toEqual([...tree].sort());
    expect((await listFiles(id, [], [])).paths).toEqual([...tree].sort());
    expect((await listFiles(id, ['**/*.bag'], ['.*/**/*'])).paths).toEqual([
      'a.bag',
      'logs/b.bag',
      'logs/deep/c.bag',
    ]);
    expect((await listFiles(id, ['*.tmp'], null)).paths).toEqual(['top.tmp', 'z/y.tmp']);
    expect((await listFiles(id, ['/*.tmp'], null)).paths).toEqual(['top.tmp']);
    expect((await listFiles(id, ['logs/'], ['*.txt'])).paths).toEqual(['logs/b.bag', 'logs/deep/c.bag']);
    expect((await listFiles(id, ['nothing/**'], null)).paths).toEqual([]);
  });

  it('pages a pattern listing without a token for an empty tail, and an unfiltered one too', async () => {
    const { dataset } = await datasetWith('og_a', tree);
    const id = dataset.dataset_id;
    const bags = await listFiles(id, ['**/*.bag'], ['.*/**/*'], 1);
    expect(bags.paths).toEqual(['a.bag', 'logs/b.bag', 'logs/deep/c.bag']);
    // Three matches at one per page: three pages, the last without a token though files follow it.
    expect(bags.pages).toHaveLength(3);
    const two = await listFiles(id, ['**/*.bag'], ['.*/**/*'], 2);
    expect(two.pages.map((page) => (page.json.data.items as unknown[]).length)).toEqual([2, 1]);
    const all = await listFiles(id, null, null, 3);
    expect(all.pages.map((page) => (page.json.data.items as unknown[]).length)).toEqual([3, 3, 1]);
    expect(all.paths).toEqual([...tree].sort());
    const bad = await call(`/v1/datasets/${id}/files/query?page_token=bogus!`, {
      body: { page_token: 'bogus!', include_patterns: null, exclude_patterns: null },
    });
    expect(bad.status).toBe(400);
    const malformed = await call(`/v1/datasets/${id}/files/query`, { body: { include_patterns: 'a' } });
    expect(malformed.status).toBe(400);
  });

  it('refuses patterns whose matching backtracks exponentially (one request would stall serve for all)', async () => {
    // Against this name, `*a*a*a*a*b` takes picomatch's regex seconds; longer chains take hours.
    const { dataset } = await datasetWith('og_a', ['a'.repeat(60), 'x.bag']);
    const url = `/v1/datasets/${dataset.dataset_id}/files/query`;
    for (const patterns of [['*a*a*a*a*b'], ['**/a/**/a/**/b'], ['x'.repeat(1025)]]) {
      for (const body of [
        { page_token: null, include_patterns: patterns, exclude_patterns: null },
        { page_token: null, include_patterns: null, exclude_patterns: patterns },
      ]) {
        const answer = await call(url, { body });
        expect(answer.status, JSON.stringify(answer.json)).toBe(400);
        expect(answer.json.error.error_code).toBe('RobotoInvalidRequestException');
      }
    }
    // The SDK's own patterns stay accepted.
    const sdk = await call(url, {
      body: { page_token: null, include_patterns: ['**/*.bag'], exclude_patterns: ['.*/**/*'] },
    });
    expect(sdk.status).toBe(200);
    const items = sdk.json.data.items as Array<{ relative_path: string }>;
    expect(items.map((item) => item.relative_path)).toEqual(['x.bag']);
  });

  it("answers another org's dataset file listing exactly as a missing dataset (the attack)", async () => {
    const { dataset } = await datasetWith('og_a', ['secret.bag']);
    const body = { page_token: null, include_patterns: null, exclude_patterns: null };
    const theirs = await call(`/v1/datasets/${dataset.dataset_id}/files/query`, { body, token: TOKEN_B });
    const missing = await call('/v1/datasets/ds_nosuch/files/query', { body, token: TOKEN_B });
    expect(theirs.status).toBe(404);
    expect(theirs.json.error.error_code).toBe('RobotoDatasetNotFoundException');
    expect(messageOf(theirs).replace(dataset.dataset_id, 'X')).toBe(
      messageOf(missing).replace('ds_nosuch', 'X'),
    );
    // Nor do the org-wide queries reach it, with or without the owner header.
    for (const headers of [{}, { 'x-roboto-resource-owner-id': 'og_a' }] as Record<string, string>[]) {
      const files = await call('/v1/files/query', {
        body: { condition: { field: 'relative_path', comparator: 'EQUALS', value: 'secret.bag' } },
        token: TOKEN_B,
        headers,
      });
      expect(files.json.data).toEqual({ items: [], next_token: null });
    }
  });
});

describe('signed download URLs over HTTP (spec F4)', () => {
  const signedUrl = async (fileId: string, query = '', token = TOKEN_A) =>
    call(`/v1/files/${fileId}/signed-url${query}`, {
      token,
      headers: { 'x-roboto-resource-owner-id': 'og_a' },
    });

  it("hands out a URL of serve's own that streams the bytes without a token, with their length", async () => {
    const { records } = await datasetWith('og_a', ['dir/ünï data.bin']);
    const answer = await signedUrl(records[0]!.file_id);
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.json.data as object)).toEqual(['url']);
    const url = String(answer.json.data.url);
    expect(url.startsWith(`${api.url}/`)).toBe(true);
    expect(url).not.toContain(TOKEN_A);
    const download = await fetch(url);
    expect(download.status).toBe(200);
    expect(await download.text()).toBe('dir/ünï data.bin');
    expect(download.headers.get('content-length')).toBe(String(Buffer.byteLength('dir/ünï data.bin')));
    expect(download.headers.get('content-type')).toBe('application/octet-stream');
    expect(download.headers.get('x-content-type-options')).toBe('nosniff');
    expect(download.headers.get('content-security-policy')).toBe('sandbox');
    expect(download.headers.get('content-disposition')).toContain(
      "filename*=UTF-8''%C3%BCn%C3%AF%20data.bin",
    );
  });

  it('applies the override headers it signed, form-encoded as the SDK sends them', async () => {
    const { records } = await datasetWith('og_a', ['a b.txt']);
    const answer = await signedUrl(
      records[0]!.file_id,
      '?override_content_disposition=attachment%3B+filename%3Da+b.txt&override_content_type=text%2Fplain',
    );
    const download = await fetch(String(answer.json.data.url));
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toBe('attachment; filename=a b.txt');
    expect(download.headers.get('content-type')).toBe('text/plain');
    const injected = await signedUrl(
      records[0]!.file_id,
      '?override_content_type=text%2Fplain%0D%0AX-Evil%3A+1',
    );
    expect(injected.status).toBe(400);
  });

  it('refuses a tampered URL with 403: another signature, file, version, expiry or override (the attack)', async () => {
    const { records } = await datasetWith('og_a', ['one.txt', 'two.txt']);
    const [one, two] = [records[0]!.file_id, records[1]!.file_id];
    const url = new URL(String((await signedUrl(one, '?override_content_type=text%2Fplain')).json.data.url));
    const signature = url.searchParams.get('signature')!;
    const tampered: URL[] = [];
    const edit = (change: (copy: URL) => void) => {
      const copy = new URL(url);
      change(copy);
      tampered.push(copy);
    };
    edit((copy) => {
      copy.searchParams.set(
        'signature',
        `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`,
      );
    });
    edit((copy) => {
      copy.searchParams.set('signature', '');
    });
    edit((copy) => {
      copy.searchParams.delete('signature');
    });
    edit((copy) => (copy.pathname = copy.pathname.replace(one, two)));
    edit((copy) => {
      copy.searchParams.set('version', '2');
    });
    edit((copy) => {
      copy.searchParams.set('expires', String(Number(copy.searchParams.get('expires')) + 3600));
    });
    edit((copy) => {
      copy.searchParams.set('rct', 'text/html');
    });
    edit((copy) => {
      copy.searchParams.delete('rct');
    });
    edit((copy) => {
      copy.searchParams.set('rcd', 'inline');
    });
    for (const bad of tampered) {
      const download = await fetch(bad);
      expect([400, 403], bad.toString()).toContain(download.status);
      const body = (await download.json()) as { error: { error_code: string } };
      if (download.status === 403) expect(body.error.error_code).toBe('RobotoUnauthorizedException');
    }
    expect(tampered.filter((bad) => bad.searchParams.get('signature')).length).toBeGreaterThan(6);
    // The original still works.
    expect((await fetch(url)).status).toBe(200);
    // The request was logged, its signature (a credential while it lasts) not.
    const logged = logLines.filter((line) => line.includes(`/signed/files/${one}`));
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.join('\n')).not.toContain(signature);
    expect(logged.join('\n')).toContain('signature=[Redacted]');
  });

  it('refuses an expired URL with 403 once the clock passes its expiry, not before', async () => {
    const { records } = await datasetWith('og_a', ['e.txt']);
    const url = String((await signedUrl(records[0]!.file_id)).json.data.url);
    const expires = Number(new URL(url).searchParams.get('expires'));
    const before = clock;
    try {
      clock = expires * 1000;
      expect((await fetch(url)).status).toBe(200);
      clock = expires * 1000 + 1000;
      const expired = await fetch(url);
      expect(expired.status).toBe(403);
      expect(((await expired.json()) as { error: { message: string } }).error.message).toContain('expired');
    } finally {
      clock = before;
    }
  });

  it('serves only the version it signed: a newer version makes the URL 404', async () => {
    const { dataset, records } = await datasetWith('og_a', ['v.txt']);
    const url = String((await signedUrl(records[0]!.file_id)).json.data.url);
    const sourcePath = path.join(scratch, `source-${sourceCount++}`);
    await writeFile(sourcePath, 'version two');
    await store.putFiles(dataset.dataset_id, [{ relativePath: 'v.txt', sourcePath }], {
      writeKey: { invocationId: 'iv_second', attempt: 1 },
      origination: 'test',
      signal: new AbortController().signal,
    });
    expect((await fetch(url)).status).toBe(404);
    const fresh = String((await signedUrl(records[0]!.file_id)).json.data.url);
    expect(await (await fetch(fresh)).text()).toBe('version two');
  });

  it("answers a signed URL for another org's file exactly as for a missing one (the attack)", async () => {
    const { records } = await datasetWith('og_a', ['secret.txt']);
    const fileId = records[0]!.file_id;
    const theirs = await signedUrl(fileId, '', TOKEN_B);
    const missing = await signedUrl('fl_nosuch', '', TOKEN_B);
    expect(theirs.status).toBe(404);
    expect(theirs.json.error.error_code).toBe('RobotoNotFoundException');
    expect(messageOf(theirs).replace(fileId, 'X')).toBe(messageOf(missing).replace('fl_nosuch', 'X'));
    // Without a token the signing route is closed like every /v1 route.
    const anonymous = await fetch(`${api.url}/v1/files/${fileId}/signed-url`);
    expect(anonymous.status).toBe(401);
  });
});

describe('deletes over HTTP (spec F5, D4)', () => {
  it('deletes a file: its record, topics and signed URLs are gone, the rest of the dataset stays', async () => {
    const { dataset, records } = await datasetWith('og_a', ['gone.txt', 'kept.txt']);
    const [gone, kept] = [records[0]!.file_id, records[1]!.file_id];
    const topic = await store.addTopic(gone, { topicName: '/t' });
    const url = String((await call(`/v1/files/${gone}/signed-url`)).json.data.url);
    // The SDK sends no body and no content type.
    const deleted = await call(`/v1/files/${gone}`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect((await call(`/v1/files/record/${gone}`)).status).toBe(404);
    expect((await call(`/v1/topics/id/${topic.topic_id}`)).status).toBe(404);
    expect((await fetch(url)).status).toBe(404);
    expect((await call(`/v1/files/${gone}`, { method: 'DELETE' })).status).toBe(404);
    const listed = await call(`/v1/datasets/${dataset.dataset_id}/files/query`, {
      body: { page_token: null, include_patterns: null, exclude_patterns: null },
    });
    expect((listed.json.data.items as { file_id: string }[]).map((item) => item.file_id)).toEqual([kept]);
  });

  it('deletes a dataset with its files and topics', async () => {
    const { dataset, records } = await datasetWith('og_a', ['a.txt']);
    const topic = await store.addTopic(records[0]!.file_id, { topicName: '/t' });
    const id = dataset.dataset_id;
    expect((await call(`/v1/datasets/${id}`, { method: 'DELETE' })).status).toBe(200);
    const after = await call(`/v1/datasets/${id}`);
    expect(after.status).toBe(404);
    expect(after.json.error.error_code).toBe('RobotoDatasetNotFoundException');
    expect((await call(`/v1/files/record/${records[0]!.file_id}`)).status).toBe(404);
    expect((await call(`/v1/topics/id/${topic.topic_id}`)).status).toBe(404);
    expect((await call(`/v1/datasets/${id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it("answers a delete of another org's file or dataset exactly as a missing one, and deletes nothing (the attack)", async () => {
    const { dataset, records } = await datasetWith('og_a', ['secret.txt']);
    const fileId = records[0]!.file_id;
    for (const [theirsUrl, missingUrl] of [
      [`/v1/files/${fileId}`, '/v1/files/fl_nosuch'],
      [`/v1/datasets/${dataset.dataset_id}`, '/v1/datasets/ds_nosuch'],
    ] as const) {
      const theirs = await call(theirsUrl, { method: 'DELETE', token: TOKEN_B });
      const missing = await call(missingUrl, { method: 'DELETE', token: TOKEN_B });
      expect(theirs.status, theirsUrl).toBe(404);
      expect(theirs.json.error.error_code).toBe(missing.json.error.error_code);
      expect(messageOf(theirs).replace(fileId, 'X').replace(dataset.dataset_id, 'X')).toBe(
        messageOf(missing).replace('fl_nosuch', 'X').replace('ds_nosuch', 'X'),
      );
    }
    expect(await store.getFile(fileId)).toBeDefined();
    expect(await store.getDataset(dataset.dataset_id)).toBeDefined();
  });
});

describe('the query service over HTTP (spec Q1-Q3)', () => {
  /** Submit, check the status as the SDK's waiter does, then every results page by next_page_token. */
  async function search(
    kind: 'roboql' | 'structured',
    body: unknown,
    init: { token?: string; headers?: Record<string, string> } = {},
  ) {
    const submitted = await call(`/v1/query/submit/${kind}`, { ...init, body });
    expect(submitted.status, JSON.stringify(body)).toBe(200);
    const record = submitted.json.data as Record<string, unknown>;
    const queryId = String(record.query_id);
    const status = await call(`/v1/query/id/${queryId}`, init);
    expect(status.status).toBe(200);
    expect(status.json.data).toEqual(record);
    const items: Record<string, unknown>[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const page = await call(
        `/v1/query/id/${queryId}/results${next === null ? '' : `?next_page_token=${encodeURIComponent(next)}`}`,
        init,
      );
      expect(page.status).toBe(200);
      items.push(...(page.json.data.items as Record<string, unknown>[]));
      next = page.json.data.next_token as string | null;
      pages += 1;
    } while (next !== null && pages < 50);
    return { record, queryId, items, pages };
  }

  it('answers `roboto datasets search` at once: results_available, every QueryRecord field, paged results', async () => {
    const marker = `s-${Date.now()}`;
    for (const name of ['s1', 's2', 's3']) {
      const { dataset } = await datasetWith('og_a', [], name);
      await store.updateDataset(dataset.dataset_id, { ...emptyChangeset(), put_tags: [marker] });
    }
    const { record, items, pages } = await search('structured', {
      content_mode: 'record_with_meta',
      query: {
        condition: { field: 'tags', comparator: 'CONTAINS', value: marker },
        sort_direction: 'DESC',
        sort_by: 'name',
        limit: 2,
      },
      target: 'datasets',
    });
    expect(Object.keys(record).sort()).toEqual([
      'modified',
      'org_id',
      'query_ctx',
      'query_id',
      'result_count',
      'status',
      'submitted',
      'submitted_by',
      'target',
    ]);
    expect(record).toMatchObject({
      status: 'results_available',
      result_count: 3,
      org_id: 'og_a',
      target: 'datasets',
    });
    expect(record.query_ctx).toMatchObject({ query_scheme: 'query_spec_v1' });
    expect(String(record.submitted)).toMatch(ISO);
    expect(pages).toBe(2);
    expect(items.map((item) => item.name)).toEqual(['s3', 's2', 's1']);
    expect(items.every((item) => item.org_id === 'og_a' && Array.isArray(item.tags))).toBe(true);
  });

  it('answers the RoboQL queries the runtime generates for files', async () => {
    const { dataset } = await datasetWith('og_a', ['q/a.bag', 'q/b.txt'], `rq-${Date.now()}`);
    const { record, items } = await search('roboql', {
      content_mode: 'record_with_meta',
      query: `path LIKE "q/%.bag" AND dataset_id = "${dataset.dataset_id}"`,
      target: 'files',
    });
    expect(record.result_count).toBe(1);
    expect(items.map((item) => item.relative_path)).toEqual(['q/a.bag']);
    expectFileRecord(items[0]);
  });

  it('refuses a bad query or an unkept target on submit with 400, never a query that stays scheduled', async () => {
    for (const [kind, body] of [
      ['roboql', { content_mode: 'record_with_meta', query: 'path LIKE', target: 'files' }],
      [
        'structured',
        { query: { condition: { field: 'nope', comparator: 'EQUALS', value: 1 } }, target: 'datasets' },
      ],
      ['structured', { query: {}, target: 'events' }],
      ['structured', { query: {}, target: 'nonsense' }],
    ] as const) {
      const answer = await call(`/v1/query/submit/${kind}`, { body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
    }
  });

  it("answers a forged, altered or another org's query id as a missing one (the attack)", async () => {
    await datasetWith('og_a', [], 'mine');
    const { queryId } = await search('structured', { query: {}, target: 'datasets' });
    const theirs = await call(`/v1/query/id/${queryId}/results`, { token: TOKEN_B });
    expect(theirs.status).toBe(404);
    expect(theirs.json.error.error_code).toBe('RobotoNotFoundException');
    expect(theirs.text).not.toContain('mine');
    const body = queryId.slice(3).split('.')[0]!;
    const decoded = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { org: string };
    const forgedBody = Buffer.from(JSON.stringify({ ...decoded, org: 'og_b' })).toString('base64url');
    const forged = `qr_${forgedBody}.${queryId.split('.')[1]!}`;
    for (const id of [forged, 'qr_nosuch', `${queryId.slice(0, -2)}xx`]) {
      const answer = await call(`/v1/query/id/${id}/results`, { token: TOKEN_B });
      expect(answer.status, id).toBe(404);
    }
    // And another org's scope by header is an empty query, not the other org's records.
    const crossed = await search(
      'structured',
      { query: {}, target: 'datasets' },
      { token: TOKEN_B, headers: { 'x-roboto-resource-owner-id': 'og_a' } },
    );
    expect(crossed.record.result_count).toBe(0);
    expect(crossed.items).toEqual([]);
  });
});
