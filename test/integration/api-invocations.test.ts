import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvocationQueue, recordPrefix } from '../../src/adapters/bullmq/invocation-queue.js';
import { RedisInvocationStore } from '../../src/adapters/redis/redis-invocation-store.js';
import type { Caller } from '../../src/api/org-scope.js';
import { startApiServer } from '../../src/app/api-server.js';
import { WorkerSettings } from '../../src/config/worker-settings.js';
import { ActionRecord } from '../../src/domain/action-record.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { InvocationRecordWire } from '../../src/domain/invocation-wire.js';
import type { ActionLookup } from '../../src/ports/action-store.js';
import { type ApiTestServer, MapAuthenticator, apiTestServer } from '../support/api-test-server.js';
import { PrivateRedis } from '../support/private-redis.js';
import { TEST_REDIS_URL as REDIS_URL, testKeyPrefix } from '../support/redis-stores.js';
import { invokeBody } from '../support/sdk-bodies.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const KEY_PREFIX = testKeyPrefix('api-inv');

const TOKEN_A = 'tok-inv-a-0f9e8d7c6b5a';
const TOKEN_B = 'tok-inv-b-1a2b3c4d5e6f';
const TOKEN_C = 'tok-inv-c-9a8b7c6d5e4f';
/** Org D: only the cancel-all tests invoke there, so they count exactly their own invocations. */
const TOKEN_D = 'tok-inv-d-5e4f3a2b1c0d';
const TOKENS = new Map<string, Caller>([
  [TOKEN_A, { orgId: 'og_a', tokenId: 'tk_a' }],
  [TOKEN_B, { orgId: 'og_b', tokenId: 'tk_b' }],
  [TOKEN_C, { orgId: 'og_c', tokenId: 'tk_c' }],
  [TOKEN_D, { orgId: 'og_d', tokenId: 'tk_d' }],
]);
const authenticator = new MapAuthenticator(TOKENS);

/** Registered actions in a Map: the ActionLookup port as the actions store will answer it. */
class MapActions implements ActionLookup {
  private readonly versions: ActionRecord[] = [];
  add(fields: Partial<ActionRecord> & { name: string; org_id: string; digest: string }): ActionRecord {
    const record = ActionRecord.parse({
      created: '2026-01-01T00:00:00Z',
      created_by: 'u1',
      modified: new Date().toISOString(),
      modified_by: 'u1',
      accessibility: 'organization',
      published: null,
      description: null,
      short_description: null,
      uri: null,
      inherits: null,
      compute_requirements: null,
      container_parameters: null,
      parameters: [],
      requires_downloaded_inputs: null,
      metadata: {},
      tags: [],
      timeout: null,
      ...fields,
    });
    this.versions.push(record);
    return record;
  }
  getAction(orgId: string, name: string, digest?: string): Promise<ActionRecord | undefined> {
    const matching = this.versions.filter(
      (version) =>
        version.org_id === orgId &&
        version.name === name &&
        (digest === undefined || version.digest === digest),
    );
    return Promise.resolve(matching.at(-1));
  }
}

const actions = new MapActions();
let server: ApiTestServer;
let store: RedisInvocationStore;
let queue: InvocationQueue;

interface Answer {
  status: number;
  json: { data: unknown; error: { error_code: string; message: string } };
}

