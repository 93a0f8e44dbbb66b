import { describe, expect, it } from 'vitest';
import { FencedError, InvalidTransitionError } from '../../src/domain/errors.js';
import { InvocationRequest } from '../../src/domain/invocation-request.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import type { InvocationStore } from '../../src/ports/invocation-store.js';

const request = (extra: Record<string, unknown> = {}) =>
  InvocationRequest.parse({ action: { image: 'img:1', config: { name: 'act' } }, org_id: 'og_1', ...extra });

/**
 * What every InvocationStore must do, run against the Redis store (integration) and the in-memory one the
 * unit tests use (so a unit test over the fake proves something about the real thing). `open()` gives a
 * store over the same records: another connection, as another host would have.
 */
export function describeInvocationStoreContract(name: string, open: () => InvocationStore): void {
  describe(`InvocationStore contract: ${name}`, () => {
    it('creates Queued invocations readable from another connection, listed newest first', async () => {
      const writer = open();
      const first = await writer.create(request());
      const second = await writer.create(request({ parameter_values: { p: '1' } }));
      expect(first.isNew).toBe(true);
      expect(first.record).toMatchObject({
        last_status: InvocationStatus.Queued,
        attempt: 0,
        org_id: 'og_1',
      });
      expect(first.record.status.map((entry) => entry.status)).toEqual([InvocationStatus.Queued]);

      const reader = open();
      expect((await reader.get(second.record.invocation_id))?.request.parameter_values).toEqual({ p: '1' });
      const listed = await reader.list({ limit: 10 });
      expect(listed.map((record) => record.invocation_id).slice(0, 2)).toEqual([
        second.record.invocation_id,
        first.record.invocation_id,
      ]);
      expect(await reader.get('iv_missing')).toBeUndefined();
    });

    it('returns the first invocation for a reused idempotency id, per org', async () => {
      const invocations = open();
      const first = await invocations.create(request({ idempotency_id: 'nightly-2026-11-22' }));
      const again = await invocations.create(request({ idempotency_id: 'nightly-2026-11-22' }));
      const otherOrg = await invocations.create(
        request({ idempotency_id: 'nightly-2026-11-22', org_id: 'og_2' }),
      );
      expect(again).toEqual({ record: first.record, isNew: false });
      expect(otherOrg.isNew).toBe(true);
      expect(otherOrg.record.invocation_id).not.toBe(first.record.invocation_id);
    });

    it('checks every transition against the matrix and records it with its detail', async () => {
      const invocations = open();
      const { record } = await invocations.create(request());
      const id = record.invocation_id;
      await invocations.transition(id, InvocationStatus.Scheduled, null);
      await invocations.transition(id, InvocationStatus.Processing, 'running img:1');
      await expect(invocations.transition(id, InvocationStatus.Queued, null)).rejects.toBeInstanceOf(
        InvalidTransitionError,
      );
      const failed = await invocations.transition(id, InvocationStatus.Failed, 'action exited with code 3');
      expect(failed.status.map((entry) => [entry.status, entry.detail])).toEqual([
        [InvocationStatus.Queued, null],
        [InvocationStatus.Scheduled, null],
        [InvocationStatus.Processing, 'running img:1'],
        [InvocationStatus.Failed, 'action exited with code 3'],
      ]);
      // Failed may go back to Queued (a retry), never to Processing.
      await invocations.transition(id, InvocationStatus.Queued, 'retry');
      await expect(invocations.transition('iv_missing', InvocationStatus.Scheduled, null)).rejects.toThrow(
        /no invocation iv_missing/,
      );
    });

    it('lets exactly one of two hosts finish an invocation when they race', async () => {
      const hostA = open();
      const hostB = open();
      const ids: string[] = [];
      for (let i = 0; i < 20; i += 1) {
        const { record } = await hostA.create(request());
        await hostA.transition(record.invocation_id, InvocationStatus.Uploading, null);
        ids.push(record.invocation_id);
      }
      const outcomes = await Promise.all(
        ids.map((id) =>
          Promise.allSettled([
            hostA.transition(id, InvocationStatus.Completed, 'done'),
            hostB.transition(id, InvocationStatus.Cancelled, 'cancelled'),
          ]),
        ),
      );
      for (const [index, pair] of outcomes.entries()) {
        expect(pair.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
        const final = await hostB.get(ids[index]!);
        expect(final?.status.filter((entry) => entry.status >= InvocationStatus.Completed)).toHaveLength(1);
      }
    });

    it('delivers a cancel request from one host to another at once, and keeps the flag', async () => {
      const worker = open();
      const cli = open();
      const { record } = await cli.create(request());
      let deliver: (id: string) => void = () => undefined;
      const received = new Promise<string>((resolve) => {
        deliver = resolve;
      });
      // Resolves once the subscription is in place: no wait needed before the request.
      const unsubscribe = await worker.onCancelRequested((id) => {
        deliver(id);
      });
      await cli.requestCancel(record.invocation_id);
      expect(await received).toBe(record.invocation_id);
      expect((await worker.get(record.invocation_id))?.is_cancel_requested).toBe(true);
      await expect(cli.requestCancel('iv_missing')).rejects.toThrow(/no invocation/);
      await unsubscribe();
    });

    it('keeps the heartbeat, attempt, run info and log', async () => {
      const invocations = open();
      const { record } = await invocations.create(request());
      const id = record.invocation_id;
      await invocations.startAttempt(id, 2);
      await invocations.heartbeat(id, 2);
      await invocations.setRunInfo(id, {
        image: { reference: 'img:1', id: 'sha256:x', digest: null },
      });
      await invocations.setLog(id, 'line one\nline two\n');
      const stored = await invocations.get(id);
      expect(stored).toMatchObject({ attempt: 2, image: { id: 'sha256:x' } });
      // The API record has no container id (spec §2.2): the record carries none.
      expect(stored).not.toHaveProperty('container_id');
      expect(Date.parse(stored!.last_heartbeat!)).toBeGreaterThan(Date.now() - 60_000);
      expect(await invocations.getLog(id)).toBe('line one\nline two\n');
    });

    it('fences every write of an attempt once a later one holds the invocation', async () => {
      const invocations = open();
      const { record } = await invocations.create(request());
      const id = record.invocation_id;
      await invocations.startAttempt(id, 1);
      await invocations.transition(id, InvocationStatus.Scheduled, null, { attempt: 1 });
      await invocations.startAttempt(id, 2);
      // Attempt 1 (its lease lost) can write neither a status nor a heartbeat, and cannot take it back.
      await expect(
        invocations.transition(id, InvocationStatus.Downloading, null, { attempt: 1 }),
      ).rejects.toBeInstanceOf(FencedError);
      await expect(invocations.heartbeat(id, 1)).rejects.toBeInstanceOf(FencedError);
      await expect(invocations.startAttempt(id, 1)).rejects.toBeInstanceOf(FencedError);
      const stored = await invocations.get(id);
      expect(stored).toMatchObject({
        attempt: 2,
        last_heartbeat: null,
        last_status: InvocationStatus.Scheduled,
      });
      await invocations.heartbeat(id, 2);
      expect((await invocations.get(id))?.last_heartbeat).not.toBeNull();
    });

    it('writes one record when two invokes race on one idempotency id', async () => {
      const [first, second] = await Promise.all([
        open().create(request({ idempotency_id: 'raced' })),
        open().create(request({ idempotency_id: 'raced' })),
      ]);
      expect(first.record.invocation_id).toBe(second.record.invocation_id);
      expect([first.isNew, second.isNew].sort()).toEqual([false, true]);
      expect(first.record.status).toHaveLength(1);
      expect((await open().get(first.record.invocation_id))?.status).toHaveLength(1);
    });

    it('counts hand-backs, filters the list by status, and says when no more attempts follow', async () => {
      const invocations = open();
      const { record } = await invocations.create(request());
      const id = record.invocation_id;
      expect(await invocations.countHandback(id)).toBe(1);
      expect(await invocations.countHandback(id)).toBe(2);
      expect((await invocations.get(id))?.handbacks).toBe(2);
      await invocations.transition(id, InvocationStatus.Scheduled, null);
      const scheduled = await invocations.list({ status: InvocationStatus.Scheduled, limit: 1000 });
      expect(scheduled.map((each) => each.invocation_id)).toContain(id);
      expect(scheduled.every((each) => each.last_status === InvocationStatus.Scheduled)).toBe(true);
      // A Failed is final only when the writer says so; Completed always is.
      const failed = await invocations.transition(id, InvocationStatus.Failed, 'exit 1');
      expect(failed.is_finished).toBe(false);
      await invocations.transition(id, InvocationStatus.Queued, 'retry');
      await invocations.transition(id, InvocationStatus.Scheduled, null);
      await invocations.transition(id, InvocationStatus.Processing, null);
      await invocations.transition(id, InvocationStatus.Uploading, null);
      expect((await invocations.transition(id, InvocationStatus.Completed, 'done')).is_finished).toBe(true);
    });

    it('reads the live output after a cursor, in order, with the attempt that wrote it', async () => {
      const invocations = open();
      const { record } = await invocations.create(request());
      const id = record.invocation_id;
      await invocations.startAttempt(id, 1);
      await invocations.appendLiveLog(id, 1, 'one\n');
      await invocations.appendLiveLog(id, 1, 'two\n');
      const first = await invocations.readLiveLog(id, '0', 0);
      expect(first.entries).toEqual([
        { attempt: 1, text: 'one\n' },
        { attempt: 1, text: 'two\n' },
      ]);
      await invocations.startAttempt(id, 2);
      await invocations.appendLiveLog(id, 2, 'three\n');
      const next = await invocations.readLiveLog(id, first.cursor, 0);
      expect(next.entries).toEqual([{ attempt: 2, text: 'three\n' }]);
      expect((await invocations.readLiveLog(id, next.cursor, 0)).entries).toEqual([]);
    });

    it('queries one org over wire fields, sorted and paged, with the total', async () => {
      const invocations = open();
      // An org of its own per run: the Redis prefix is shared by the whole file.
      const org = `og_q${Math.random().toString(36).slice(2, 10)}`;
      const made = [];
      for (const [name, source] of [
        ['alpha', 'tr_1'],
        ['beta', 'tr_2'],
        ['alpha', 'tr_2'],
      ] as const) {
        const { record } = await invocations.create(
          request({
            org_id: org,
            provenance: {
              action: { name, org_id: org, digest: `d-${name}` },
              source: { source_type: 'Trigger', source_id: source },
            },
          }),
        );
        made.push(record.invocation_id);
      }
      await invocations.create(request({ org_id: `${org}x` }));
      await invocations.transition(made[1] as string, InvocationStatus.Cancelled, null);
      const wire = { defaultTimeoutMinutes: 30 };

      const all = await invocations.query(org, {}, wire);
      expect(all.total).toBe(3);
      expect(all.nextToken).toBeNull();
      // Newest first by default (created, then id, both descending).
      const createdDesc = all.items.map((record) => record.created);
      expect([...createdDesc].sort().reverse()).toEqual(createdDesc);

      const byName = await invocations.query(
        org,
        {
          condition: { field: 'provenance.action.name', comparator: 'EQUALS', value: 'alpha' },
          sort_direction: 'ASC',
        },
        wire,
      );
      expect(byName.items.map((record) => record.invocation_id).sort()).toEqual([made[0], made[2]].sort());

      const bySource = await invocations.query(
        org,
        {
          condition: {
            operator: 'AND',
            conditions: [
              { field: 'provenance.source.source_id', comparator: 'EQUALS', value: 'tr_2' },
              { field: 'last_status', comparator: 'LESS_THAN', value: 5 },
            ],
          },
        },
        wire,
      );
      expect(bySource.items.map((record) => record.invocation_id)).toEqual([made[2]]);

      // Pages of one: three pages, the last without a token; together every record once.
      const seen: string[] = [];
      let after: string | null = null;
      let pages = 0;
      do {
        const page = await invocations.query(org, { limit: 1, after, sort_by: 'created' }, wire);
        expect(page.total).toBe(3);
        seen.push(...page.items.map((record) => record.invocation_id));
        after = page.nextToken;
        pages += 1;
      } while (after !== null);
      expect(pages).toBe(3);
      expect([...seen].sort()).toEqual([...made].sort());

      expect((await invocations.query('og_nobody-here', {}, wire)).items).toEqual([]);
      await expect(
        invocations.query(
          org,
          { condition: { field: 'current_status', comparator: 'EQUALS', value: 1 } },
          wire,
        ),
      ).rejects.toThrow(/not a field/);
      await expect(invocations.query(org, { limit: 0 }, wire)).rejects.toThrow(/out of range/);
      await expect(invocations.query(org, { after: 'not a token' }, wire)).rejects.toThrow(/page token/);
    });
  });
}
