import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SqlDataStore } from '../../src/adapters/sql/sql-data-store.js';
import { MetadataChangeset } from '../../src/domain/metadata-changeset.js';
import type { OutboxEvent } from '../../src/ports/data-store.js';
import type { SqlDataStoreFixture } from './sql-data-store.suite.js';

const signal = new AbortController().signal;
const LEASE = 60_000;

/** The events claimed (none set aside). */
async function claimEvents(
  store: SqlDataStore,
  limit: number,
  leaseMs: number,
  only?: readonly string[],
): Promise<OutboxEvent[]> {
  const { events, setAside } = await store.claimOutboxEvents(limit, leaseMs, only);
  expect(setAside).toEqual([]);
  return events;
}

/** Every event in the store's outbox, claimed (so a second look within the lease sees none). */
async function claimAll(store: SqlDataStore): Promise<OutboxEvent[]> {
  return claimEvents(store, 1_000, LEASE);
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

    it('holds an announcement asked to be held until released, and hands it on anyway once the hold runs out', async () => {
      const { store, scratch, open } = await fixture();
      const dataset = await store.createDataset({ orgId: 'og_2' });
      const put = (writing: SqlDataStore, invocationId: string, announce: Record<string, unknown>) =>
        sourceFiles(scratch, [`${invocationId}.bag`]).then((files) =>
          writing.putFiles(dataset.dataset_id, files, {
            writeKey: { invocationId, attempt: 1 },
            origination: 't',
            signal,
            announce,
          }),
        );
      const [held] = await put(store, 'iv_3', { eventId: 'iv_3:1', sourceInvocationId: 'iv_3', hold: true });
      expect(await claimAll(store)).toEqual([]);
      await store.releaseAnnouncement('iv_3:1');
      await store.releaseAnnouncement('none-such');
      expect((await claimAll(store)).map((entry) => entry.event)).toMatchObject([
        {
          event_id: 'iv_3:1',
          org_id: 'og_2',
          cause: 'file_upload',
          transaction_id: 'iv_3:1',
          file_ids: [held!.file_id],
          source_invocation_id: 'iv_3',
        },
      ]);
      // Its writer never released it (it died): handed on once the hold has run out (here at once).
      const forgetful = await open({ announcementHoldMs: 0 });
      const [orphan] = await put(forgetful, 'iv_4', { eventId: 'iv_4:1', hold: true });
      expect((await claimAll(store)).map((entry) => entry.event.file_ids)).toEqual([[orphan!.file_id]]);
      await expect(put(store, 'iv_5', { hold: true })).rejects.toThrow(/event id/);
    });

    it('a write cut off between batches announces the files it committed, once the hold runs out', async () => {
      const { scratch, open } = await fixture();
      const store = await open({ recordBatch: 2, announcementHoldMs: 0 });
      const dataset = await store.createDataset({ orgId: 'og_1' });
      const files = await sourceFiles(scratch, ['a.bag', 'b.bag', 'c.bag', 'd.bag']);
      // The writer dies after its first batch committed: its second batch never runs.
      const internals = store as unknown as { writeBatch: (...args: unknown[]) => Promise<unknown> };
      const writeBatch = internals.writeBatch.bind(store);
      let batches = 0;
      internals.writeBatch = (...args) => {
        batches += 1;
        return batches === 2 ? Promise.reject(new Error('the writer died')) : writeBatch(...args);
      };
      await expect(
        store.putFiles(dataset.dataset_id, files, {
          writeKey: { invocationId: 'import_1', attempt: 0 },
          origination: 't',
          signal,
          skipUnchanged: true,
          announce: { eventId: 'import_1' },
        }),
      ).rejects.toThrow(/died/);
      internals.writeBatch = writeBatch;
      // Run again (another import): it writes, and announces, the two files the first never reached.
      await store.putFiles(dataset.dataset_id, files, {
        writeKey: { invocationId: 'import_2', attempt: 0 },
        origination: 't',
        signal,
        skipUnchanged: true,
        announce: { eventId: 'import_2' },
      });
      const pathOf = new Map(
        (await store.listFiles(dataset.dataset_id)).map((file) => [
          file.record.file_id,
          file.record.relative_path,
        ]),
      );
      const events = (await claimAll(store)).map((entry) => entry.event);
      expect(events.map((event) => [event.event_id, event.file_ids.map((id) => pathOf.get(id))])).toEqual([
        ['import_1', ['a.bag', 'b.bag']],
        ['import_2', ['c.bag', 'd.bag']],
      ]);
    });

    it('claims only the events asked for, and sets aside a row it cannot read without stopping at it', async () => {
      const { store, database } = await fixture();
      const dataset = await store.createDataset({ orgId: 'og_1' });
      // The oldest row: written by a newer version, with a cause this one does not know.
      await database.db
        .insertInto('change_outbox')
        .values({
          event_id: 'from-the-future',
          event: JSON.stringify({
            event_id: 'from-the-future',
            org_id: 'og_1',
            dataset_id: dataset.dataset_id,
            cause: 'file_delete',
            occurred: new Date().toISOString(),
          }),
        })
        .execute();
      for (const eventId of ['a', 'b']) {
        await store.updateDataset(
          dataset.dataset_id,
          MetadataChangeset.parse({ put_tags: [eventId] }),
          {},
          { eventId },
        );
      }
      expect((await claimEvents(store, 10, LEASE, ['b'])).map((entry) => entry.event.event_id)).toEqual([
        'b',
      ]);
      const first = await store.claimOutboxEvents(10, LEASE);
      expect(first.events.map((entry) => entry.event.event_id)).toEqual(['a']);
      expect(first.setAside).toHaveLength(1);
      // Set aside for good (even with every lease run out), and kept for an operator.
      expect(await store.claimOutboxEvents(10, 0)).toEqual({ events: [], setAside: [] });
      const kept = await database.db
        .selectFrom('change_outbox')
        .select('seq')
        .where('event_id', '=', 'from-the-future')
        .execute();
      expect(kept.map((row) => Number(row.seq))).toEqual(first.setAside);
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
      const [mine, theirs] = await Promise.all([claimEvents(store, 4, LEASE), claimEvents(other, 4, LEASE)]);
      const claimedIds = [...mine, ...theirs].map((entry) => entry.event.event_id).sort();
      expect(claimedIds).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5']);
      expect(await claimEvents(store, 10, LEASE)).toEqual([]);
      // Settled: gone for good; the others stay, claimed, in the database.
      await store.settleOutboxEvents(mine.map((entry) => entry.seq));
      const rows = await database.db.selectFrom('change_outbox').select('event_id').execute();
      expect(rows.map((row) => row.event_id).sort()).toEqual(
        theirs.map((entry) => entry.event.event_id).sort(),
      );
      // A relay whose lease has run out (0 ms: it died at once): its events are claimed again, oldest first.
      await change(6);
      await change(7);
      const died = await claimEvents(other, 10, 0);
      expect(died.map((entry) => entry.event.event_id)).toEqual(['e6', 'e7']);
      const again = await claimEvents(store, 10, LEASE);
      expect(again).toEqual(died);
      // Given back by a relay that could not hand them on: the next claim takes them at once.
      await store.releaseOutboxEvents(again.map((entry) => entry.seq));
      const released = await claimEvents(other, 10, LEASE);
      expect(released).toEqual(died);
      await store.settleOutboxEvents(released.map((entry) => entry.seq));
      expect(await claimEvents(await open(), 10, 0)).toEqual([]);
    });
  });
}
