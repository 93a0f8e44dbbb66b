import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TriggerEvaluator } from '../../src/app/trigger-evaluator.js';
import { TriggerEvaluationRecord } from '../../src/domain/trigger-record.js';
import type { DataStore } from '../../src/ports/data-store.js';
import { type ApiTestServer, type TestOrg, apiTestServer } from '../support/api-test-server.js';
import { type EvaluatorBackends, openEvaluatorBackends } from '../support/evaluator-backends.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

type Org = TestOrg;
type Body = {
  data: { items: Record<string, unknown>[]; next_token: string | null };
  error: { error_code: string };
};

let server: ApiTestServer;
let backends: EvaluatorBackends;
let data: DataStore;
let evaluator: TriggerEvaluator;
let scratch: string;
let orgA: Org;
let orgB: Org;

async function call(
  method: string,
  target: string,
  as: Org,
  body?: unknown,
): Promise<{ status: number; json: Body }> {
  const answer = await server.request(target, {
    method,
    token: as.token,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: answer.status, json: JSON.parse(answer.text) as Body };
}

beforeAll(async () => {
  server = await apiTestServer({ name: 'api-trigger-evals', orgs: ['A', 'B'] });
  const { settings } = server;
  scratch = await tempDir('api-trigger-evals-scratch');
  [orgA, orgB] = server.orgs as [Org, Org];
  backends = await openEvaluatorBackends(settings, { defaultTimeoutMinutes: 30 });
  ({ data, evaluator } = backends);
});

afterAll(async () => {
  await backends.close();
  await server.close();
  await removeTempDirs();
});

describe("T6/T7 over HTTP: the evaluator's records", () => {
  it("lists a trigger's evaluations newest first in pages, and a dataset's; another org sees a missing one", async () => {
    expect((await call('POST', '/v1/actions', orgA, { name: 'process', uri: 'img:1' })).status).toBe(200);
    const created = await call('POST', '/v1/triggers', orgA, {
      name: 'on-bags',
      action_name: 'process',
      required_inputs: ['**/*.bag'],
    });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    const dataset = await data.createDataset({ orgId: orgA.orgId });
    const source = path.join(scratch, 'a');
    await writeFile(source, 'bag');
    const fire = (eventId: string) =>
      evaluator.handle({
        event_id: eventId,
        org_id: orgA.orgId,
        dataset_id: dataset.dataset_id,
        cause: 'file_upload',
        transaction_id: `tx_${eventId}`,
        file_ids: [],
        source_invocation_id: null,
        occurred: new Date().toISOString(),
      });
    await fire('ev_1'); // no bag yet
    await data.putFiles(dataset.dataset_id, [{ relativePath: 'a.bag', sourcePath: source }], {
      writeKey: { invocationId: 'iv_t', attempt: 1 },
      origination: 'test',
      signal: new AbortController().signal,
    });
    await fire('ev_2');
    await fire('ev_3');

    const latest = await call('GET', '/v1/triggers/on-bags/evaluations?limit=1', orgA);
    expect(latest.status).toBe(200);
    const [first] = latest.json.data.items;
    expect(TriggerEvaluationRecord.parse(first)).toEqual(first);
    expect(first).toMatchObject({ status: 'evaluated', outcome: 'skipped', outcome_reason: 'already_run' });
    expect(Number.isInteger(first?.trigger_evaluation_id)).toBe(true);
    const reasons: unknown[] = [];
    let token: string | null = null;
    do {
      const query: string = token === null ? '?limit=1' : `?limit=1&page_token=${token}`;
      const page = await call('GET', `/v1/triggers/on-bags/evaluations${query}`, orgA);
      expect(page.status).toBe(200);
      reasons.push(...page.json.data.items.map((item) => item.outcome_reason ?? item.outcome));
      token = page.json.data.next_token;
    } while (token !== null);
    expect(reasons).toEqual(['already_run', 'invoked_action', 'no_matching_files']);

    const byDataset = await call('GET', `/v1/triggers/dataset/id/${dataset.dataset_id}/evaluations`, orgA);
    expect(byDataset.status).toBe(200);
    expect(byDataset.json.data.items).toHaveLength(3);
    expect(byDataset.json.data.next_token).toBeNull();

    // Another org: the trigger and the dataset answer exactly as missing ones.
    const missingTrigger = await call('GET', '/v1/triggers/nothing/evaluations', orgB);
    const otherTrigger = await call('GET', '/v1/triggers/on-bags/evaluations', orgB);
    expect([otherTrigger.status, otherTrigger.json.error.error_code]).toEqual([
      missingTrigger.status,
      missingTrigger.json.error.error_code,
    ]);
    expect(otherTrigger.status).toBe(404);
    const otherDataset = await call('GET', `/v1/triggers/dataset/id/${dataset.dataset_id}/evaluations`, orgB);
    const missingDataset = await call('GET', '/v1/triggers/dataset/id/ds_nothing/evaluations', orgB);
    expect([otherDataset.status, otherDataset.json.error.error_code]).toEqual([
      404,
      missingDataset.json.error.error_code,
    ]);
    expect((await call('GET', `/v1/triggers/on-bags/evaluations?page_token=bm9wZQ`, orgA)).status).toBe(400);
  });
});
