import type { Redis } from 'ioredis';
import {
  type Principal,
  UnknownOrgError,
  authenticateToken,
  newApiToken,
  shouldRecordUse,
  tokenIdOf,
} from '../../domain/api-token.js';
import { randomId } from '../../domain/ids.js';
import type { ApiTokenRecord, NewApiToken, NewOrg, OrgRecord, TenancyStore } from '../../ports/tenancy.js';
import { withTimeout } from '../../util/with-timeout.js';
import { DEFAULT_KEY_PREFIX, type RedisStoreOptions, connectRedis } from './redis-connection.js';

/**
 * Writes the token (KEYS[2]) and indexes it (KEYS[3], KEYS[4], and KEYS[5] when it is scoped to invocation
 * ARGV[3]) when its org (KEYS[1]) exists: 1 when written, 0 when not. ARGV[4..] are the hash's fields.
 */
const CREATE_TOKEN = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('SADD', KEYS[5], ARGV[2]) end
return 1
`;

/** Revokes (at ARGV[1]) every token of the set KEYS[1] names (under prefix ARGV[2]) not yet revoked. */
const REVOKE_SET = `
local revoked = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[2] .. id
  if redis.call('EXISTS', key) == 1 and redis.call('HSETNX', key, 'revoked', ARGV[1]) == 1 then
    table.insert(revoked, id)
  end
end
return revoked
`;

/** Marks the token revoked at ARGV[1] unless it already is: 0 when there is no such token. */
const REVOKE_TOKEN = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSETNX', KEYS[1], 'revoked', ARGV[1])
return 1
`;

