import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  LocalRunCredentials,
  TokenRevokingInvocationStore,
  refusingFinishedInvocations,
  tenancyCredentials,
} from '../../src/app/invocation-credentials.js';
import { localApiHost } from '../../src/app/local-api.js';
import { newInvocationRequest } from '../../src/domain/invocation-request.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { MemoryInvocationStore } from '../support/memory-invocation-store.js';
import { MemoryTenancyStore } from '../support/memory-tenancy-store.js';

const logger = pino({ level: 'silent' });

async function setUp() {
  const tenancy = new MemoryTenancyStore();
  const org = await tenancy.createOrg({ name: 'one' });
  const other = await tenancy.createOrg({ name: 'two' });
  const records = new TokenRevokingInvocationStore(new MemoryInvocationStore(), tenancy, logger);
  const { record } = await records.create(
    newInvocationRequest({ action: { image: 'x:1', config: { name: 'a' } }, org_id: org.org_id }),
  );
  const invocationId = record.invocation_id;
  // As the daemon does: the attempt holds the record before its token is minted.
  await records.startAttempt(invocationId, 1);
  const credentials = tenancyCredentials(tenancy);
  const issue = async (orgId = org.org_id, attempt = 1) => {
    const credential = await credentials.issue({
      invocationId,
      orgId,
      attempt,
      expires: new Date(Date.now() + 60_000),
    });
    return credential!;
  };
  // What the API server authenticates with: the tenancy store, refusing finished invocations' tokens.
  const authenticator = refusingFinishedInvocations(tenancy, records);
  // The same check without the revoke-on-terminal store: only the defence in depth stands.
  const unrevoked = new MemoryInvocationStore();
  return { tenancy, org, other, records, invocationId, issue, authenticator, unrevoked, credentials };
}

