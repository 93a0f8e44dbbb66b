import { describe, expect, it } from 'vitest';
import { randomId } from '../../src/domain/ids.js';
import type { NewUploadTransaction } from '../../src/domain/upload-transaction.js';
import type { UploadTransactionStore } from '../../src/ports/upload-transaction-store.js';
import { eventually } from '../support/poll.js';

function transaction(overrides: Partial<NewUploadTransaction> = {}): NewUploadTransaction {
  const now = Date.now();
  return {
    transaction_id: randomId('ut', 20),
    org_id: 'og_uploads',
    dataset_id: 'ds_uploads',
    origination: 'contract test',
    manifest: [
      { path: 'a.bag', size_bytes: 3 },
      { path: 'dir/b b.txt', size_bytes: 0 },
    ],
    created_by: 'tk_contract',
    created: new Date(now).toISOString(),
    expires: new Date(now + 60_000).toISOString(),
    source_invocation_id: null,
    ...overrides,
  };
}

/**
 * What every UploadTransactionStore must do, run against the Redis store (integration) and the in-memory
 * one (unit). `open()` gives a store over the same transactions (another connection where there are
 * connections, as another `serve` replica would have).
 */
export function describeUploadTransactionStoreContract(
  name: string,
  open: () => UploadTransactionStore,
): void {
  describe(`UploadTransactionStore contract: ${name}`, () => {
    it('keeps a new transaction pending, readable whole from another connection', async () => {
      const begun = transaction({ source_invocation_id: 'iv_lineage01' });
      const created = await open().create(begun);
      const expected = { ...begun, status: 'pending', reported: [], file_ids: [], completed: null };
      expect(created).toEqual(expected);
      expect(await open().get(begun.transaction_id)).toEqual(expected);
    });

    it('answers undefined for a transaction that never was, for every operation', async () => {
      const store = open();
      const unknown = randomId('ut', 20);
      expect(await store.get(unknown)).toBeUndefined();
      expect(await store.addReported(unknown, ['a.bag'])).toBeUndefined();
      expect(await store.markCompleted(unknown, ['fl_1'], new Date().toISOString())).toBeUndefined();
      expect(await store.get(unknown)).toBeUndefined();
      expect(await store.get('not an id/../x')).toBeUndefined();
    });

    it('refuses a second transaction with the same id, keeping the first', async () => {
      const store = open();
      const first = transaction();
      await store.create(first);
      await expect(store.create({ ...first, origination: 'other' })).rejects.toThrow(/exists/);
      expect((await store.get(first.transaction_id))?.origination).toBe('contract test');
    });

    it('adds reported paths once each, sorted, seen by another connection', async () => {
      const begun = transaction();
      await open().create(begun);
      await open().addReported(begun.transaction_id, ['dir/b b.txt']);
      const after = await open().addReported(begun.transaction_id, ['a.bag', 'dir/b b.txt']);
      expect(after?.reported).toEqual(['a.bag', 'dir/b b.txt']);
      expect((await open().get(begun.transaction_id))?.reported).toEqual(['a.bag', 'dir/b b.txt']);
      expect((await open().addReported(begun.transaction_id, []))?.reported).toEqual([
        'a.bag',
        'dir/b b.txt',
      ]);
    });

    it('marks a transaction completed once: a second mark keeps the first completion', async () => {
      const begun = transaction();
      const store = open();
      await store.create(begun);
      const done = await store.markCompleted(
        begun.transaction_id,
        ['fl_1', 'fl_2'],
        '2026-01-01T00:00:00.000Z',
      );
      expect(done).toMatchObject({
        status: 'completed',
        file_ids: ['fl_1', 'fl_2'],
        completed: '2026-01-01T00:00:00.000Z',
      });
      const again = await open().markCompleted(begun.transaction_id, ['fl_9'], '2027-01-01T00:00:00.000Z');
      expect(again).toEqual(done);
      expect(await open().get(begun.transaction_id)).toEqual(done);
    });

    it('forgets a transaction once it expires, reported paths and all', async () => {
      const store = open();
      const begun = transaction({ expires: new Date(Date.now() + 300).toISOString() });
      await store.create(begun);
      await store.addReported(begun.transaction_id, ['a.bag']);
      expect(await store.get(begun.transaction_id)).toBeDefined();
      await eventually(
        async () => ((await store.get(begun.transaction_id)) === undefined ? true : undefined),
        10_000,
        'the transaction to expire',
      );
      expect(await store.addReported(begun.transaction_id, ['a.bag'])).toBeUndefined();
      expect(await store.markCompleted(begun.transaction_id, [], new Date().toISOString())).toBeUndefined();
    });

    it("counts an org's pending transactions, and refuses a begin beyond the limit atomically", async () => {
      const orgId = randomId('og', 12);
      const store = open();
      const first = transaction({ org_id: orgId });
      expect(await store.create(first, { maxPendingPerOrg: 2 })).toBeDefined();
      // Another org's transactions count for it only.
      for (let other = 0; other < 3; other += 1) {
        expect(
          await store.create(transaction({ org_id: randomId('og', 12) }), { maxPendingPerOrg: 2 }),
        ).toBeDefined();
      }
      const racing = await Promise.all(
        [1, 2, 3].map(() => open().create(transaction({ org_id: orgId }), { maxPendingPerOrg: 2 })),
      );
      expect(racing.filter((made) => made !== undefined)).toHaveLength(1);
      expect(await open().countPending(orgId)).toBe(2);
      expect(await store.create(transaction({ org_id: orgId }), { maxPendingPerOrg: 2 })).toBeUndefined();
      // Without a limit a begin is kept; a completed transaction no longer counts.
      expect(await store.create(transaction({ org_id: orgId }))).toBeDefined();
      expect(await open().countPending(orgId)).toBe(3);
      await store.markCompleted(first.transaction_id, [], new Date().toISOString());
      expect(await open().countPending(orgId)).toBe(2);
    });

    it('no longer counts an expired pending transaction', async () => {
      const orgId = randomId('og', 12);
      const store = open();
      await store.create(transaction({ org_id: orgId, expires: new Date(Date.now() + 300).toISOString() }));
      expect(await store.countPending(orgId)).toBe(1);
      await eventually(
        async () => ((await open().countPending(orgId)) === 0 ? true : undefined),
        10_000,
        'the pending transaction to expire',
      );
      expect(await store.create(transaction({ org_id: orgId }), { maxPendingPerOrg: 1 })).toBeDefined();
    });

    it('marks a transaction completing, keeping it longer; it still counts as pending until completed', async () => {
      const orgId = randomId('og', 12);
      const store = open();
      const begun = transaction({ org_id: orgId, expires: new Date(Date.now() + 500).toISOString() });
      await store.create(begun);
      const keepUntil = new Date(Date.now() + 60 * 60_000).toISOString();
      const marked = await open().markCompleting(begun.transaction_id, keepUntil);
      expect(marked).toMatchObject({ status: 'completing', expires: keepUntil });
      // An earlier keep-until never shortens it.
      await store.markCompleting(begun.transaction_id, new Date(Date.now() + 1_000).toISOString());
      expect((await open().get(begun.transaction_id))?.expires).toBe(keepUntil);
      expect(await open().countPending(orgId)).toBe(1);
      const done = await open().markCompleted(begun.transaction_id, ['fl_1'], new Date().toISOString());
      expect(done?.status).toBe('completed');
      expect(await open().countPending(orgId)).toBe(0);
      // Completed stays completed.
      expect((await store.markCompleting(begun.transaction_id, keepUntil))?.status).toBe('completed');
      expect(await store.markCompleting(randomId('ut', 20), keepUntil)).toBeUndefined();
    });
  });
}