/** Sets `last_used` (ARGV[1]) on the token KEYS[1] if it exists. */
const RECORD_USE = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'last_used', ARGV[1]) end
return 1
`;

/** Optional fields are absent from the hash when null. */
function nullable(value: string | undefined): string | null {
  return value === undefined || value === '' ? null : value;
}

function orgFrom(fields: Record<string, string>): OrgRecord | undefined {
  if (fields.org_id === undefined) return undefined;
  return {
    org_id: fields.org_id,
    name: fields.name ?? '',
    tier: fields.tier === 'premium' ? 'premium' : 'free',
    status:
      fields.status === 'provisioning' || fields.status === 'de-provisioning' ? fields.status : 'active',
    created: fields.created ?? '',
    created_by: nullable(fields.created_by),
  };
}

/** A token's attempt as stored (a decimal); null when absent (a token of before attempts were recorded). */
function attemptFrom(value: string | null | undefined): number | null {
  if (value == null || !/^\d+$/.test(value)) return null;
  return Number(value);
}

function tokenFrom(fields: Record<string, string>): ApiTokenRecord | undefined {
  if (fields.token_id === undefined) return undefined;
  return {
    token_id: fields.token_id,
    org_id: fields.org_id ?? '',
    name: fields.name ?? '',
    created: fields.created ?? '',
    expires: nullable(fields.expires),
    revoked: nullable(fields.revoked),
    invocation_id: nullable(fields.invocation_id),
    attempt: attemptFrom(fields.attempt),
    last_used: nullable(fields.last_used),
  };
}

/**
 * Orgs and API tokens in Redis, beside the invocation records and under the same prefix:
 *
 *   <prefix>org:<og_id>            hash: org_id, name, tier, status, created, created_by
 *   <prefix>orgs                   sorted set of org ids by creation time
 *   <prefix>token:<tk_id>          hash: token_id, org_id, name, created, expires, revoked, invocation_id,
 *                                  attempt, last_used (to the minute), hash (SHA-256 of the token; the token
 *                                  itself is never stored)
 *   <prefix>tokens                 sorted set of token ids by creation time
 *   <prefix>org:<og_id>:tokens     the same, of one org
 *   <prefix>invocation-tokens:<iv_id>  set of the tokens scoped to one invocation
 *
 * Authenticating reads one hash, the one the token's id part names.
 */
export class RedisTenancyStore implements TenancyStore {
  private readonly redis: Redis;

  constructor(private readonly options: RedisStoreOptions) {
    this.redis = connectRedis(options);
  }

  private get prefix(): string {
    return this.options.prefix ?? DEFAULT_KEY_PREFIX;
  }

  private orgKey(orgId: string): string {
    return `${this.prefix}org:${orgId}`;
  }

  private tokenKey(tokenId: string): string {
    return `${this.prefix}token:${tokenId}`;
  }

  private invocationTokensKey(invocationId: string): string {
    return `${this.prefix}invocation-tokens:${invocationId}`;
  }

  async createOrg(org: NewOrg): Promise<OrgRecord> {
    const record: OrgRecord = {
      org_id: randomId('og'),
      name: org.name,
      tier: 'free',
      status: 'active',
      created: new Date().toISOString(),
      created_by: org.createdBy ?? null,
    };
    const { created_by: createdBy, ...fields } = record;
    await this.redis
      .multi()
      .hset(this.orgKey(record.org_id), {
        ...fields,
        ...(createdBy === null ? {} : { created_by: createdBy }),
      })
      .zadd(`${this.prefix}orgs`, Date.parse(record.created), record.org_id)
      .exec();
    return record;
  }

  async getOrg(orgId: string): Promise<OrgRecord | undefined> {
    return orgFrom(await this.redis.hgetall(this.orgKey(orgId)));
  }

  async listOrgs(): Promise<OrgRecord[]> {
    const ids = await this.redis.zrange(`${this.prefix}orgs`, 0, -1);
    const records = await Promise.all(ids.map((id) => this.getOrg(id)));
    return records.filter((record): record is OrgRecord => record !== undefined);
  }

  async createToken(token: NewApiToken): Promise<{ record: ApiTokenRecord; token: string }> {
    const minted = newApiToken(token);
    const { record } = minted;
    const fields: string[] = [];
    for (const [field, value] of Object.entries(record))
      if (value !== null) fields.push(field, String(value));
    fields.push('hash', minted.hash);
    const wrote = (await this.redis.eval(
      CREATE_TOKEN,
      5,
      this.orgKey(token.orgId),
      this.tokenKey(record.token_id),
      `${this.prefix}tokens`,
      `${this.orgKey(token.orgId)}:tokens`,
      this.invocationTokensKey(record.invocation_id ?? ''),
      String(Date.parse(record.created)),
      record.token_id,
      record.invocation_id ?? '',
      ...fields,
    )) as number;
    if (wrote !== 1) throw new UnknownOrgError(token.orgId);
    return { record, token: minted.token };
  }

  async getToken(tokenId: string): Promise<ApiTokenRecord | undefined> {
    return tokenFrom(await this.redis.hgetall(this.tokenKey(tokenId)));
  }

  async listTokens(filter: { orgId?: string } = {}): Promise<ApiTokenRecord[]> {
    const index = filter.orgId === undefined ? `${this.prefix}tokens` : `${this.orgKey(filter.orgId)}:tokens`;
    const ids = await this.redis.zrange(index, 0, -1);
    const records = await Promise.all(ids.map((id) => this.getToken(id)));
    return records.filter((record): record is ApiTokenRecord => record !== undefined);
  }

  async revokeToken(tokenId: string): Promise<ApiTokenRecord | undefined> {
    const found = (await this.redis.eval(
      REVOKE_TOKEN,
      1,
      this.tokenKey(tokenId),
      new Date().toISOString(),
    )) as number;
    return found === 1 ? this.getToken(tokenId) : undefined;
  }

  async revokeInvocationTokens(invocationId: string): Promise<string[]> {
    return (await this.redis.eval(
      REVOKE_SET,
      1,
      this.invocationTokensKey(invocationId),
      new Date().toISOString(),
      `${this.prefix}token:`,
    )) as string[];
  }

  async authenticate(bearer: string, now = new Date()): Promise<Principal | undefined> {
    const tokenId = tokenIdOf(bearer);
    if (tokenId === undefined) return undefined;
    const [orgId, hash, expires, revoked, invocationId, lastUsed, attempt] = await this.redis.hmget(
      this.tokenKey(tokenId),
      'org_id',
      'hash',
      'expires',
      'revoked',
      'invocation_id',
      'last_used',
      'attempt',
    );
    const stored =
      orgId == null || hash == null
        ? undefined
        : {
            org_id: orgId,
            hash,
            expires: nullable(expires ?? undefined),
            revoked: nullable(revoked ?? undefined),
            invocation_id: nullable(invocationId ?? undefined),
            attempt: attemptFrom(attempt),
          };
    const principal = authenticateToken(bearer, tokenId, stored, now);
    if (principal !== undefined && shouldRecordUse(nullable(lastUsed ?? undefined), now)) {
      // HSET only on an existing token: tokens are never deleted, but a half-written hash must not appear.
      await this.redis.eval(RECORD_USE, 1, this.tokenKey(tokenId), now.toISOString());
    }
    return principal;
  }

  /** Whether Redis answers: what a command checks before blaming Redis for an error. */
  async ping(): Promise<string> {
    return this.redis.ping();
  }

  async close(): Promise<void> {
    await withTimeout(this.redis.quit(), 3_000).catch(() => undefined);
    this.redis.disconnect();
  }
}
