import { z } from 'zod';
import type { Principal } from '../domain/api-token.js';

/** An org as the API returns it (spec §2.8). */
export const OrgRecord = z.object({
  org_id: z.string(),
  name: z.string(),
  tier: z.enum(['free', 'premium']),
  status: z.enum(['provisioning', 'active', 'de-provisioning']),
  created: z.string(),
  created_by: z.string().nullable(),
});
export type OrgRecord = z.infer<typeof OrgRecord>;

/**
 * An API token as it is listed: never its secret nor its hash. `invocation_id` scopes a token to one
 * invocation (the per-invocation tokens of issue 12's runtime section); null for an org's API key.
 */
export const ApiTokenRecord = z.object({
  token_id: z.string(),
  org_id: z.string(),
  name: z.string(),
  created: z.string(),
  /** ISO date-time after which the token no longer authenticates; null: never expires. */
  expires: z.string().nullable(),
  /** When it was revoked; null while it is not. */
  revoked: z.string().nullable(),
  invocation_id: z.string().nullable(),
  /** The attempt of the invocation it was minted for: it stands for that attempt only (null: any). */
  attempt: z.number().int().nullable(),
  /** When it last authenticated a request, to the minute (null: never). */
  last_used: z.string().nullable(),
});
export type ApiTokenRecord = z.infer<typeof ApiTokenRecord>;

export type { Principal } from '../domain/api-token.js';

export interface NewOrg {
  name: string;
  createdBy?: string;
}

export interface NewApiToken {
  orgId: string;
  name?: string;
  expires?: Date;
  invocationId?: string;
  /** With `invocationId`: the attempt the token is for; a later attempt of the invocation refuses it. */
  attempt?: number;
}

/** Orgs and their API tokens; the token secret leaves the store once, from `createToken`. */
export interface TenancyStore {
  createOrg(org: NewOrg): Promise<OrgRecord>;
  getOrg(orgId: string): Promise<OrgRecord | undefined>;
  /** Every org, oldest first. */
  listOrgs(): Promise<OrgRecord[]>;
  /**
   * Makes a token for an existing org (UnknownOrgError otherwise) and returns its secret, the one time it
   * is ever available: only its hash is stored.
   */
  createToken(token: NewApiToken): Promise<{ record: ApiTokenRecord; token: string }>;
  getToken(tokenId: string): Promise<ApiTokenRecord | undefined>;
  /** The tokens of one org, or of all, oldest first. */
  listTokens(filter?: { orgId?: string }): Promise<ApiTokenRecord[]>;
  /** Revokes a token (again is a no-op keeping the first time); undefined when there is no such token. */
  revokeToken(tokenId: string): Promise<ApiTokenRecord | undefined>;
  /** Revokes every token scoped to an invocation (when it ends); the ids of those revoked now. */
  revokeInvocationTokens(invocationId: string): Promise<string[]>;
  /**
   * The principal a bearer token stands for, or undefined for anything else: not one of our tokens, an
   * unknown id, a wrong secret, a revoked or an expired token. One key read and a constant-time comparison
   * (and, at most once a minute per token, a write of its `last_used`).
   */
  authenticate(bearer: string, now?: Date): Promise<Principal | undefined>;
  close(): Promise<void>;
}
