import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestServer, type TestOrg, apiTestServer } from '../support/api-test-server.js';
import { invokeBody, minimalTriggerBody } from '../support/sdk-bodies.js';

/** Every key of spec §2.3's TriggerRecord: the answer carries all of them. */
const RECORD_KEYS = [
  'action',
  'additional_inputs',
  'causes',
  'compute_requirement_overrides',
  'condition',
  'container_parameter_overrides',
  'created',
  'created_by',
  'enabled',
  'for_each',
  'modified',
  'modified_by',
  'name',
  'org_id',
  'parameter_values',
  'required_inputs',
  'service_user_id',
  'timeout',
  'trigger_id',
];
const WIRE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$/;

/** The SDK's minimal create body (spec T1): all fifteen keys. */
const minimalBody = minimalTriggerBody;

type Org = TestOrg;
type Json = Record<string, unknown>;
type Item = Json & { name: string; trigger_id: string; org_id: string; created: string; modified: string };
interface Body {
  data: Item & { items: Item[]; next_token: string | null; total_count: number; digest: string };
  error: { error_code: string; message: string };
}

let server: ApiTestServer;
let orgA: Org;
let orgB: Org;
let actionDigest: string;

/** A request as the SDK makes it: bearer token, JSON body, org headers when given. */
async function call(
  method: string,
  path: string,
  options: { as?: Org; body?: unknown; caller?: string; owner?: string } = {},
): Promise<{ status: number; json: Body }> {
  const headers: Record<string, string> = { connection: 'close' };
  const as = options.as ?? orgA;
  if (options.caller !== undefined) headers['x-roboto-org-id'] = options.caller;
  if (options.owner !== undefined) headers['x-roboto-resource-owner-id'] = options.owner;
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const { status, text } = await server.request(path, { method, token: as.token, body, headers });
  return { status, json: (text === '' ? {} : JSON.parse(text)) as Body };
}

const create = (name: string, extra: Record<string, unknown> = {}, as: Org = orgA) =>
  call('POST', '/v1/triggers', { as, body: minimalBody(name, extra), caller: as.orgId });

async function createOk(name: string, extra: Record<string, unknown> = {}, as: Org = orgA): Promise<Item> {
  const { status, json } = await create(name, extra, as);
  expect(status, JSON.stringify(json)).toBe(200);
  return json.data;
}

/** An action of the org, through the API (spec A1). */
async function createAction(as: Org, name: string, extra: Record<string, unknown> = {}): Promise<Body> {
  const { status, json } = await call('POST', '/v1/actions', {
    as,
    caller: as.orgId,
    body: { name, uri: 'img:1', ...extra },
  });
  expect(status, JSON.stringify(json)).toBe(200);
  return json;
}

beforeAll(async () => {
  server = await apiTestServer({ name: 'api-triggers', orgs: ['A', 'B'], serve: true });
  [orgA, orgB] = server.orgs as [Org, Org];
  const action = await createAction(orgA, 'tag-dataset', {
    parameters: [{ name: 'p', required: false }, { name: 'mode' }],
  });
  actionDigest = action.data.digest;
  await createAction(orgB, 'b-private');
  await createAction(orgB, 'b-shared');
  expect(
    (
      await call('PUT', '/v1/actions/b-shared/accessibility', {
        as: orgB,
        body: { accessibility: 'action_hub' },
      })
    ).status,
  ).toBe(200);
});

afterAll(async () => {
  await server.close();
});

