import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisInvocationStore } from '../../src/adapters/redis/redis-invocation-store.js';
import { FencedError, InvalidTransitionError } from '../../src/domain/errors.js';
import { InvocationRequest } from '../../src/domain/invocation-request.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';

const REDIS_URL = process.env.ACTION_WORKER_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const prefix = `action-worker-test-${process.pid}-${Date.now()}:`;
const stores: RedisInvocationStore[] = [];

function store(): RedisInvocationStore {
  const created = new RedisInvocationStore({ redis: REDIS_URL, prefix });
  stores.push(created);
  return created;
}

const request = (extra: Record<string, unknown> = {}) =>
  InvocationRequest.parse({ action: { image: 'img:1', config: { name: 'act' } }, org_id: 'og_1', ...extra });

describe('RedisInvocationStore on a real redis-server', () => {
  afterAll(async () => {
    for (const each of stores.splice(0)) await each.close();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('creates Queued invocations readable from another connection, listed newest first', async () => {
    const writer = store();
    const first = await writer.create(request());
    const second = await writer.create(request({ parameter_values: { p: '1' } }));
    expect(first.isNew).toBe(true);
    expect(first.record).toMatchObject({ last_status: InvocationStatus.Queued, attempt: 0, org_id: 'og_1' });
    expect(first.record.status.map((entry) => entry.status)).toEqual([InvocationStatus.Queued]);

    const reader = store();
    expect((await reader.get(second.record.invocation_id))?.request.parameter_values).toEqual({ p: '1' });
    const listed = await reader.list({ limit: 10 });
    expect(listed.map((record) => record.invocation_id).slice(0, 2)).toEqual([
      second.record.invocation_id,
      first.record.invocation_id,
    ]);
    expect(await reader.get('iv_missing')).toBeUndefined();
  });

  it('returns the first invocation for a reused idempotency id, per org', async () => {
    const invocations = store();
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
    const invocations = store();
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
    const hostA = store();
    const hostB = store();
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
    const worker = store();
    const cli = store();
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
    const invocations = store();
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
    const invocations = store();
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

  it('marks a Failed final in the same write when asked, and gives the live output an expiry', async () => {
    const invocations = store();
    const { record } = await invocations.create(request());
    const id = record.invocation_id;
    await invocations.startAttempt(id, 1);
    await invocations.appendLiveLog(id, 1, 'some output\n');
    await invocations.transition(id, InvocationStatus.Scheduled, null, { attempt: 1 });
    const failed = await invocations.transition(id, InvocationStatus.Failed, 'action exited with code 1', {
      attempt: 1,
      final: true,
    });
    expect(failed.is_finished).toBe(true);
    const redis = new Redis(REDIS_URL);
    const ttl = await redis.ttl(`${prefix}inv:${id}:live`);
    await redis.quit();
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600);
    expect((await invocations.readLiveLog(id, '0', 0)).entries).toEqual([
      { attempt: 1, text: 'some output\n' },
    ]);
  });

  it('writes one record when two invokes race on one idempotency id', async () => {
    const [first, second] = await Promise.all([
      store().create(request({ idempotency_id: 'raced' })),
      store().create(request({ idempotency_id: 'raced' })),
    ]);
    expect(first.record.invocation_id).toBe(second.record.invocation_id);
    expect([first.isNew, second.isNew].sort()).toEqual([false, true]);
    expect(first.record.status).toHaveLength(1);
    expect((await store().get(first.record.invocation_id))?.status).toHaveLength(1);
  });
});
