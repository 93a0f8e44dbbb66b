import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { recordPrefix } from '../../src/adapters/bullmq/invocation-queue.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { useTestQueue } from '../support/daemon-harness.js';

describe('the invocation commands on a malformed record', () => {
  const queue = useTestQueue();

  /** A record under this test's own key prefix, written by hand, one field spoilt. */
  async function writeRecord(invocationId: string, fields: Record<string, string>): Promise<void> {
    const redis = new Redis(queue().location().url);
    try {
      const key = `${recordPrefix(queue().location())}inv:${invocationId}`;
      const created = new Date().toISOString();
      await redis.hset(key, {
        request: JSON.stringify({ action: { image: 'action-worker/busybox:latest' } }),
        org_id: 'og_local',
        created,
        last_status: String(InvocationStatus.Queued),
        attempt: '0',
        ...fields,
      });
      await redis.rpush(
        `${key}:status`,
        JSON.stringify({ status: InvocationStatus.Queued, detail: null, timestamp: created }),
      );
      await redis.zadd(`${recordPrefix(queue().location())}invocations`, Date.now(), invocationId);
    } finally {
      await redis.quit();
    }
  }

  it.each([
    [['invocations', 'show', 'iv_malformed01']],
    [['invocations', 'logs', 'iv_malformed01']],
    [['invocations', 'wait', 'iv_malformed01', '--timeout', '5s']],
    [['invocations', 'list']],
  ])('%j names the invocation and the field, exits 65, and never blames Redis', async (args) => {
    await writeRecord('iv_malformed01', { request: '{"action": not json' });
    const result = await queue().cli(args);
    expect(result.exitCode, result.stderr).toBe(65);
    expect(result.stderr.trim()).toBe(
      'action-worker: invocation iv_malformed01 has a malformed record: its request (not JSON) cannot be read',
    );
    expect(result.stderr).not.toContain('cannot reach Redis');
  });

  it.each([
    ['iv_malformed02', { last_status: 'Running' }, 'last_status (not a status)'],
    ['iv_malformed03', { request: '{"not": "a request"}' }, 'request (no action image)'],
    ['iv_malformed04', { image: '{oops' }, 'image (not JSON)'],
  ])('names what is wrong with %s', async (invocationId, fields, what) => {
    await writeRecord(invocationId, fields);
    const result = await queue().cli(['invocations', 'show', invocationId]);
    expect(result.exitCode, result.stderr).toBe(65);
    expect(result.stderr.trim()).toBe(
      `action-worker: invocation ${invocationId} has a malformed record: its ${what} cannot be read`,
    );
  });
});