describe('serve: triggers over a real socket, real tokens and Redis (spec §3.3 T1–T8)', () => {
  it('creates a trigger in the caller org with every TriggerRecord key and the defaults (T1)', async () => {
    const record = await createOk('trig');
    expect(Object.keys(record).sort()).toEqual(RECORD_KEYS);
    expect(record).toMatchObject({
      name: 'trig',
      org_id: orgA.orgId,
      created_by: orgA.tokenId,
      modified_by: orgA.tokenId,
      action: { name: 'tag-dataset', digest: null, owner: orgA.orgId },
      required_inputs: ['**/*.bag'],
      for_each: 'dataset',
      enabled: true,
      parameter_values: {},
      additional_inputs: null,
      causes: ['file_upload', 'dataset_metadata_update'],
      condition: null,
      timeout: null,
    });
    expect(record.trigger_id).toMatch(/^tr_/);
    expect(record.service_user_id).toMatch(/^su_/);
    expect(record.created).toMatch(WIRE_TIME);
    // Without a caller header the token's one org is the caller org; an unknown key is ignored.
    const implicit = await call('POST', '/v1/triggers', { body: { ...minimalBody('implicit'), later: 1 } });
    expect(implicit.status).toBe(200);
    expect(implicit.json.data.org_id).toBe(orgA.orgId);
  });

  it("keeps the SDK's fuller call: pinned digest, overrides, condition, causes, parameters (T1)", async () => {
    const condition = {
      operator: 'AND',
      conditions: [
        { field: 'tags', comparator: 'CONTAINS', value: 'x' },
        { field: 'metadata.n', comparator: 'GREATER_THAN', value: 3 },
      ],
    };
    const record = await createOk('fuller', {
      action_digest: actionDigest,
      action_owner_id: orgA.orgId,
      additional_inputs: ['*.txt'],
      causes: ['file_upload'],
      compute_requirement_overrides: { vCPU: 1024, memory: 2048 },
      condition,
      container_parameter_overrides: { env_vars: { A: 'b' } },
      enabled: false,
      for_each: 'dataset_file',
      parameter_values: { p: 1, mode: 'fast' },
      service_user_id: 'su_1',
      timeout: 20,
    });
    expect(record).toMatchObject({
      action: { name: 'tag-dataset', digest: actionDigest, owner: orgA.orgId },
      additional_inputs: ['*.txt'],
      causes: ['file_upload'],
      compute_requirement_overrides: { vCPU: 1024, memory: 2048, gpu: false, storage: 21 },
      condition,
      container_parameter_overrides: {
        command: null,
        entry_point: null,
        env_vars: { A: 'b' },
        workdir: null,
      },
      enabled: false,
      for_each: 'dataset_file',
      parameter_values: { p: 1, mode: 'fast' },
      service_user_id: 'su_1',
      timeout: 20,
    });
    expect((await call('GET', '/v1/triggers/fuller')).json.data).toEqual(record);
  });

  it('answers 409 RobotoConflictException for a name taken in the org; another org may use it', async () => {
    await createOk('dup');
    const again = await create('dup');
    expect(again.status).toBe(409);
    expect(again.json.error.error_code).toBe('RobotoConflictException');
    await createAction(orgB, 'tag-dataset');
    expect((await create('dup', {}, orgB)).status).toBe(200);
  });

  it.each([
    ['name', { name: undefined }],
    ['action_name', { action_name: undefined }],
    ['required_inputs', { required_inputs: undefined }],
    ['required_inputs', { required_inputs: [] }],
    ['required_inputs', { required_inputs: [' '] }],
    ['additional_inputs', { additional_inputs: [] }],
    ['causes', { causes: ['recurring_schedule'] }],
    ['for_each', { for_each: 'file' }],
    ['compute_requirement_overrides', { compute_requirement_overrides: { vCPU: 3 } }],
    ['container_parameter_overrides', { container_parameter_overrides: { env_vars: { A: 1 } } }],
    ['timeout', { timeout: -1 }],
    ['condition', { condition: { field: 'x', comparator: '=' } }],
    ['parameter_values', { parameter_values: [1] }],
    ['enabled', { enabled: 'yes' }],
  ])('refuses a bad %s with 400 naming it (T1)', async (field, change) => {
    const body = Object.fromEntries(
      Object.entries({ ...minimalBody('bad'), ...change }).filter(([, value]) => value !== undefined),
    );
    const { status, json } = await call('POST', '/v1/triggers', { body });
    expect(status).toBe(400);
    expect(json.error.error_code).toBe('RobotoInvalidRequestException');
    expect(json.error.message).toContain(field);
  });

  it.each([
    ['an unknown action', { action_name: 'nope' }, 'action nope not found'],
    ['an unknown digest', { action_digest: 'f'.repeat(32) }, 'has no version'],
    ['an unknown parameter, named', { parameter_values: { p: 1, zz: 2 } }, 'zz'],
    ['a catch-all file trigger', { for_each: 'dataset_file', required_inputs: ['**/*'] }, 'every file'],
    [
      "another org's private action (read as missing)",
      { action_name: 'b-private', action_owner_id: 'OWNER_B' },
      'action b-private not found',
    ],
  ])('refuses %s with a clear 400 and stores nothing (T1)', async (_what, change, message) => {
    const body = Object.fromEntries(
      Object.entries(change).map(([key, value]) => [key, value === 'OWNER_B' ? orgB.orgId : value]),
    );
    const { status, json } = await create('refused', body);
    expect(status).toBe(400);
    expect(json.error.message).toContain(message);
    expect((await call('GET', '/v1/triggers/refused')).status).toBe(404);
  });

  it("accepts another org's action that is on the Action Hub (T1)", async () => {
    const record = await createOk('hub', { action_name: 'b-shared', action_owner_id: orgB.orgId });
    expect(record.action).toEqual({ name: 'b-shared', digest: null, owner: orgB.orgId });
  });

  it('gets by name; a missing name is 404 RobotoNotFoundException (T2)', async () => {
    const created = await createOk('get-me');
    const got = await call('GET', '/v1/triggers/get-me', { owner: orgA.orgId });
    expect(got.status).toBe(200);
    expect(got.json.data).toEqual(created);
    const missing = await call('GET', '/v1/triggers/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.json.error.error_code).toBe('RobotoNotFoundException');
  });

  it('updates only the keys present, null clears, enable/disable; validates as create (T4)', async () => {
    const created = await createOk('upd', {
      timeout: 5,
      parameter_values: { p: 1 },
      causes: ['file_ingest'],
    });
    const disabled = await call('PUT', '/v1/triggers/upd', { owner: orgA.orgId, body: { enabled: false } });
    expect(disabled.status).toBe(200);
    expect(disabled.json.data).toMatchObject({ enabled: false, timeout: 5, trigger_id: created.trigger_id });
    const cleared = await call('PUT', '/v1/triggers/upd', {
      body: { causes: null, condition: null, timeout: null },
    });
    expect(cleared.json.data).toMatchObject({
      enabled: false,
      timeout: null,
      causes: ['file_upload', 'dataset_metadata_update'],
      parameter_values: { p: 1 },
      created: created.created,
    });
    expect(Date.parse(cleared.json.data.modified)).toBeGreaterThan(Date.parse(created.modified));
    expect((await call('PUT', '/v1/triggers/upd', { body: { enabled: true } })).json.data.enabled).toBe(true);
    const unknownParameter = await call('PUT', '/v1/triggers/upd', { body: { parameter_values: { zz: 1 } } });
    expect(unknownParameter.status).toBe(400);
    expect(unknownParameter.json.error.message).toContain('zz');
    const unknownAction = await call('PUT', '/v1/triggers/upd', { body: { action_name: 'nope' } });
    expect(unknownAction.status).toBe(400);
    const badInputs = await call('PUT', '/v1/triggers/upd', { body: { required_inputs: [] } });
    expect(badInputs.status).toBe(400);
    expect(badInputs.json.error.message).toContain('required_inputs');
    // Refused updates changed nothing.
    expect((await call('GET', '/v1/triggers/upd')).json.data).toMatchObject({
      parameter_values: { p: 1 },
      action: { name: 'tag-dataset' },
      required_inputs: ['**/*.bag'],
    });
    const missing = await call('PUT', '/v1/triggers/nothing-here', { body: { enabled: false } });
    expect(missing.status).toBe(404);
  });

  it('deletes; then 404 on get and on a second delete (T5)', async () => {
    await createOk('del');
    const deleted = await call('DELETE', '/v1/triggers/del', { owner: orgA.orgId });
    expect(deleted.status).toBe(200);
    expect((await call('GET', '/v1/triggers/del')).status).toBe(404);
    expect((await call('DELETE', '/v1/triggers/del')).status).toBe(404);
  });

  it("queries the owner org's triggers with the CLI's condition shapes, paged exactly (T3, §1.9)", async () => {
    const names = ['q1', 'q2', 'q3', 'q4', 'q5'];
    for (const name of names) await createOk(name, { timeout: 7 });
    const condition = { field: 'timeout', comparator: 'EQUALS', value: 7 };
    const pages: string[][] = [];
    let after: string | null | undefined;
    let total: number | undefined;
    do {
      const { status, json } = await call('POST', '/v1/triggers/query', {
        owner: orgA.orgId,
        body: { condition, limit: 2, sort_by: 'name', sort_direction: 'ASC', ...(after ? { after } : {}) },
      });
      expect(status).toBe(200);
      pages.push(json.data.items.map((item) => item.name));
      after = json.data.next_token;
      total = json.data.total_count;
    } while (after);
    expect(pages).toEqual([['q1', 'q2'], ['q3', 'q4'], ['q5']]);
    expect(total).toBe(5);
    const byAction = await call('POST', '/v1/triggers/query', {
      body: {
        condition: {
          operator: 'AND',
          conditions: [
            { field: 'name', comparator: 'EQUALS', value: 'q3' },
            { field: 'action.name', comparator: 'EQUALS', value: 'tag-dataset' },
          ],
        },
      },
    });
    expect(byAction.json.data.items.map((item) => item.name)).toEqual(['q3']);
    expect(byAction.json.data.next_token).toBeNull();
    const everything = await call('POST', '/v1/triggers/query', { body: {} });
    expect(everything.json.data.items.every((item) => item.org_id === orgA.orgId)).toBe(true);
    const badField = await call('POST', '/v1/triggers/query', {
      body: { condition: { field: 'nope', comparator: 'EQUALS', value: 1 } },
    });
    expect(badField.status).toBe(400);
    expect(badField.json.error.message).toContain('nope');
    expect((await call('POST', '/v1/triggers/query', { body: { after: '!!' } })).status).toBe(400);
    expect((await call('POST', '/v1/triggers/query', { body: { limit: 0 } })).status).toBe(400);
  });

  it('answers empty evaluation pages for now, and 404 for a missing trigger or dataset (T6, T7)', async () => {
    await createOk('evals');
    const evaluations = await call('GET', '/v1/triggers/evals/evaluations?limit=1');
    expect(evaluations.status).toBe(200);
    expect(evaluations.json.data).toEqual({ items: [], next_token: null });
    expect((await call('GET', '/v1/triggers/nothing-here/evaluations')).status).toBe(404);
    expect((await call('GET', '/v1/triggers/evals/evaluations?limit=0')).status).toBe(400);
    expect((await call('GET', '/v1/triggers/evals/evaluations?page_token=!!')).status).toBe(400);
    const dataset = await call('POST', '/v1/datasets', { caller: orgA.orgId, body: { name: 'd' } });
    const datasetId = (dataset.json.data as Json).dataset_id as string;
    const forDataset = await call('GET', `/v1/triggers/dataset/id/${datasetId}/evaluations`);
    expect(forDataset.status).toBe(200);
    expect(forDataset.json.data).toEqual({ items: [], next_token: null });
    const missing = await call('GET', '/v1/triggers/dataset/id/ds_missing/evaluations');
    expect(missing.status).toBe(404);
    expect(missing.json.error.error_code).toBe('RobotoDatasetNotFoundException');
  });

  it("finds a trigger's invocations with I2 on provenance.source.source_id (T8)", async () => {
    const trigger = await createOk('t8');
    const invoked = await call('POST', `/v1/actions/tag-dataset/invoke?digest=${actionDigest}`, {
      caller: orgA.orgId,
      body: invokeBody({ invocation_source: 'Trigger', invocation_source_id: trigger.trigger_id }),
    });
    expect(invoked.status, JSON.stringify(invoked.json)).toBe(200);
    const found = await call('POST', '/v1/actions/invocations/query', {
      owner: orgA.orgId,
      body: {
        condition: { field: 'provenance.source.source_id', comparator: 'EQUALS', value: trigger.trigger_id },
      },
    });
    expect(found.status).toBe(200);
    expect(found.json.data.items.map((item) => item.invocation_id)).toEqual([
      invoked.json.data.invocation_id,
    ]);
  });

  it('stores the trigger id for an invoke naming its trigger by name, as Trigger.invoke does (T9, §4.5)', async () => {
    const trigger = await createOk('t9');
    const invoke = (as: Org, sourceId: string) =>
      call('POST', '/v1/actions/tag-dataset/invoke', {
        as,
        caller: as.orgId,
        body: { invocation_source: 'Trigger', invocation_source_id: sourceId, parameter_values: {} },
      });
    const invoked = await invoke(orgA, 't9');
    expect(invoked.status, JSON.stringify(invoked.json)).toBe(200);
    const bySource = async (as: Org, value: string) =>
      (
        await call('POST', '/v1/actions/invocations/query', {
          as,
          body: { condition: { field: 'provenance.source.source_id', comparator: 'EQUALS', value } },
        })
      ).json.data.items.map((item) => item.invocation_id);
    expect(await bySource(orgA, trigger.trigger_id)).toEqual([invoked.json.data.invocation_id]);
    // Another org naming A's trigger keeps the name it sent: it never learns A's trigger id.
    const other = await invoke(orgB, 't9');
    expect(other.status, JSON.stringify(other.json)).toBe(200);
    expect(await bySource(orgB, 't9')).toEqual([other.json.data.invocation_id]);
    expect(await bySource(orgB, trigger.trigger_id)).toEqual([]);
  });

  describe("another org's trigger answers exactly like a missing one, on every route", () => {
    it('T2, T4, T5, T6 with the owner header naming the other org, or with its own token', async () => {
      await createOk('secret', { timeout: 3 });
      const routes: [string, string, unknown][] = [
        ['GET', '/v1/triggers/secret', undefined],
        ['PUT', '/v1/triggers/secret', { enabled: false }],
        ['GET', '/v1/triggers/secret/evaluations', undefined],
        ['DELETE', '/v1/triggers/secret', undefined],
      ];
      for (const [method, path, body] of routes) {
        const missingPath = path.replace('secret', 'never-made');
        // B's token, B's org: A's trigger is not there.
        const attack = await call(method, path, { as: orgB, body });
        const missing = await call(method, missingPath, { as: orgB, body });
        expect(attack.status, `${method} ${path}`).toBe(404);
        expect(attack.json.error).toEqual({
          ...missing.json.error,
          message: missing.json.error.message.replace('never-made', 'secret'),
        });
        // B's token naming A as the owner.
        const named = await call(method, path, { as: orgB, body, owner: orgA.orgId });
        expect(named.status, `${method} ${path} owner A`).toBe(404);
        expect(named.json.error.error_code).toBe('RobotoNotFoundException');
        // B's token claiming A as the caller org is refused outright.
        expect((await call(method, path, { as: orgB, body, caller: orgA.orgId })).status).toBe(403);
      }
      // Nothing changed.
      expect((await call('GET', '/v1/triggers/secret')).json.data).toMatchObject({
        enabled: true,
        timeout: 3,
      });
    });

    it('T3: a query of the other org finds nothing; T7: its dataset is not found; T1 lands in the own org', async () => {
      await createOk('secret-q');
      const named = await call('POST', '/v1/triggers/query', { as: orgB, owner: orgA.orgId, body: {} });
      expect(named.status).toBe(200);
      expect(named.json.data).toEqual({ items: [], next_token: null, total_count: 0 });
      const own = await call('POST', '/v1/triggers/query', { as: orgB, body: {} });
      expect(own.json.data.items.map((item) => item.org_id)).not.toContain(orgA.orgId);
      const dataset = await call('POST', '/v1/datasets', { caller: orgA.orgId, body: { name: 'a-only' } });
      const datasetId = (dataset.json.data as Json).dataset_id as string;
      const other = await call('GET', `/v1/triggers/dataset/id/${datasetId}/evaluations`, { as: orgB });
      expect(other.status).toBe(404);
      expect(other.json.error.error_code).toBe('RobotoDatasetNotFoundException');
      expect(
        (
          await call('GET', `/v1/triggers/dataset/id/${datasetId}/evaluations`, {
            as: orgB,
            owner: orgA.orgId,
          })
        ).status,
      ).toBe(404);
      // A trigger created by B with A's trigger name lands in B, and leaves A's alone.
      const mine = await create('secret-q', { action_name: 'tag-dataset' }, orgB);
      expect(mine.status).toBe(200);
      expect(mine.json.data.org_id).toBe(orgB.orgId);
      // B cannot point a trigger at A's private action.
      const aimed = await create('aimed', { action_owner_id: orgA.orgId }, orgB);
      expect(aimed.status).toBe(400);
      expect(aimed.json.error.message).toContain('not found');
      // Nor retarget one of its own there.
      const retarget = await call('PUT', '/v1/triggers/secret-q', {
        as: orgB,
        body: { action_owner_id: orgA.orgId },
      });
      expect(retarget.status).toBe(400);
      expect(retarget.json.error.message).toContain('not found');
      expect((await call('GET', '/v1/triggers/secret-q', { as: orgB })).json.data.action).toEqual({
        name: 'tag-dataset',
        digest: null,
        owner: orgB.orgId,
      });
    });
  });
});