async function call(
  path: string,
  init: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer & { data: Record<string, unknown> }> {
  const answer = await server.request(path, { ...init, token: init.token ?? TOKEN_A });
  const json = JSON.parse(answer.text) as Answer['json'];
  return { status: answer.status, json, data: json.data as Record<string, unknown> };
}

const invoke = (
  name: string,
  digest: string,
  body: Record<string, unknown> = {},
  token = TOKEN_A,
  headers = {},
) => call(`/v1/actions/${name}/invoke?digest=${digest}`, { body: invokeBody(body), token, headers });

async function invokeOk(
  name = 'tag-dataset',
  digest = 'd1',
  body: Record<string, unknown> = {},
  token = TOKEN_A,
) {
  const answer = await invoke(name, digest, body, token);
  expect(answer.status, JSON.stringify(answer.json)).toBe(200);
  return InvocationRecordWire.parse(answer.data);
}

let datasetA = '';

beforeAll(async () => {
  server = await apiTestServer({
    name: 'api-inv',
    settings: { redis: { keyPrefix: KEY_PREFIX }, defaultTimeoutMinutes: 45 },
    server: {
      authenticator,
      actions,
      invocationTuning: { cancelAllBatch: 2, logPageSize: 2 },
    },
  });
  const { settings } = server;
  store = new RedisInvocationStore({ redis: settings.redis.url, prefix: recordPrefix(settings.redis) });
  queue = new InvocationQueue(settings.redis);
  actions.add({
    name: 'tag-dataset',
    org_id: 'og_a',
    digest: 'd1',
    uri: 'img:1',
    timeout: 30,
    compute_requirements: { vCPU: 1024, memory: 2048, gpu: false, storage: 21 },
    container_parameters: { command: null, entry_point: null, env_vars: { A: '1' }, workdir: null },
    parameters: [
      { name: 'threshold', required: true, description: null, default: null },
      { name: 'mode', required: false, description: null, default: 'fast' },
    ],
  });
  actions.add({ name: 'plain', org_id: 'og_a', digest: 'p1', uri: 'img:plain' });
  actions.add({ name: 'plain', org_id: 'og_c', digest: 'pc', uri: 'img:plain' });
  actions.add({ name: 'plain', org_id: 'og_d', digest: 'pd', uri: 'img:plain' });
  actions.add({
    name: 'hub-action',
    org_id: 'og_a',
    digest: 'h1',
    uri: 'img:hub',
    accessibility: 'action_hub',
  });
  actions.add({
    name: 'child',
    org_id: 'og_a',
    digest: 'c1',
    inherits: { name: 'tag-dataset', digest: 'd1', owner: null },
    compute_requirements: { vCPU: 2048, memory: 4096, gpu: false, storage: 21 },
  });
  actions.add({
    name: 'loop-1',
    org_id: 'og_a',
    digest: 'l1',
    inherits: { name: 'loop-2', digest: null, owner: null },
  });
  actions.add({
    name: 'loop-2',
    org_id: 'og_a',
    digest: 'l2',
    inherits: { name: 'loop-1', digest: null, owner: null },
  });
  const dataset = await call('/v1/datasets', {
    body: { name: 'in', description: null, device_id: null, metadata: {}, tags: [], custom_fields: null },
  });
  expect(dataset.status).toBe(200);
  datasetA = dataset.data.dataset_id as string;
});

afterAll(async () => {
  await store.close();
  await queue.close();
  await server.close();
  await removeTempDirs();
});

describe('POST /v1/actions/{name}/invoke (spec A8)', () => {
  it('creates a Queued invocation with every field of spec §2.2 and queues its job', async () => {
    const wire = await invokeOk('tag-dataset', 'd1', {
      parameter_values: { threshold: 0.75 },
      compute_requirement_overrides: { vCPU: 4096, memory: 8192 },
      container_parameter_overrides: { env_vars: { X: 'y' } },
      input_data: ['**/*.bag'],
      data_source_id: datasetA,
      upload_destination: { destination_type: 'Dataset', destination_id: datasetA },
      timeout: 5,
    });
    expect(wire).toMatchObject({
      org_id: 'og_a',
      last_status: 0,
      status: [{ status: 0, detail: null }],
      data_source: { data_source_type: 'Dataset', data_source_id: datasetA },
      input_data: ['**/*.bag'],
      rich_input_data: { files: [{ dataset_id: datasetA, paths: ['**/*.bag'] }], topics: null },
      upload_destination: { destination_type: 'Dataset', destination_id: datasetA },
      compute_requirements: { vCPU: 4096, memory: 8192, gpu: false, storage: 21 },
      container_parameters: { env_vars: { A: '1', X: 'y' } },
      parameter_values: { threshold: '0.75' },
      provenance: {
        action: { name: 'tag-dataset', org_id: 'og_a', digest: 'd1' },
        executable: { container_image_uri: 'img:1', container_image_digest: null },
        source: { source_type: 'Manual', source_id: 'tk_a' },
      },
      last_heartbeat: null,
      duration: 'PT0S',
      timeout: 5,
      idempotency_id: null,
    });
    expect(wire.invocation_id).toMatch(/^iv_/);
    const job = await queue.queue.getJob(wire.invocation_id);
    expect(job?.data).toEqual({ invocation_id: wire.invocation_id });
    // The record is the one `action-worker invoke` would have stored: the daemon's request.
    const stored = await store.get(wire.invocation_id);
    expect(stored?.request).toMatchObject({ action: { image: 'img:1' }, timeout_minutes: 5, org_id: 'og_a' });
  });

  it("takes the action's timeout, else the configured default, and runs latest without a digest", async () => {
    expect((await invokeOk('tag-dataset', 'd1', { parameter_values: { threshold: 1 } })).timeout).toBe(30);
    expect((await invokeOk('plain', 'p1')).timeout).toBe(45);
    const latest = await call('/v1/actions/plain/invoke', { body: invokeBody() });
    expect(latest.status).toBe(200);
  });

  it('resolves inherits: image and parameters of the parent, its own compute requirements', async () => {
    const wire = await invokeOk('child', 'c1', { parameter_values: { threshold: true } });
    expect(wire.provenance.executable.container_image_uri).toBe('img:1');
    expect(wire.provenance.action).toEqual({ name: 'child', org_id: 'og_a', digest: 'c1' });
    expect(wire.compute_requirements.vCPU).toBe(2048);
    expect(wire.parameter_values).toEqual({ threshold: 'True' });
    expect(wire.timeout).toBe(30);
    const loop = await invoke('loop-1', 'l1');
    expect(loop.status).toBe(400);
    expect(loop.json.error.message).toMatch(/inherits from itself/);
  });

  it('refuses undeclared and missing required parameters, bad selectors and unknown datasets', async () => {
    const undeclared = await invoke('tag-dataset', 'd1', { parameter_values: { threshold: 1, nope: 2 } });
    expect(undeclared.status).toBe(400);
    expect(undeclared.json.error.error_code).toBe('RobotoInvalidRequestException');
    expect((await invoke('tag-dataset', 'd1', { parameter_values: {} })).status).toBe(400);
    const selector = await invoke('plain', 'p1', { rich_input_data: { files: { dataset_id: datasetA } } });
    expect(selector.status).toBe(400);
    const noSource = await invoke('plain', 'p1', { input_data: ['*.bag'] });
    expect(noSource.status).toBe(400);
    const missing = await invoke('plain', 'p1', { input_data: ['*.bag'], data_source_id: 'ds_nowhere' });
    expect(missing.status).toBe(404);
    expect(missing.json.error.error_code).toBe('RobotoDatasetNotFoundException');
    // Org B may not point an invocation at org A's dataset.
    const foreign = await invoke(
      'hub-action',
      'h1',
      { input_data: ['*'], data_source_id: datasetA },
      TOKEN_B,
      {
        'x-roboto-resource-owner-id': 'og_a',
      },
    );
    expect(foreign.status).toBe(404);
    // Without inputs the data source is still the action's dataset and where its outputs go.
    const foreignSource = await invoke('hub-action', 'h1', { data_source_id: datasetA }, TOKEN_B, {
      'x-roboto-resource-owner-id': 'og_a',
    });
    expect(foreignSource.status).toBe(404);
    expect(foreignSource.json.error.error_code).toBe('RobotoDatasetNotFoundException');
    const compute = await invoke('plain', 'p1', { compute_requirement_overrides: { vCPU: 1024, memory: 1 } });
    expect(compute.status).toBe(400);
  });

  it('answers 404 for an unknown name or digest and for another org’s action; action_hub is invokable', async () => {
    expect((await invoke('no-such', 'x')).status).toBe(404);
    expect((await invoke('plain', 'wrong-digest')).status).toBe(404);
    const other = await invoke('plain', 'p1', {}, TOKEN_B, { 'x-roboto-resource-owner-id': 'og_a' });
    expect(other.status).toBe(404);
    expect(other.json.error.error_code).toBe('RobotoNotFoundException');
    // Org B's own "plain" does not exist: the name in org A is not found from B.
    expect((await invoke('plain', 'p1', {}, TOKEN_B)).status).toBe(404);
    // Caller org header naming an org the token is not in.
    expect((await invoke('plain', 'p1', {}, TOKEN_B, { 'x-roboto-org-id': 'og_a' })).status).toBe(403);
    const hub = await invoke('hub-action', 'h1', {}, TOKEN_B, { 'x-roboto-resource-owner-id': 'og_a' });
    expect(hub.status).toBe(200);
    expect(hub.data).toMatchObject({ org_id: 'og_b', provenance: { action: { org_id: 'og_a' } } });
  });

  it('answers 409 RobotoConflictException to a reused idempotency_id in the same org, not in another', async () => {
    const first = await invokeOk('plain', 'p1', { idempotency_id: 'nightly-1' });
    const again = await invoke('plain', 'p1', { idempotency_id: 'nightly-1' });
    expect(again.status).toBe(409);
    expect(again.json.error.error_code).toBe('RobotoConflictException');
    const otherOrg = await invokeOk('plain', 'pc', { idempotency_id: 'nightly-1' }, TOKEN_C);
    expect(otherOrg.invocation_id).not.toBe(first.invocation_id);
  });

  it('refuses malformed bodies with 400', async () => {
    for (const body of [
      invokeBody({ parameter_values: 5 }),
      invokeBody({ data_source_type: 'dataset' }),
      invokeBody({ invocation_source: 'manual' }),
      invokeBody({ timeout: 0 }),
    ]) {
      const answer = await call('/v1/actions/plain/invoke?digest=p1', { body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
    }
    expect((await call('/v1/actions/plain/invoke?digest=p1', { body: '{"oops' })).status).toBe(400);
  });
});

describe('invocations by id (spec I1, I3, I4, I6, I7)', () => {
  it('gets its own invocation; another org’s and a missing one answer 404 alike', async () => {
    const wire = await invokeOk('plain', 'p1');
    const got = await call(`/v1/actions/invocations/${wire.invocation_id}`);
    expect(got.status).toBe(200);
    expect(InvocationRecordWire.parse(got.data)).toEqual({ ...wire, duration: 'PT0S' });
    const foreign = await call(`/v1/actions/invocations/${wire.invocation_id}`, { token: TOKEN_B });
    const missing = await call('/v1/actions/invocations/iv_missing000000', { token: TOKEN_B });
    expect(foreign.status).toBe(404);
    expect(foreign.json.error.error_code).toBe(missing.json.error.error_code);
    expect(foreign.json.error.message.replace(wire.invocation_id, 'X')).toBe(
      missing.json.error.message.replace('iv_missing000000', 'X'),
    );
  });

  it('answers 404 for a record it cannot read, to its org and any other (a 500 would confirm the id)', async () => {
    const { invocation_id: id } = await invokeOk('plain', 'p1');
    const redis = new Redis(REDIS_URL);
    await redis.hset(`${KEY_PREFIX}:records:inv:${id}`, 'last_status', 'Processing');
    await redis.quit();
    for (const token of [TOKEN_A, TOKEN_B]) {
      const answer = await call(`/v1/actions/invocations/${id}`, { token });
      expect(answer.status).toBe(404);
      expect(answer.json.error.error_code).toBe('RobotoNotFoundException');
    }
  });

  it('updates the status by the transition rules: replays are no-ops, illegal moves 400', async () => {
    const { invocation_id: id } = await invokeOk('plain', 'p1');
    const path = `/v1/actions/invocations/${id}/status`;
    const scheduled = await call(path, { body: { status: 1, detail: 'None' } });
    expect(scheduled.status).toBe(200);
    expect(scheduled.data.status).toEqual([
      expect.objectContaining({ status: 0 }),
      expect.objectContaining({ status: 1, detail: 'None' }),
    ]);
    const replay = await call(path, { body: { status: '1', detail: 'None' } });
    expect((replay.data.status as unknown[]).length).toBe(2);
    expect((await call(path, { body: { status: 3, detail: 'running' } })).data.last_status).toBe(3);
    const back = await call(path, { body: { status: 0, detail: null } });
    expect(back.status).toBe(400);
    expect(back.json.error.error_code).toBe('RobotoInvalidStateTransitionException');
    expect((await call(path, { body: { status: 'Processing' } })).status).toBe(400);
    expect((await call(path, { body: { status: 42 } })).status).toBe(400);
    expect((await call(path, { body: {} })).status).toBe(400);
    expect((await call(path, { body: { status: 5 }, token: TOKEN_B })).status).toBe(404);
    const done = await call(path, { body: { status: 5, detail: null } });
    expect(done.data).toMatchObject({ last_status: 5 });
    expect((done.data.duration as string).startsWith('PT')).toBe(true);
  });

  it('cancels a Queued invocation (no body, no content type): Cancelled, out of the queue', async () => {
    const { invocation_id: id } = await invokeOk('plain', 'p1');
    expect(await queue.queue.getJob(id)).toBeDefined();
    expect(
      (await call(`/v1/actions/invocations/${id}/cancel`, { method: 'POST', token: TOKEN_B })).status,
    ).toBe(404);
    expect((await store.get(id))?.last_status).toBe(InvocationStatus.Queued);
    const cancelled = await call(`/v1/actions/invocations/${id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.data.last_status).toBe(InvocationStatus.Cancelled);
    expect(await queue.queue.getJob(id)).toBeUndefined();
    // Again, on a terminal one: 2xx and nothing changes.
    const again = await call(`/v1/actions/invocations/${id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(200);
    expect((again.data.status as unknown[]).length).toBe(2);
  });

  it('records the container digest in provenance and accepts a logs location', async () => {
    const { invocation_id: id } = await invokeOk('plain', 'p1');
    const info = await call(`/v1/actions/invocations/${id}/container-info`, {
      method: 'PUT',
      body: { image_digest: 'sha256:abc' },
    });
    expect(info.status).toBe(200);
    expect(InvocationRecordWire.parse(info.data).provenance.executable).toEqual({
      container_image_uri: 'img:plain',
      container_image_digest: 'sha256:abc',
    });
    const foreign = await call(`/v1/actions/invocations/${id}/container-info`, {
      method: 'PUT',
      body: { image_digest: 'sha256:evil' },
      token: TOKEN_B,
    });
    expect(foreign.status).toBe(404);
    expect((await store.get(id))?.image?.digest).toBe('sha256:abc');
    expect(
      (await call(`/v1/actions/invocations/${id}/container-info`, { method: 'PUT', body: {} })).status,
    ).toBe(400);
    const logs = await call(`/v1/actions/invocations/${id}/logs`, {
      method: 'PUT',
      body: { bucket: 'b', prefix: 'p/' },
    });
    expect(logs.status).toBe(200);
    expect(logs.data.invocation_id).toBe(id);
    const foreignLogs = await call(`/v1/actions/invocations/${id}/logs`, {
      method: 'PUT',
      body: { bucket: 'b', prefix: 'p/' },
      token: TOKEN_B,
    });
    expect(foreignLogs.status).toBe(404);
  });
});

describe('POST /v1/actions/invocations/query (spec I2)', () => {
  it('queries by provenance fields, pages by next_token, and sees only its org', async () => {
    const made = [
      await invokeOk('hub-action', 'h1'),
      await invokeOk('hub-action', 'h1'),
      await invokeOk('hub-action', 'h1'),
    ];
    const condition = { field: 'provenance.action.name', comparator: 'EQUALS', value: 'hub-action' };
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const answer = await call('/v1/actions/invocations/query', {
        body: {
          condition,
          limit: 2,
          sort_by: 'created',
          sort_direction: 'DESC',
          ...(after ? { after } : {}),
        },
      });
      expect(answer.status).toBe(200);
      const data = answer.data as { items: unknown[]; next_token: string | null };
      seen.push(...data.items.map((item) => InvocationRecordWire.parse(item).invocation_id));
      after = data.next_token;
      pages += 1;
    } while (after);
    expect(pages).toBe(2);
    expect(seen).toEqual(made.map((wire) => wire.invocation_id).reverse());

    // Org B invoked hub-action too (above), but sees only its own; org A's are not in its answers.
    const fromB = await call('/v1/actions/invocations/query', { body: { condition }, token: TOKEN_B });
    const itemsB = (fromB.data as { items: { org_id: string }[] }).items;
    expect(itemsB.every((item) => item.org_id === 'og_b')).toBe(true);
    const asA = await call('/v1/actions/invocations/query', {
      body: {},
      token: TOKEN_B,
      headers: { 'x-roboto-resource-owner-id': 'og_a' },
    });
    expect(asA.data).toEqual({ items: [], next_token: null });

    const bySource = await call('/v1/actions/invocations/query', {
      body: {
        condition: { field: 'provenance.source.source_id', comparator: 'EQUALS', value: 'tk_a' },
        limit: 1,
      },
    });
    expect((bySource.data as { next_token: string | null }).next_token).not.toBeNull();
  });

  it('answers a LIKE that a backtracking regex would take hours on (one request would stall serve)', async () => {
    // Org C's own invocation, with a long value it chose; `%a%a…%b` against it is O(n^k) for a regex.
    const long = 'a'.repeat(4000);
    const made = await invokeOk('plain', 'pc', { invocation_source_id: long }, TOKEN_C);
    const pattern = `${'%a'.repeat(12)}%b`;
    const answer = await call('/v1/actions/invocations/query', {
      body: { condition: { field: 'provenance.source.source_id', comparator: 'LIKE', value: pattern } },
      token: TOKEN_C,
    });
    expect(answer.status).toBe(200);
    expect(answer.data).toEqual({ items: [], next_token: null });
    const matching = await call('/v1/actions/invocations/query', {
      body: {
        condition: { field: 'provenance.source.source_id', comparator: 'LIKE', value: `${'%a'.repeat(12)}%` },
      },
      token: TOKEN_C,
    });
    const items = (matching.data as { items: { invocation_id: string }[] }).items;
    expect(items.map((item) => item.invocation_id)).toEqual([made.invocation_id]);
  });

  it('refuses malformed queries with 400', async () => {
    for (const body of [
      { limit: 5000 },
      { sort_direction: 'desc' },
      { condition: { field: 'current_status', comparator: 'EQUALS', value: 1 } },
      { condition: { field: 'last_status', comparator: '=', value: 1 } },
      { after: 'garbage!' },
    ]) {
      const answer = await call('/v1/actions/invocations/query', { body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
    }
  });
});

describe('POST /v1/actions/invocations/cancel/all (spec I5)', () => {
  it('cancels a bounded batch per call and says has_more until none is left', async () => {
    const made = [];
    for (let i = 0; i < 3; i += 1) made.push(await invokeOk('plain', 'pd', {}, TOKEN_D));
    // As the CLI sends it: microseconds and a Z.
    const createdBefore = new Date(Date.now() + 1000).toISOString().replace('Z', '123Z');
    // Another org's call touches none of them.
    const fromB = await call('/v1/actions/invocations/cancel/all', {
      body: { created_before: createdBefore },
      token: TOKEN_B,
    });
    expect(fromB.status).toBe(200);
    expect((await store.get(made[0]?.invocation_id ?? ''))?.last_status).toBe(InvocationStatus.Queued);
    const notYet = await call('/v1/actions/invocations/cancel/all', {
      body: { created_before: '2020-01-01T00:00:00Z' },
      token: TOKEN_D,
    });
    expect(notYet.data).toEqual({ success_count: 0, failure_count: 0, has_more: false });

    const first = await call('/v1/actions/invocations/cancel/all', {
      body: { created_before: createdBefore },
      token: TOKEN_D,
    });
    expect(first.data).toEqual({ success_count: 2, failure_count: 0, has_more: true });
    const second = await call('/v1/actions/invocations/cancel/all', {
      body: { created_before: createdBefore },
      token: TOKEN_D,
    });
    expect(second.data).toEqual({ success_count: 1, failure_count: 0, has_more: false });
    const third = await call('/v1/actions/invocations/cancel/all', {
      body: { created_before: createdBefore },
      token: TOKEN_D,
    });
    expect(third.data).toEqual({ success_count: 0, failure_count: 0, has_more: false });
    for (const wire of made)
      expect((await store.get(wire.invocation_id))?.last_status).toBe(InvocationStatus.Cancelled);
    expect(
      (
        await call('/v1/actions/invocations/cancel/all', {
          body: { created_before: 'yesterday' },
          token: TOKEN_D,
        })
      ).status,
    ).toBe(400);
  });

  it('does not count a running invocation again once its worker was asked to stop', async () => {
    const { invocation_id: id } = await invokeOk('plain', 'pd', {}, TOKEN_D);
    // A worker took it: the job is held, the record Processing.
    await queue.queue.remove(id);
    await store.transition(id, InvocationStatus.Scheduled, null);
    await store.transition(id, InvocationStatus.Processing, null);
    const first = await call('/v1/actions/invocations/cancel/all', {
      body: { created_before: null },
      token: TOKEN_D,
    });
    expect(first.data).toMatchObject({ success_count: 1, has_more: false });
    expect((await store.get(id))?.is_cancel_requested).toBe(true);
    const second = await call('/v1/actions/invocations/cancel/all', { body: {}, token: TOKEN_D });
    expect(second.data).toEqual({ success_count: 0, failure_count: 0, has_more: false });
  });
});

describe('invocation logs (spec I8, I9)', () => {
  const logsOf = (id: string, query = '', token = TOKEN_A) =>
    call(`/v1/actions/invocations/${id}/logs${query}`, { token });
  const streamOf = (id: string, query = '') => call(`/v1/actions/invocations/${id}/logs/stream${query}`);

  it('pages a finished invocation’s stored log, oldest first, long lines whole', async () => {
    const { invocation_id: id } = await invokeOk('plain', 'p1');
    await store.setLog(
      id,
      [
        '2026-11-30T10:00:00.000Z stdout  one',
        '2026-11-30T10:00:01.000Z stderr+ tw',
        '2026-11-30T10:00:01.000Z stderr  o',
        '2026-11-30T10:00:02.000Z stdout  three',
      ].join('\n'),
    );
    await store.transition(id, InvocationStatus.Completed, null);
    const first = await logsOf(id);
    expect(first.status).toBe(200);
    const page1 = first.data as {
      items: { log: string; partial_id: null; process: string; timestamp: string }[];
      next_token: string;
    };
    expect(page1.items).toEqual([
      { partial_id: null, log: 'one', process: 'action', timestamp: '2026-11-30T10:00:00.000Z' },
      { partial_id: null, log: 'two', process: 'action', timestamp: '2026-11-30T10:00:01.000Z' },
    ]);
    const second = await logsOf(id, `?page_token=${page1.next_token}`);
    expect(second.data).toEqual({
      items: [{ partial_id: null, log: 'three', process: 'action', timestamp: '2026-11-30T10:00:02.000Z' }],
      next_token: null,
    });
    expect((await logsOf(id, '', TOKEN_B)).status).toBe(404);
    expect((await logsOf(id, '?page_token=nonsense!')).status).toBe(400);
  });

  it('streams a running invocation’s live output by cursor, echoing it when nothing is new', async () => {
    const { invocation_id: id } = await invokeOk('plain', 'p1');
    await store.startAttempt(id, 1);
    await store.transition(id, InvocationStatus.Scheduled, null, { attempt: 1 });
    await store.appendLiveLog(id, 1, 'a\nb\nc\npart');
    const first = await streamOf(id);
    expect(first.status).toBe(200);
    const data1 = first.data as { items: { log: string }[]; has_next: boolean; last_read: string };
    expect(data1.items.map((item) => item.log)).toEqual(['a', 'b']);
    expect(data1.has_next).toBe(true);
    const second = await streamOf(id, `?last_read=${data1.last_read}`);
    const data2 = second.data as { items: { log: string }[]; has_next: boolean; last_read: string };
    // The unfinished "part" is not a line yet.
    expect(data2.items.map((item) => item.log)).toEqual(['c']);
    expect(data2.has_next).toBe(false);
    const idle = await streamOf(id, `?last_read=${data2.last_read}`);
    expect(idle.data).toEqual({ items: [], has_next: false, last_read: data2.last_read });
    await store.appendLiveLog(id, 1, 'ial\n');
    const more = await streamOf(id, `?last_read=${data2.last_read}`);
    expect((more.data as { items: { log: string }[] }).items.map((item) => item.log)).toEqual(['partial']);
    // The paged endpoint reads the same live lines.
    expect(((await logsOf(id)).data as { items: unknown[] }).items).toHaveLength(2);
    expect((await call(`/v1/actions/invocations/${id}/logs/stream`, { token: TOKEN_B })).status).toBe(404);
    const empty = await invokeOk('plain', 'p1');
    expect((await streamOf(empty.invocation_id)).data).toEqual({
      items: [],
      has_next: false,
      last_read: null,
    });
  });
});

describe('serve with the queue', () => {
  it('shuts down although the Redis under its queue is gone', async () => {
    const redis = await PrivateRedis.create();
    const settings = WorkerSettings.parse({
      storeDir: await tempDir('api-inv-down'),
      redis: { url: redis.url, keyPrefix: KEY_PREFIX },
      api: { host: '127.0.0.1', port: 0, shutdownGraceMs: 1000 },
    });
    const own = await startApiServer(settings, { logger: pino({ level: 'silent' }), authenticator, actions });
    try {
      const response = await fetch(`${own.url}/v1/actions/plain/invoke?digest=p1`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN_A}`, 'content-type': 'application/json' },
        body: JSON.stringify(invokeBody()),
      });
      // The queue connected and took the job.
      expect(response.status).toBe(200);
      await redis.stop();
      await own.stop();
    } finally {
      await redis.stop();
    }
  });
});
