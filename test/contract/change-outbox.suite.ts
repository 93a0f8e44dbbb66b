import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SqlDataStore } from '../../src/adapters/sql/sql-data-store.js';
import { MetadataChangeset } from '../../src/domain/metadata-changeset.js';
import type { OutboxEvent } from '../../src/ports/data-store.js';
import type { SqlDataStoreFixture } from './sql-data-store.suite.js';

const signal = new AbortController().signal;
const LEASE = 60_000;

/** Every event in the store's outbox, claimed (so a second look within the lease sees none). */
async function claimAll(store: SqlDataStore): Promise<OutboxEvent[]> {
  return store.claimOutboxEvents(1_000, LEASE);
}

async function sourceFiles(scratch: string, names: string[], content = (name: string) => `bytes of ${name}`) {
  return Promise.all(
    names.map(async (name) => {
      const sourcePath = path.join(scratch, `src-${name.replaceAll('/', '_')}-${Math.random()}`);
      await writeFile(sourcePath, content(name));
      return { relativePath: name, sourcePath };
    }),
  );
}

/**
 * The change outbox (issue 13): a change asked to be announced writes its trigger event in its own
 * transaction, so the change and its event are stored together or not at all; relays claim events with a
 * lease and delete them once handed on. On either dialect.
 */
