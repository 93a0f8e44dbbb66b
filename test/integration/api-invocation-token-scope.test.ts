import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPrefix, redisOptions } from '../../src/adapters/bullmq/invocation-queue.js';
import { RedisInvocationStore } from '../../src/adapters/redis/redis-invocation-store.js';
import { newInvocationRequest } from '../../src/domain/invocation-request.js';
import { TriggerEventQueue } from '../../src/adapters/bullmq/trigger-event-queue.js';
import { TriggerEvent } from '../../src/domain/trigger-event.js';
import { eventually } from '../support/poll.js';
import { type ApiTestServer, type TestOrg, apiTestServer } from '../support/api-test-server.js';

/**
 * An action holds a token scoped to its invocation. It reads and writes its org's data as the SDK does, but
 * may not change the org's actions or triggers, cancel everything, or write to another invocation: the
 * attacks, over real sockets against serve on 127.0.0.1 with real Redis and real tokens.
 */

describe("an invocation's token", () => {
  let server: ApiTestServer;
  let records: RedisInvocationStore;
  let orgToken: string;
  let actionToken: string;
  let own: string;
  let other: string;

  beforeAll(async () => {
    server = await apiTestServer({ name: 'token-scope', orgs: [{ name: 'scope', tokenName: 'org' }] });
    const { settings } = server;
    records = new RedisInvocationStore({
      redis: redisOptions(settings.redis.url, 'fail'),
      prefix: recordPrefix(settings.redis),
    });
    const [{ orgId, token }] = server.orgs as [TestOrg];
    orgToken = token;
    const request = () =>
      newInvocationRequest({ action: { image: 'busybox:scope', config: { name: 'a' } }, org_id: orgId });
    own = (await records.create(request())).record.invocation_id;
    other = (await records.create(request())).record.invocation_id;
    actionToken = (await server.tenancy().createToken({ orgId, invocationId: own })).token;
  });

  afterAll(async () => {
    await records.close();
    await server.close();
  });

  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const answer = await server.request(path, {
      method,
      token,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: answer.status, json: JSON.parse(answer.text) as { error?: { error_code: string } } };
  };

  const action = { name: 'scoped', uri: 'busybox:scope' };

  it('may not change the org’s actions, triggers or every invocation at once (an org token may)', async () => {
    for (const [method, path, body] of [
      ['POST', '/v1/actions', action],
      ['PUT', '/v1/actions/scoped', { description: 'x' }],
      ['PUT', '/v1/actions/scoped/accessibility', { accessibility: 'action_hub' }],
      ['DELETE', '/v1/actions/scoped', undefined],
      ['POST', '/v1/actions/invocations/cancel/all', { created_before: new Date().toISOString() }],
      ['POST', '/v1/triggers', { name: 't' }],
    ] as const) {
      const answer = await call(actionToken, method, path, body);
      expect(answer.status, `${method} ${path}`).toBe(403);
      expect(answer.json.error?.error_code).toBe('RobotoUnauthorizedException');
    }
    expect((await call(orgToken, 'POST', '/v1/actions', action)).status).toBe(200);
    expect((await call(actionToken, 'GET', '/v1/actions/scoped')).status).toBe(200);
  });

  it('writes to its own invocation only, and reads its org’s data', async () => {
    for (const [method, suffix, body] of [
      ['POST', 'status', { status: 1, detail: 'None' }],
      ['POST', 'cancel', undefined],
      ['PUT', 'container-info', { image_digest: 'sha256:abc' }],
      ['PUT', 'logs', { bucket: 'b', prefix: 'p/' }],
    ] as const) {
      const answer = await call(actionToken, method, `/v1/actions/invocations/${other}/${suffix}`, body);
      expect(answer.status, `${method} ${suffix}`).toBe(403);
    }
    expect((await records.get(other))?.status.map((entry) => entry.status)).toEqual([0]);
    expect((await records.get(other))?.is_cancel_requested).toBe(false);
    const mine = await call(actionToken, 'PUT', `/v1/actions/invocations/${own}/container-info`, {
      image_digest: 'sha256:abc',
    });
    expect(mine.status).toBe(200);
    expect((await call(actionToken, 'GET', `/v1/actions/invocations/${other}`)).status).toBe(200);
    const dataset = await call(actionToken, 'POST', '/v1/datasets', { name: 'made by an action' });
    expect(dataset.status).toBe(200);
  });

  it('gives the changes it makes its invocation as their lineage (a trigger never fires on its own action)', async () => {
    const created = (await call(orgToken, 'POST', '/v1/datasets', { name: 'lineage' })) as {
      status: number;
      json: { data?: { dataset_id: string } };
    };
    const datasetId = created.json.data?.dataset_id ?? '';
    expect(created.status).toBe(200);
    const tag = (token: string, tagName: string) =>
      call(token, 'PUT', `/v1/datasets/${datasetId}`, {
        metadata_changeset: { put_tags: [tagName] },
        custom_fields_changeset: null,
      });
    expect((await tag(actionToken, 'by-action')).status).toBe(200);
    expect((await tag(orgToken, 'by-org')).status).toBe(200);
    const queue = new TriggerEventQueue(server.settings.redis);
    try {
      const events = await eventually(async () => {
        const jobs = await queue.queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed']);
        const found = jobs
          .map((job) => TriggerEvent.parse(job.data))
          .filter((event) => event.dataset_id === datasetId);
        return found.length >= 2 ? found : undefined;
      });
      // Two changes, two events (in either order: they may share a millisecond).
      const lineage = events.map((event) => [event.cause, event.source_invocation_id]);
      expect(lineage).toHaveLength(2);
      expect(lineage).toEqual(
        expect.arrayContaining([
          ['dataset_metadata_update', own],
          ['dataset_metadata_update', null],
        ]),
      );
    } finally {
      await queue.close();
    }
  });
});
