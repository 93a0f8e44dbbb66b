import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/domain/errors.js';
import type { PendingEvaluation, TriggerEvaluationStore } from '../../src/ports/trigger-evaluation-store.js';
import { pendingEvaluation } from '../support/pending-evaluation.js';

const newId = (kind: string): string => `${kind}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

const pending = (triggerId: string, datasetId: string, start: string): PendingEvaluation =>
  pendingEvaluation(triggerId, datasetId, start);

/**
 * What every TriggerEvaluationStore must do, run against the Redis store (integration) and the in-memory
 * one (unit). `open()` gives a store over the same records.
 */
export function describeTriggerEvaluationStoreContract(
  name: string,
  open: () => TriggerEvaluationStore,
): void {
  describe(`TriggerEvaluationStore contract: ${name}`, () => {
    it('creates one pending evaluation per (event, trigger) with an integer id; the same pair finds it again', async () => {
      const org = newId('og');
      const [tr, ds] = [newId('tr'), newId('ds')];
      const first = await open().createPending(org, 'ev_1', pending(tr, ds, '2024-01-01T00:00:00Z'));
      expect(first.isNew).toBe(true);
      expect(Number.isInteger(first.record.trigger_evaluation_id)).toBe(true);
      expect(first.record).toMatchObject({ status: 'pending', trigger_id: tr, cause: 'file_upload' });
      const again = await open().createPending(org, 'ev_1', pending(tr, ds, '2024-01-02T00:00:00Z'));
      expect(again).toEqual({ record: first.record, isNew: false });
      const otherTrigger = await open().createPending(org, 'ev_1', pending(newId('tr'), ds, 'x'));
      const otherEvent = await open().createPending(org, 'ev_2', pending(tr, ds, 'x'));
      expect(otherTrigger.isNew && otherEvent.isNew).toBe(true);
      expect(
        new Set([first, otherTrigger, otherEvent].map((each) => each.record.trigger_evaluation_id)).size,
      ).toBe(3);
    });

    it('finishes an evaluation as evaluated or failed; another org cannot', async () => {
      const org = newId('og');
      const [tr, ds] = [newId('tr'), newId('ds')];
      const store = open();
      const { record } = await store.createPending(org, 'ev', pending(tr, ds, '2024-01-01T00:00:00Z'));
      const id = record.trigger_evaluation_id;
      expect(
        await store.finish(newId('og'), id, { status: 'failed', status_detail: 'x' }, 'T'),
      ).toBeUndefined();
      const done = await store.finish(
        org,
        id,
        { status: 'evaluated', outcome: 'skipped', outcome_reason: 'no_matching_files', status_detail: null },
        '2024-01-01T00:00:01Z',
      );
      expect(done).toEqual({
        ...record,
        status: 'evaluated',
        outcome: 'skipped',
        outcome_reason: 'no_matching_files',
        evaluation_end: '2024-01-01T00:00:01Z',
      });
      const { record: second } = await store.createPending(org, 'ev2', pending(tr, ds, 'T'));
      await store.finish(
        org,
        second.trigger_evaluation_id,
        { status: 'failed', status_detail: 'boom' },
        'T2',
      );
      const page = await open().listByTrigger(org, tr, { limit: 10 });
      expect(page.items.map((each) => [each.status, each.status_detail, each.outcome])).toEqual([
        ['failed', 'boom', null],
        ['evaluated', null, 'skipped'],
      ]);
    });

    it('lists by trigger and by dataset, newest first, in pages; another org sees none', async () => {
      const org = newId('og');
      const [tr, other, ds, ds2] = [newId('tr'), newId('tr'), newId('ds'), newId('ds')];
      const store = open();
      const ids: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        const { record } = await store.createPending(org, `ev${i}`, pending(tr, i === 4 ? ds2 : ds, `T${i}`));
        ids.push(record.trigger_evaluation_id);
      }
      await store.createPending(org, 'ev0', pending(other, ds, 'T'));
      const seen: number[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await open().listByTrigger(org, tr, { limit: 2, pageToken: token });
        seen.push(...page.items.map((each) => each.trigger_evaluation_id));
        token = page.nextToken ?? undefined;
        pages += 1;
        // A new evaluation between pages does not shift the ones that follow.
        if (pages === 1) await store.createPending(org, 'late', pending(tr, ds, 'T9'));
      } while (token !== undefined);
      expect(seen).toEqual([...ids].reverse());
      expect(pages).toBe(3);
      const latest = await open().listByTrigger(org, tr, { limit: 1 });
      expect(latest.items[0]?.evaluation_start).toBe('T9');
      const byDataset = await open().listByDataset(org, ds, { limit: 100 });
      expect(byDataset.items).toHaveLength(6);
      expect(byDataset.items.every((each) => each.data_source.data_source_id === ds)).toBe(true);
      const sorted = byDataset.items.map((each) => each.trigger_evaluation_id);
      expect(sorted).toEqual([...sorted].sort((a, b) => b - a));
      expect(byDataset.nextToken).toBeNull();
      expect((await open().listByTrigger(newId('og'), tr, { limit: 10 })).items).toEqual([]);
      expect((await open().listByDataset(newId('og'), ds, { limit: 10 })).items).toEqual([]);
    });

    it('refuses a page token it did not make', async () => {
      await expect(
        open().listByTrigger(newId('og'), 'tr', { limit: 1, pageToken: 'bm90IGEgdG9rZW4' }),
      ).rejects.toBeInstanceOf(UsageError);
    });
  });
}