export function describeChangeOutbox(name: string, fixture: () => Promise<SqlDataStoreFixture>): void {
  describe(`change outbox: ${name}`, { timeout: 60_000 }, () => {
    it('stores one file_upload event with an announced write: its files, transaction and lineage', async () => {
      const { store, scratch } = await fixture();
      const dataset = await store.createDataset({ orgId: 'og_1' });
      const written = await store.putFiles(
        dataset.dataset_id,
        await sourceFiles(scratch, ['a.bag', 'b/c.yaml']),
        {
          writeKey: { invocationId: 'txn_1', attempt: 1 },
          origination: 't',
          signal,
          announce: { eventId: 'txn_1', transactionId: 'txn_1', sourceInvocationId: 'iv_7' },
        },
      );
      const events = await claimAll(store);
      expect(events.map((entry) => entry.event)).toEqual([
        {
          event_id: 'txn_1',
          org_id: 'og_1',
          dataset_id: dataset.dataset_id,
          cause: 'file_upload',
          transaction_id: 'txn_1',
          file_ids: written.map((file) => file.file_id),
          source_invocation_id: 'iv_7',
          occurred: expect.any(String) as string,
        },
      ]);
    });

    it('stores nothing for a write not announced, or one that writes no file', async () => {
      const { store, scratch } = await fixture();
      const dataset = await store.createDataset({ orgId: 'og_1' });
      const files = await sourceFiles(scratch, ['same.txt'], () => 'same');
      await store.putFiles(dataset.dataset_id, files, {
        writeKey: { invocationId: 'import_1', attempt: 0 },
        origination: 't',
        signal,
      });
      expect(await claimAll(store)).toEqual([]);
      // The same bytes again, by another import that leaves unchanged files alone: nothing written.
      await store.putFiles(dataset.dataset_id, files, {
        writeKey: { invocationId: 'import_2', attempt: 0 },
        origination: 't',
        skipUnchanged: true,
        signal,
        announce: { eventId: 'import_2' },
      });
      await store.putFiles(dataset.dataset_id, [], {
        writeKey: { invocationId: 'import_3', attempt: 0 },
        origination: 't',
        signal,
        announce: { eventId: 'import_3' },
      });
      expect(await claimAll(store)).toEqual([]);
    });

    it('lists every file of a write in one event, across batches and when an attempt is retried', async () => {
      const { scratch, open } = await fixture();
      const store = await open({ recordBatch: 4 });
      const dataset = await store.createDataset({ orgId: 'og_1' });
      const names = Array.from({ length: 10 }, (_, i) => `f/${i}.bin`);
      const files = await sourceFiles(scratch, names);
      const first = await store.putFiles(dataset.dataset_id, files, {
        writeKey: { invocationId: 'iv_1', attempt: 1 },
        origination: 't',
        signal,
        announce: { eventId: 'iv_1:1' },
      });
      // A retried attempt writes the same bytes again: nothing new, yet its event lists all of its files.
      await store.putFiles(dataset.dataset_id, files, {
        writeKey: { invocationId: 'iv_1', attempt: 2 },
        origination: 't',
        signal,
        announce: { eventId: 'iv_1:2' },
      });
      const events = await claimAll(store);
      expect(events.map((entry) => [entry.event.event_id, entry.event.file_ids])).toEqual([
        ['iv_1:1', first.map((file) => file.file_id)],
        ['iv_1:2', first.map((file) => file.file_id)],
      ]);
    });

    it('announces a dataset or file update only when it changes what a trigger reads', async () => {
      const { store, scratch } = await fixture();
      const dataset = await store.createDataset({ orgId: 'og_1', tags: ['a'] });
      const tagB = MetadataChangeset.parse({ put_tags: ['b'] });
      await store.updateDataset(dataset.dataset_id, tagB, {}, { sourceInvocationId: 'iv_2' });
      await store.updateDataset(dataset.dataset_id, tagB, {}, {}); // tag b is there already
      await store.updateDataset(dataset.dataset_id, MetadataChangeset.parse({}), { name: 'renamed' }, {});
      await store.updateDataset(dataset.dataset_id, MetadataChangeset.parse({}), { description: 'd' }, {});
      const [file] = await store.putFiles(dataset.dataset_id, await sourceFiles(scratch, ['x.bag']), {
        writeKey: { invocationId: 'import_1', attempt: 0 },
        origination: 't',
        signal,
      });
      const fileId = file!.file_id;
      await store.updateFile(fileId, { ingestionStatus: 'ingested' }, { eventId: 'not-for-ingest' });
      await store.updateFile(fileId, { ingestionStatus: 'ingested' }, {}); // ingested already
      await store.updateFile(fileId, { description: 'only a description' }, {});
      await store.updateFile(
        fileId,
        { metadataChangeset: MetadataChangeset.parse({ put_fields: { n: 4 } }), ingestionStatus: 'ingested' },
        { eventId: 'flmeta_1' },
      );
      const events = (await claimAll(store)).map((entry) => entry.event);
      expect(events.map((event) => [event.cause, event.file_ids, event.source_invocation_id])).toEqual([
        ['dataset_metadata_update', [], 'iv_2'],
        ['dataset_metadata_update', [], null],
        ['file_ingest', [fileId], null],
        ['file_metadata_update', [fileId], null],
      ]);
      expect(events[2]?.event_id).toBe(`${fileId}:1:ingest`);
      expect(events[3]?.event_id).toBe('flmeta_1');
      expect(
        events.every((event) => event.org_id === 'og_1' && event.dataset_id === dataset.dataset_id),
      ).toBe(true);
      expect(new Set(events.map((event) => event.event_id)).size).toBe(events.length);
    });

    it('stores a change and its event together or not at all', async () => {
      const { store } = await fixture();
      const dataset = await store.createDataset({ orgId: 'og_1', tags: ['a'] });
      // An event id too long for an event: the event cannot be written, so neither is the change.
      await expect(
        store.updateDataset(
          dataset.dataset_id,
          MetadataChangeset.parse({ put_tags: ['b'] }),
          {},
          { eventId: 'x'.repeat(300) },
        ),
      ).rejects.toThrow();
      expect((await store.getDataset(dataset.dataset_id))?.tags).toEqual(['a']);
      expect(await claimAll(store)).toEqual([]);
    });

    it('announces stored files by themselves, for the dataset they are in', async () => {
      const { store } = await fixture();
      const dataset = await store.createDataset({ orgId: 'og_2' });
      await store.announceUpload(dataset.dataset_id, ['fl_1', 'fl_2'], {
        eventId: 'iv_3:1',
        transactionId: 'iv_3:1',
        sourceInvocationId: 'iv_3',
      });
      await store.announceUpload(dataset.dataset_id, [], { eventId: 'nothing' });
      await expect(store.announceUpload('ds_missing', ['fl_1'], { eventId: 'x' })).rejects.toThrow(
        /ds_missing/,
      );
      const events = (await claimAll(store)).map((entry) => entry.event);
      expect(events).toMatchObject([
        {
          event_id: 'iv_3:1',
          org_id: 'og_2',
          cause: 'file_upload',
          transaction_id: 'iv_3:1',
          file_ids: ['fl_1', 'fl_2'],
          source_invocation_id: 'iv_3',
        },
      ]);
    });

    it('gives each event to one relay while its lease runs, again once it has run out, never once settled', async () => {
      const { store, open, database } = await fixture();
      const other = await open();
      const dataset = await store.createDataset({ orgId: 'og_1' });
      const change = (i: number) =>
        store.updateDataset(
          dataset.dataset_id,
          MetadataChangeset.parse({ put_fields: { i } }),
          {},
          { eventId: `e${i}` },
        );
      for (let i = 0; i < 6; i += 1) await change(i);
      // Two relays at once, on their own connections: each event is claimed by one of them.
      const [mine, theirs] = await Promise.all([
        store.claimOutboxEvents(4, LEASE),
        other.claimOutboxEvents(4, LEASE),
      ]);
      const claimedIds = [...mine, ...theirs].map((entry) => entry.event.event_id).sort();
      expect(claimedIds).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5']);
      expect(await store.claimOutboxEvents(10, LEASE)).toEqual([]);
      // Settled: gone for good; the others stay, claimed, in the database.
      await store.settleOutboxEvents(mine.map((entry) => entry.seq));
      const rows = await database.db.selectFrom('change_outbox').select('event_id').execute();
      expect(rows.map((row) => row.event_id).sort()).toEqual(
        theirs.map((entry) => entry.event.event_id).sort(),
      );
      // A relay whose lease has run out (0 ms: it died at once): its events are claimed again, oldest first.
      await change(6);
      await change(7);
      const died = await other.claimOutboxEvents(10, 0);
      expect(died.map((entry) => entry.event.event_id)).toEqual(['e6', 'e7']);
      const again = await store.claimOutboxEvents(10, LEASE);
      expect(again).toEqual(died);
      // Given back by a relay that could not hand them on: the next claim takes them at once.
      await store.releaseOutboxEvents(again.map((entry) => entry.seq));
      const released = await other.claimOutboxEvents(10, LEASE);
      expect(released).toEqual(died);
      await store.settleOutboxEvents(released.map((entry) => entry.seq));
      expect(await (await open()).claimOutboxEvents(10, 0)).toEqual([]);
    });
  });
}
