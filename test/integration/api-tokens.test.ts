import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTenancyStore } from '../../src/app/tenancy.js';
import type { WorkerSettings } from '../../src/config/worker-settings.js';
import { type ApiTestServer, type TestOrg, apiTestServer } from '../support/api-test-server.js';

let server: ApiTestServer;
let tokenA: string;
let tokenB: string;
let tokenIdA: string;
let orgIdA: string;
let orgIdB: string;
let settings: WorkerSettings;

beforeAll(async () => {
  // The orgs and tokens as `action-worker orgs create` / `tokens create` make them; no authenticator
  // given: the server checks bearer tokens against the orgs' tokens in Redis.
  server = await apiTestServer({
    name: 'api-tokens',
    orgs: [
      { name: 'A', tokenName: 'a' },
      { name: 'B', tokenName: 'b' },
    ],
  });
  settings = server.settings;
  const [orgA, orgB] = server.orgs as [TestOrg, TestOrg];
  orgIdA = orgA.orgId;
  orgIdB = orgB.orgId;
  tokenA = orgA.token;
  tokenIdA = orgA.tokenId;
  tokenB = orgB.token;
});

afterAll(async () => {
  await server.close();
});

const call = async (urlPath: string, token: string, body?: unknown) => {
  const answer = await server.request(urlPath, {
    token,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return {
    status: answer.status,
    json: JSON.parse(answer.text) as { data: { dataset_id: string; org_id: string; name: string } },
  };
};

describe('serve with the orgs’ API tokens', () => {
  it('answers the caller’s org (O1, O2), and another org as if it did not exist', async () => {
    const own = await call(`/v1/orgs/id/${orgIdA}`, tokenA);
    expect(own.status).toBe(200);
    expect(own.json.data).toMatchObject({ org_id: orgIdA, name: 'A', tier: 'free', status: 'active' });
    expect((await call(`/v1/orgs/id/${orgIdB}`, tokenA)).status).toBe(404);
    expect((await call('/v1/orgs/id/og_missing', tokenA)).status).toBe(404);
    const callers = await call('/v1/orgs/caller', tokenB);
    expect(callers.status).toBe(200);
    expect((callers.json.data as unknown as { org_id: string }[]).map((org) => org.org_id)).toEqual([orgIdB]);
  });

  it('lets a token act in its own org only, and refuses it once revoked', async () => {
    const created = await call('/v1/datasets', tokenA, { name: 'drive-1' });
    expect(created.status).toBe(200);
    const datasetId = created.json.data.dataset_id;
    expect((await call(`/v1/datasets/${datasetId}`, tokenA)).status).toBe(200);
    // Another org's token: as if the dataset did not exist.
    expect((await call(`/v1/datasets/${datasetId}`, tokenB)).status).toBe(404);
    // A token of ours with its secret changed.
    expect((await call(`/v1/datasets/${datasetId}`, `${tokenA.slice(0, -4)}AAAA`)).status).toBe(401);

    const tenancy = openTenancyStore(settings);
    try {
      await tenancy.revokeToken(tokenIdA);
    } finally {
      await tenancy.close();
    }
    expect((await call(`/v1/datasets/${datasetId}`, tokenA)).status).toBe(401);
  });
});
