import { RedisTenancyStore } from '../adapters/redis/redis-tenancy-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import { UnknownOrgError, UnknownTokenError, parseTokenExpiry } from '../domain/api-token.js';
import { UsageError } from '../domain/errors.js';
import type { ApiTokenRecord, OrgRecord, TenancyStore } from '../ports/tenancy.js';
import { redisStoreOptions, usingRedisStore } from './control-plane.js';

/** The orgs and tokens as the settings locate them: beside the invocation records, under their prefix. */
export function openTenancyStore(
  settings: WorkerSettings,
  options: Parameters<typeof redisStoreOptions>[1] = {},
): RedisTenancyStore {
  return new RedisTenancyStore(redisStoreOptions(settings, options));
}

/** Runs `use` against the tenancy store, failing fast when Redis does not answer, and closes it. */
export async function usingTenancy<T>(
  settings: WorkerSettings,
  use: (store: TenancyStore) => Promise<T>,
): Promise<T> {
  return usingRedisStore(settings, openTenancyStore(settings), use);
}

export async function createOrg(store: TenancyStore, name: string): Promise<OrgRecord> {
  const trimmed = name.trim();
  if (trimmed === '') throw new UsageError('--name must not be empty');
  return store.createOrg({ name: trimmed });
}

/** A token for an existing org; `expires` as `--expires` takes it (a duration from now or a date). */
export async function createToken(
  store: TenancyStore,
  options: { orgId: string; name?: string; expires?: string },
  now = new Date(),
): Promise<{ record: ApiTokenRecord; token: string }> {
  const expires = options.expires === undefined ? undefined : parseTokenExpiry(options.expires, now);
  return store.createToken({
    orgId: options.orgId,
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(expires === undefined ? {} : { expires }),
  });
}

export async function revokeToken(store: TenancyStore, tokenId: string): Promise<ApiTokenRecord> {
  const record = await store.revokeToken(tokenId);
  if (record === undefined) throw new UnknownTokenError(tokenId);
  return record;
}

/** The tokens of one org (which must exist: a mistyped id is an error, not an empty list), or of all. */
export async function listTokens(store: TenancyStore, orgId?: string): Promise<ApiTokenRecord[]> {
  if (orgId === undefined) return store.listTokens();
  if ((await store.getOrg(orgId)) === undefined) throw new UnknownOrgError(orgId);
  return store.listTokens({ orgId });
}
