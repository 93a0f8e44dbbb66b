import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataStore } from '../../src/app/local-adapters.js';
import type { TriggerEvent } from '../../src/domain/trigger-event.js';
import type { DataStore } from '../../src/ports/data-store.js';
import { type ApiTestServer, MapAuthenticator, apiTestServer } from '../support/api-test-server.js';
import { eventually } from '../support/poll.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

/**
 * D3 and F2 over HTTP announce their changes (issue 13): `serve` on 127.0.0.1 with the real event queue on
 * Redis and its real consumer (one at a time, in order), the handler a recording test double.
 */
const TOKEN_A = 'tok-trev-a-5e4d3c2b1a';
const TOKEN_B = 'tok-trev-b-6f5e4d3c2b';

let server: ApiTestServer;
let store: DataStore;
let scratch: string;
const handled: TriggerEvent[] = [];

beforeAll(async () => {
  scratch = await tempDir('api-trev');
  server = await apiTestServer({
    name: 'api-trev',
    settings: { storeDir: path.join(scratch, 'store'), triggers: { enabled: true, concurrency: 1 } },
    server: {
      authenticator: new MapAuthenticator(
        new Map([
          [TOKEN_A, { orgId: 'og_a', tokenId: 'tk_a' }],
          [TOKEN_B, { orgId: 'og_b', tokenId: 'tk_b' }],
        ]),
      ),
      triggerEventHandler: {
        handle: (event) => {
          handled.push(event);
          return Promise.resolve();
        },
      },
    },
  });
  store = await openDataStore(server.settings);
});

afterAll(async () => {
  await store.close();
  await server.close({ force: true });
  await removeTempDirs();
});

async function put(urlPath: string, body: unknown, token = TOKEN_A): Promise<number> {
  return (await server.request(urlPath, { method: 'PUT', token, body: JSON.stringify(body) })).status;
}

let sources = 0;
async function datasetWithFile(orgId = 'og_a') {
  const dataset = await store.createDataset({ orgId, tags: ['start'], metadata: { keep: 1 } });
  const sourcePath = path.join(scratch, `source-${sources++}`);
  await writeFile(sourcePath, 'bytes');
  const [file] = await store.putFiles(dataset.dataset_id, [{ relativePath: 'a/log.bag', sourcePath }], {
    writeKey: { invocationId: 'iv_test', attempt: 1 },
    origination: 'test',
    signal: new AbortController().signal,
  });
  return { dataset, file: file! };
}

/**
 * The events handled from now until a marker change (a tag on a dataset of its own) is handled: with one
 * consumer taking events in order, whatever the steps before it emitted is handled before it.
 */
async function eventsOf(steps: () => Promise<void>): Promise<TriggerEvent[]> {
  const start = handled.length;
  await steps();
  const marker = await store.createDataset({ orgId: 'og_a' });
  expect(await put(`/v1/datasets/${marker.dataset_id}`, { metadata_changeset: { put_tags: ['m'] } })).toBe(
    200,
  );
  await eventually(() =>
    Promise.resolve(handled.slice(start).some((e) => e.dataset_id === marker.dataset_id) || undefined),
  );
  return handled.slice(start).filter((e) => e.dataset_id !== marker.dataset_id);
}

describe('D3 and F2 announce their changes', () => {
  it('D3: a change of tags, metadata or description is one dataset_metadata_update; a rename alone none', async () => {
    const { dataset } = await datasetWithFile();
    const id = dataset.dataset_id;
    const events = await eventsOf(async () => {
      expect(await put(`/v1/datasets/${id}`, { name: 'renamed' })).toBe(200);
      expect(await put(`/v1/datasets/${id}`, { metadata_changeset: { put_tags: ['start'] } })).toBe(200);
      expect(await put(`/v1/datasets/${id}`, { metadata_changeset: { put_fields: { robot: 'r2' } } })).toBe(
        200,
      );
      expect(await put(`/v1/datasets/${id}`, { description: 'a drive' })).toBe(200);
    });
    expect(events).toHaveLength(2);
    for (const event of events) {
      expect(event).toMatchObject({
        org_id: 'og_a',
        dataset_id: id,
        cause: 'dataset_metadata_update',
        transaction_id: null,
        file_ids: [],
        source_invocation_id: null,
      });
    }
    expect(new Set(events.map((e) => e.event_id)).size).toBe(2);
  });

  it('F2: ingestion_complete is one file_ingest per version; a tag or field change one file_metadata_update', async () => {
    const { dataset, file } = await datasetWithFile();
    const url = `/v1/files/record/${file.file_id}`;
    const events = await eventsOf(async () => {
      expect(await put(url, { ingestion_complete: true })).toBe(200);
      expect(await put(url, { ingestion_complete: true })).toBe(200);
      expect(await put(url, { description: 'only words' })).toBe(200);
      expect(await put(url, { metadata_changeset: { put_tags: ['qa'] } })).toBe(200);
    });
    expect(events.map((e) => e.cause)).toEqual(['file_ingest', 'file_metadata_update']);
    expect(events[0]).toMatchObject({
      event_id: `${file.file_id}:1:ingest`,
      org_id: 'og_a',
      dataset_id: dataset.dataset_id,
      file_ids: [file.file_id],
      transaction_id: null,
    });
    expect(events[1]).toMatchObject({ dataset_id: dataset.dataset_id, file_ids: [file.file_id] });
  });

  it("another org's token changes nothing and announces nothing (404, as a missing one)", async () => {
    const { dataset, file } = await datasetWithFile();
    const events = await eventsOf(async () => {
      expect(
        await put(`/v1/datasets/${dataset.dataset_id}`, { metadata_changeset: { put_tags: ['x'] } }, TOKEN_B),
      ).toBe(404);
      expect(await put(`/v1/files/record/${file.file_id}`, { ingestion_complete: true }, TOKEN_B)).toBe(404);
      expect(
        await put(`/v1/files/record/${file.file_id}`, { metadata_changeset: { put_tags: ['x'] } }, TOKEN_B),
      ).toBe(404);
    });
    expect(events).toEqual([]);
    expect((await store.getFile(file.file_id))?.record.ingestion_status).toBe('not_ingested');
  });
});
