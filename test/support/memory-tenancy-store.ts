import {
  type Principal,
  type StoredTokenCheck,
  UnknownOrgError,
  authenticateToken,
  newApiToken,
  shouldRecordUse,
  tokenIdOf,
} from '../../src/domain/api-token.js';
import { randomId } from '../../src/domain/ids.js';
import type {
  ApiTokenRecord,
  NewApiToken,
  NewOrg,
  OrgRecord,
  TenancyStore,
} from '../../src/ports/tenancy.js';

type StoredToken = ApiTokenRecord & StoredTokenCheck;

/** The TenancyStore of unit tests: the records live in the instance, kept as the Redis store keeps them. */
export class MemoryTenancyStore implements TenancyStore {
  private readonly orgs = new Map<string, OrgRecord>();
  private readonly tokens = new Map<string, StoredToken>();

  createOrg(org: NewOrg): Promise<OrgRecord> {
    const record: OrgRecord = {
      org_id: randomId('og'),
      name: org.name,
      tier: 'free',
      status: 'active',
      created: new Date().toISOString(),
      created_by: org.createdBy ?? null,
    };
    this.orgs.set(record.org_id, record);
    return Promise.resolve({ ...record });
  }

  getOrg(orgId: string): Promise<OrgRecord | undefined> {
    const record = this.orgs.get(orgId);
    return Promise.resolve(record && { ...record });
  }

  listOrgs(): Promise<OrgRecord[]> {
    return Promise.resolve([...this.orgs.values()].map((record) => ({ ...record })));
  }

  createToken(token: NewApiToken): Promise<{ record: ApiTokenRecord; token: string }> {
    if (!this.orgs.has(token.orgId)) return Promise.reject(new UnknownOrgError(token.orgId));
    const minted = newApiToken(token);
    const stored: StoredToken = { ...minted.record, hash: minted.hash };
    this.tokens.set(stored.token_id, stored);
    return Promise.resolve({ record: listed(stored), token: minted.token });
  }

  getToken(tokenId: string): Promise<ApiTokenRecord | undefined> {
    const stored = this.tokens.get(tokenId);
    return Promise.resolve(stored && listed(stored));
  }

  listTokens(filter: { orgId?: string } = {}): Promise<ApiTokenRecord[]> {
    return Promise.resolve(
      [...this.tokens.values()]
        .filter((stored) => filter.orgId === undefined || stored.org_id === filter.orgId)
        .map(listed),
    );
  }

  revokeToken(tokenId: string): Promise<ApiTokenRecord | undefined> {
    const stored = this.tokens.get(tokenId);
    if (stored === undefined) return Promise.resolve(undefined);
    stored.revoked ??= new Date().toISOString();
    return Promise.resolve(listed(stored));
  }

  revokeInvocationTokens(invocationId: string): Promise<string[]> {
    const revoked: string[] = [];
    const now = new Date().toISOString();
    for (const stored of this.tokens.values()) {
      if (stored.invocation_id !== invocationId || stored.revoked !== null) continue;
      stored.revoked = now;
      revoked.push(stored.token_id);
    }
    return Promise.resolve(revoked);
  }

  authenticate(bearer: string, now = new Date()): Promise<Principal | undefined> {
    const tokenId = tokenIdOf(bearer);
    if (tokenId === undefined) return Promise.resolve(undefined);
    const stored = this.tokens.get(tokenId);
    const principal = authenticateToken(bearer, tokenId, stored, now);
    if (principal !== undefined && stored !== undefined && shouldRecordUse(stored.last_used, now)) {
      stored.last_used = now.toISOString();
    }
    return Promise.resolve(principal);
  }

  /** Everything the store holds, as text: what the contract searches for a leaked secret. */
  storedText(): string {
    return JSON.stringify({ orgs: [...this.orgs.entries()], tokens: [...this.tokens.entries()] });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function listed(stored: StoredToken): ApiTokenRecord {
  return {
    token_id: stored.token_id,
    org_id: stored.org_id,
    name: stored.name,
    created: stored.created,
    expires: stored.expires,
    revoked: stored.revoked,
    invocation_id: stored.invocation_id,
    attempt: stored.attempt,
    last_used: stored.last_used,
  };
}
