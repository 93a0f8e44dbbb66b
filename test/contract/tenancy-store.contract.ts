import { describe, expect, it } from 'vitest';
import { UnknownOrgError } from '../../src/domain/api-token.js';
import type { TenancyStore } from '../../src/ports/tenancy.js';

/** A token's parts: `awt_<12-character id>_<secret>` (the secret may hold `_` itself). */
const idPart = (token: string): string => token.slice(0, 16);
const secretPart = (token: string): string => token.slice(17);

/**
 * What every TenancyStore must do, run against the Redis store (integration) and the in-memory one (unit).
 * `open()` gives a store over the same records (another connection); `storedText()` is everything the
 * store holds, keys and values, as text: where a token's secret must never appear.
 */
export function describeTenancyStoreContract(
  name: string,
  open: () => TenancyStore,
  storedText: () => Promise<string>,
): void {
  describe(`TenancyStore contract: ${name}`, () => {
    it('creates orgs readable from another connection, with the OrgRecord fields of spec §2.8', async () => {
      const org = await open().createOrg({ name: 'Acme Robotics' });
      expect(org.org_id).toMatch(/^og_[0-9a-z]{12}$/);
      expect(org).toMatchObject({ name: 'Acme Robotics', tier: 'free', status: 'active', created_by: null });
      expect(Date.parse(org.created)).not.toBeNaN();
      const reader = open();
      expect(await reader.getOrg(org.org_id)).toEqual(org);
      expect(await reader.listOrgs()).toContainEqual(org);
      expect(await reader.getOrg('og_doesnotexist')).toBeUndefined();
    });

    it('gives a token once, lists it without its secret, and authenticates it as its org', async () => {
      const store = open();
      const org = await store.createOrg({ name: 'a' });
      const { record, token } = await store.createToken({ orgId: org.org_id, name: 'ci' });
      expect(token).toMatch(/^awt_[0-9a-z]{12}_[A-Za-z0-9_-]{43}$/);
      expect(token.startsWith('robo_pat')).toBe(false);
      expect(record).toMatchObject({
        org_id: org.org_id,
        name: 'ci',
        expires: null,
        revoked: null,
        invocation_id: null,
        attempt: null,
        last_used: null,
      });
      expect(record.token_id).toMatch(/^tk_/);
      const reader = open();
      const listed = await reader.listTokens({ orgId: org.org_id });
      expect(listed).toEqual([record]);
      expect(JSON.stringify(listed)).not.toContain(secretPart(token));
      expect(await reader.getToken(record.token_id)).toEqual(record);
      expect(await reader.listTokens()).toContainEqual(record);
      expect(await reader.authenticate(token)).toEqual({ orgId: org.org_id, tokenId: record.token_id });
    });

    it('refuses a token for an org that does not exist, and stores nothing', async () => {
      const store = open();
      await expect(store.createToken({ orgId: 'og_nosuchorg01' })).rejects.toBeInstanceOf(UnknownOrgError);
      expect(await store.listTokens({ orgId: 'og_nosuchorg01' })).toEqual([]);
    });

    it('never stores the secret: no key or value holds the token or its secret part', async () => {
      const store = open();
      const org = await store.createOrg({ name: 'b' });
      const { token } = await store.createToken({ orgId: org.org_id, name: 'leak-check' });
      const scoped = await store.createToken({ orgId: org.org_id, invocationId: 'iv_leakcheck01' });
      const text = await storedText();
      expect(text).toContain('leak-check');
      expect(text).toContain('iv_leakcheck01');
      for (const each of [token, scoped.token]) {
        expect(text).not.toContain(secretPart(each));
        expect(text).not.toContain(each);
      }
    });

    it('a revoked token no longer authenticates, and revoking is recorded once', async () => {
      const store = open();
      const org = await store.createOrg({ name: 'c' });
      const { record, token } = await store.createToken({ orgId: org.org_id });
      expect(await store.authenticate(token)).toBeDefined();
      const revoked = await open().revokeToken(record.token_id);
      expect(revoked?.revoked).not.toBeNull();
      expect(await store.authenticate(token)).toBeUndefined();
      expect((await store.revokeToken(record.token_id))?.revoked).toBe(revoked?.revoked);
      expect(await store.revokeToken('tk_nosuchtoken')).toBeUndefined();
    });

    it('an expired token does not authenticate; one not yet expired does', async () => {
      const store = open();
      const org = await store.createOrg({ name: 'd' });
      const expires = new Date('2030-01-01T00:00:00Z');
      const { record, token } = await store.createToken({ orgId: org.org_id, expires });
      expect(record.expires).toBe('2030-01-01T00:00:00.000Z');
      expect(await store.authenticate(token, new Date('2029-12-31T23:59:59Z'))).toBeDefined();
      expect(await store.authenticate(token, new Date('2030-01-01T00:00:00Z'))).toBeUndefined();
      expect(await store.authenticate(token, new Date('2031-01-01T00:00:00Z'))).toBeUndefined();
    });

    it("a token of org A authenticates only as A, and B's tokens are not listed as A's", async () => {
      const store = open();
      const a = await store.createOrg({ name: 'A' });
      const b = await store.createOrg({ name: 'B' });
      const tokenA = await store.createToken({ orgId: a.org_id });
      const tokenB = await store.createToken({ orgId: b.org_id });
      expect((await store.authenticate(tokenA.token))?.orgId).toBe(a.org_id);
      expect((await store.authenticate(tokenB.token))?.orgId).toBe(b.org_id);
      expect((await store.listTokens({ orgId: a.org_id })).map((t) => t.token_id)).toEqual([
        tokenA.record.token_id,
      ]);
      // One's id part with the other's secret part: neither A nor B.
      expect(await store.authenticate(`${idPart(tokenA.token)}_${secretPart(tokenB.token)}`)).toBeUndefined();
      expect(await store.authenticate(`${idPart(tokenB.token)}_${secretPart(tokenA.token)}`)).toBeUndefined();
    });

    it('a valid id part with a wrong secret, a robo_pat token, and garbage do not authenticate', async () => {
      const store = open();
      const org = await store.createOrg({ name: 'e' });
      const { token } = await store.createToken({ orgId: org.org_id });
      const last = token.at(-1) === 'A' ? 'B' : 'A';
      for (const attempt of [
        `${token.slice(0, -1)}${last}`,
        `${idPart(token)}_${'A'.repeat(43)}`,
        `${token} `,
        token.slice(0, -1),
        `robo_pat_${token.slice(4)}`,
        `robo_pat${token}`,
        token.replace(/^awt_/, ''),
        '',
        'Bearer ' + token,
        token.toUpperCase(),
      ]) {
        expect(await store.authenticate(attempt), attempt).toBeUndefined();
      }
      expect(await store.authenticate(token)).toBeDefined();
    });

    it('keeps the invocation scope of a scoped token and returns it with the principal', async () => {
      const store = open();
      const org = await store.createOrg({ name: 'f' });
      const { record, token } = await store.createToken({ orgId: org.org_id, invocationId: 'iv_scoped01' });
      expect(record.invocation_id).toBe('iv_scoped01');
      expect(await open().authenticate(token)).toEqual({
        orgId: org.org_id,
        tokenId: record.token_id,
        invocationId: 'iv_scoped01',
      });
    });

    it('keeps the attempt of an invocation token and returns it with the principal', async () => {
      const store = open();
      const org = await store.createOrg({ name: 'f2' });
      const { record, token } = await store.createToken({
        orgId: org.org_id,
        invocationId: 'iv_attempt01',
        attempt: 3,
      });
      expect(record).toMatchObject({ invocation_id: 'iv_attempt01', attempt: 3 });
      expect(await open().getToken(record.token_id)).toEqual(record);
      expect(await open().authenticate(token)).toEqual({
        orgId: org.org_id,
        tokenId: record.token_id,
        invocationId: 'iv_attempt01',
        attempt: 3,
      });
      // An org's API key has no attempt, whatever is asked.
      const key = await store.createToken({ orgId: org.org_id, attempt: 2 });
      expect(key.record.attempt).toBeNull();
      expect(await open().authenticate(key.token)).toEqual({
        orgId: org.org_id,
        tokenId: key.record.token_id,
      });
    });

    it("revokes an invocation's tokens, and only its, all at once", async () => {
      const store = open();
      const org = await store.createOrg({ name: 'g' });
      const first = await store.createToken({ orgId: org.org_id, invocationId: 'iv_ending0001' });
      const second = await store.createToken({ orgId: org.org_id, invocationId: 'iv_ending0001' });
      const other = await store.createToken({ orgId: org.org_id, invocationId: 'iv_running001' });
      const key = await store.createToken({ orgId: org.org_id });
      const revoked = await open().revokeInvocationTokens('iv_ending0001');
      expect(revoked.sort()).toEqual([first.record.token_id, second.record.token_id].sort());
      expect(await store.authenticate(first.token)).toBeUndefined();
      expect(await store.authenticate(second.token)).toBeUndefined();
      expect(await store.authenticate(other.token)).toBeDefined();
      expect(await store.authenticate(key.token)).toBeDefined();
      expect((await store.getToken(first.record.token_id))?.revoked).not.toBeNull();
      expect(await store.revokeInvocationTokens('iv_ending0001')).toEqual([]);
      expect(await store.revokeInvocationTokens('iv_neverseen01')).toEqual([]);
    });

    it('records when a token was last used, to the minute, and never for a failed attempt', async () => {
      const store = open();
      const org = await store.createOrg({ name: 'h' });
      const { record, token } = await store.createToken({ orgId: org.org_id });
      const wrong = `${idPart(token)}_${'A'.repeat(43)}`;
      expect(await store.authenticate(wrong, new Date('2027-01-01T00:00:00Z'))).toBeUndefined();
      expect((await store.getToken(record.token_id))?.last_used).toBeNull();
      await store.authenticate(token, new Date('2027-01-01T00:00:00Z'));
      expect((await open().getToken(record.token_id))?.last_used).toBe('2027-01-01T00:00:00.000Z');
      await store.authenticate(token, new Date('2027-01-01T00:00:30Z'));
      expect((await store.getToken(record.token_id))?.last_used).toBe('2027-01-01T00:00:00.000Z');
      await store.authenticate(token, new Date('2027-01-01T00:01:00Z'));
      expect((await store.getToken(record.token_id))?.last_used).toBe('2027-01-01T00:01:00.000Z');
      await store.revokeToken(record.token_id);
      await store.authenticate(token, new Date('2027-01-01T00:05:00Z'));
      expect((await store.getToken(record.token_id))?.last_used).toBe('2027-01-01T00:01:00.000Z');
    });
  });
}