describe('per-invocation tokens', () => {
  it('a token of a running invocation authenticates as its org and invocation', async () => {
    const { issue, authenticator, org, invocationId, records } = await setUp();
    await records.transition(invocationId, InvocationStatus.Scheduled, null);
    const { token } = await issue();
    expect(await authenticator.authenticate(token)).toMatchObject({ orgId: org.org_id, invocationId });
  });

  it.each([
    [
      'Completed',
      [
        InvocationStatus.Scheduled,
        InvocationStatus.Downloading,
        InvocationStatus.Processing,
        InvocationStatus.Uploading,
        InvocationStatus.Completed,
      ],
    ],
    ['Failed', [InvocationStatus.Scheduled, InvocationStatus.Failed]],
    ['Cancelled', [InvocationStatus.Cancelled]],
    ['Deadly', [InvocationStatus.Deadly]],
  ] as const)('is revoked by the transition to %s', async (_name, path) => {
    const { issue, authenticator, records, invocationId, tenancy } = await setUp();
    const { token } = await issue();
    for (const status of path) await records.transition(invocationId, status, null);
    const [listed] = await tenancy.listTokens();
    expect(listed?.revoked).not.toBeNull();
    expect(await authenticator.authenticate(token)).toBeUndefined();
  });

  it('is refused once its invocation is terminal even when the revoke never happened', async () => {
    const { tenancy, org, unrevoked } = await setUp();
    const { record } = await unrevoked.create(
      newInvocationRequest({ action: { image: 'x:1', config: { name: 'a' } }, org_id: org.org_id }),
    );
    const created = await tenancy.createToken({ orgId: org.org_id, invocationId: record.invocation_id });
    const authenticator = refusingFinishedInvocations(tenancy, unrevoked);
    expect(await authenticator.authenticate(created.token)).toBeDefined();
    await unrevoked.transition(record.invocation_id, InvocationStatus.Cancelled, null);
    // Not revoked in the store…
    expect((await tenancy.getToken(created.record.token_id))?.revoked).toBeNull();
    // …and refused all the same.
    expect(await authenticator.authenticate(created.token)).toBeUndefined();
  });

  it('is refused when its invocation is unknown or belongs to another org', async () => {
    const { tenancy, other, invocationId, authenticator } = await setUp();
    const forged = await tenancy.createToken({ orgId: other.org_id, invocationId });
    expect(await authenticator.authenticate(forged.token)).toBeUndefined();
    const orphan = await tenancy.createToken({ orgId: other.org_id, invocationId: 'iv_nonesuch' });
    expect(await authenticator.authenticate(orphan.token)).toBeUndefined();
  });

  it("a retry does not revive an earlier attempt's token whose revoke was missed", async () => {
    const { tenancy, org, unrevoked } = await setUp();
    const { record } = await unrevoked.create(
      newInvocationRequest({ action: { image: 'x:1', config: { name: 'a' } }, org_id: org.org_id }),
    );
    const id = record.invocation_id;
    const credentials = tenancyCredentials(tenancy);
    const mint = async (attempt: number) =>
      (await credentials.issue({
        invocationId: id,
        orgId: org.org_id,
        attempt,
        expires: new Date(Date.now() + 60_000),
      }))!;
    const authenticator = refusingFinishedInvocations(tenancy, unrevoked);
    await unrevoked.startAttempt(id, 1);
    const first = await mint(1);
    expect(await authenticator.authenticate(first.token)).toMatchObject({ invocationId: id, attempt: 1 });
    // Attempt 1 fails without its revoke (a store that does not revoke); the retry takes the record.
    await unrevoked.transition(id, InvocationStatus.Scheduled, null, { attempt: 1 });
    await unrevoked.transition(id, InvocationStatus.Failed, 'boom', { attempt: 1, final: false });
    await unrevoked.startAttempt(id, 2);
    await unrevoked.transition(id, InvocationStatus.Queued, 'retrying', { attempt: 2 });
    await unrevoked.transition(id, InvocationStatus.Scheduled, null, { attempt: 2 });
    const second = await mint(2);
    // Neither was revoked: only the attempt binding refuses the first.
    const minted = (await tenancy.listTokens()).filter((token) => token.invocation_id === id);
    expect(minted.map((token) => [token.attempt, token.revoked])).toEqual([
      [1, null],
      [2, null],
    ]);
    expect(await authenticator.authenticate(first.token)).toBeUndefined();
    expect(await authenticator.authenticate(second.token)).toMatchObject({ invocationId: id, attempt: 2 });
  });

  it("an org's own API key is not affected", async () => {
    const { tenancy, org, authenticator } = await setUp();
    const key = await tenancy.createToken({ orgId: org.org_id });
    expect(await authenticator.authenticate(key.token)).toMatchObject({ orgId: org.org_id });
  });

  it("the attempt's revoke ends its token at once; an unknown org gets none", async () => {
    const { issue, authenticator, credentials, invocationId } = await setUp();
    const credential = await issue();
    expect(await authenticator.authenticate(credential.token)).toBeDefined();
    await credential.revoke();
    expect(await authenticator.authenticate(credential.token)).toBeUndefined();
    expect(
      await credentials.issue({
        invocationId,
        orgId: 'og_nonesuch',
        attempt: 1,
        expires: new Date(Date.now() + 1000),
      }),
    ).toBeUndefined();
  });
});

describe("action-worker run's credentials", () => {
  it('know only the run token, until it is revoked or the invocation ends', async () => {
    const credentials = new LocalRunCredentials();
    expect(await credentials.authenticate('awt_000000000000_x')).toBeUndefined();
    const first = await credentials.issue({ invocationId: 'iv_1', orgId: 'og_1' });
    expect(await credentials.authenticate(first.token)).toMatchObject({
      orgId: 'og_1',
      invocationId: 'iv_1',
    });
    expect(await credentials.authenticate(`${first.token}x`)).toBeUndefined();
    credentials.finish();
    expect(await credentials.authenticate(first.token)).toBeUndefined();
    const second = await credentials.issue({ invocationId: 'iv_1', orgId: 'og_1' });
    expect(await credentials.authenticate(first.token)).toBeUndefined();
    await second.revoke();
    expect(await credentials.authenticate(second.token)).toBeUndefined();
  });
});

describe("where run's API listens", () => {
  const runtime = {
    networkGateway: (name: string) => Promise.resolve(name === 'bridge' ? '172.17.0.1' : undefined),
  };
  it.each([
    ['host', '127.0.0.1'],
    ['bridge', '172.17.0.1'],
    ['my-net', undefined],
    ['none', undefined],
    ['container:abc', undefined],
  ])('network %s: %s', async (mode, host) => {
    expect(await localApiHost(mode, runtime)).toBe(host);
  });
});
