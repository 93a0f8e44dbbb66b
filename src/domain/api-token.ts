import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseDurationMs } from './duration.js';
import { UsageError } from './errors.js';
import { randomId } from './ids.js';

/**
 * API tokens: `awt_<id>_<secret>`, where `<id>` names the stored record (`tk_<id>`) and `<secret>` is 256
 * random bits (base64url). The prefix makes a leaked token recognisable to secret scanners; it is not
 * `robo_pat`, which the Roboto SDK refuses client-side (spec §1.1).
 *
 * Only SHA-256 of the whole token is stored. No slow KDF (bcrypt, scrypt, argon2) is needed: those protect
 * low-entropy passwords from guessing, and a 256-bit random secret cannot be guessed from its hash at any
 * hashing speed; a fast hash keeps authentication to one key read and microseconds per request.
 */
export const TOKEN_PREFIX = 'awt_';
const ID_LENGTH = 12;
const SECRET_BYTES = 32;
const TOKEN_PATTERN = new RegExp(`^${TOKEN_PREFIX}([0-9a-z]{${ID_LENGTH}})_([A-Za-z0-9_-]{43})$`);

/** A new token: the string handed out once, its record id, and the hash that is all that is stored. */
export interface MintedToken {
  tokenId: string;
  token: string;
  hash: string;
}

export function mintApiToken(): MintedToken {
  const tokenId = randomId('tk', ID_LENGTH);
  const token = `${TOKEN_PREFIX}${tokenId.slice(3)}_${randomBytes(SECRET_BYTES).toString('base64url')}`;
  return { tokenId, token, hash: hashApiToken(token) };
}

/**
 * A new token for an org and the record every store keeps of it (the port's ApiTokenRecord), not yet
 * revoked or used; `hash` is what the store keeps of the secret, `token` what the caller is shown once.
 */
export function newApiToken(
  request: { orgId: string; name?: string; expires?: Date; invocationId?: string; attempt?: number },
  now = new Date(),
): {
  record: {
    token_id: string;
    org_id: string;
    name: string;
    created: string;
    expires: string | null;
    revoked: string | null;
    invocation_id: string | null;
    attempt: number | null;
    last_used: string | null;
  };
  token: string;
  hash: string;
} {
  const minted = mintApiToken();
  return {
    record: {
      token_id: minted.tokenId,
      org_id: request.orgId,
      name: request.name ?? '',
      created: now.toISOString(),
      expires: request.expires?.toISOString() ?? null,
      revoked: null,
      invocation_id: request.invocationId ?? null,
      attempt: request.invocationId === undefined ? null : (request.attempt ?? null),
      last_used: null,
    },
    token: minted.token,
    hash: minted.hash,
  };
}

/** SHA-256 of the token, hex: what the stores keep. */
export function hashApiToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The record id a bearer token names, or undefined when it is not one of ours (a `robo_pat…`, garbage). */
export function tokenIdOf(bearer: string): string | undefined {
  const match = TOKEN_PATTERN.exec(bearer);
  return match ? `tk_${match[1] ?? ''}` : undefined;
}

/** A hash no token has: compared against when there is no record, so both paths do the same work. */
const NO_HASH = Buffer.alloc(32);

/** Whether `bearer` is the token `storedHash` was made from, compared in constant time. */
export function tokenMatchesHash(bearer: string, storedHash: string | undefined): boolean {
  const expected =
    storedHash !== undefined && /^[0-9a-f]{64}$/.test(storedHash) ? Buffer.from(storedHash, 'hex') : NO_HASH;
  const actual = createHash('sha256').update(bearer, 'utf8').digest();
  return timingSafeEqual(actual, expected) && expected !== NO_HASH;
}

/**
 * When a token given `--expires TEXT` expires: a duration from `now` (`90d`, `12h`, a bare number of
 * minutes) or a date (`2027-01-31`, midnight UTC) or date-time (ISO 8601). Must be in the future.
 */
export function parseTokenExpiry(text: string, now: Date): Date {
  const trimmed = text.trim();
  let expires: Date;
  if (/^\d{4}-\d{2}-\d{2}([T ].*)?$/.test(trimmed)) {
    expires = new Date(trimmed.length === 10 ? `${trimmed}T00:00:00Z` : trimmed);
    if (Number.isNaN(expires.getTime())) {
      throw new UsageError(`--expires "${text}" is not a date: use YYYY-MM-DD or an ISO 8601 date-time`);
    }
  } else {
    expires = new Date(now.getTime() + parseDurationMs(trimmed, '--expires'));
  }
  if (expires.getTime() <= now.getTime()) {
    throw new UsageError(`--expires "${text}" is in the past (${expires.toISOString()})`);
  }
  return expires;
}

/** Who a valid bearer token speaks for: what the API server scopes every request to. */
export interface Principal {
  orgId: string;
  tokenId: string;
  /** Set for a token scoped to one invocation. */
  invocationId?: string;
  /** Set for a token scoped to one attempt of that invocation: it stands for that attempt only. */
  attempt?: number;
}

/** What a store keeps of a token and authentication reads. */
export interface StoredTokenCheck {
  org_id: string;
  hash: string;
  expires: string | null;
  revoked: string | null;
  invocation_id: string | null;
  /** The attempt an invocation token was minted for (null or absent: any attempt, a token of before). */
  attempt?: number | null;
}

/**
 * The one decision of authentication, shared by every store: `stored` is the record the token's id part
 * names (undefined when none). The hash is compared (in constant time) even then, so an unknown id and a
 * wrong secret take the same path; revoked and expired tokens are refused after the comparison.
 */
export function authenticateToken(
  bearer: string,
  tokenId: string,
  stored: StoredTokenCheck | undefined,
  now: Date,
): Principal | undefined {
  const matches = tokenMatchesHash(bearer, stored?.hash);
  if (!matches || stored === undefined) return undefined;
  if (stored.revoked !== null) return undefined;
  if (stored.expires !== null && !(Date.parse(stored.expires) > now.getTime())) return undefined;
  return {
    orgId: stored.org_id,
    tokenId,
    ...(stored.invocation_id === null ? {} : { invocationId: stored.invocation_id }),
    ...(stored.invocation_id === null || stored.attempt == null ? {} : { attempt: stored.attempt }),
  };
}

/** How stale `last_used` may grow: a token in steady use costs one write a minute, not one a request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/** Whether a successful authentication at `now` should record itself as the token's `last_used`. */
export function shouldRecordUse(lastUsed: string | null, now: Date): boolean {
  if (lastUsed === null) return true;
  const previous = Date.parse(lastUsed);
  return Number.isNaN(previous) || now.getTime() - previous >= LAST_USED_RESOLUTION_MS;
}

/** A token was asked for an org that does not exist. */
export class UnknownOrgError extends UsageError {
  constructor(readonly orgId: string) {
    super(`org ${orgId} does not exist (action-worker orgs list shows the orgs)`);
  }
}

/** A token id that names no token. */
export class UnknownTokenError extends UsageError {
  constructor(readonly tokenId: string) {
    super(`token ${tokenId} does not exist (action-worker tokens list shows the tokens)`);
  }
}
