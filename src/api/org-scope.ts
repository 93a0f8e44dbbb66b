import { HttpError } from './errors.js';

/** Who a bearer token is: what a RequestAuthenticator answers for a token it knows. */
export interface Caller {
  /** The org the token belongs to. */
  orgId: string;
  /** The token's id (never the token itself): what logs and records may name. */
  tokenId: string;
  /** Set for an action's own token, scoped to its invocation. */
  invocationId?: string;
}

/**
 * The authentication seam: the server is given one. It answers who a bearer token is, or undefined for a
 * token it does not know (expired, revoked, never issued). The tenancy slice implements it over Redis.
 */
export interface RequestAuthenticator {
  authenticate(bearerToken: string): Promise<Caller | undefined>;
}

export const CALLER_ORG_HEADER = 'x-roboto-org-id';
export const OWNER_ORG_HEADER = 'x-roboto-resource-owner-id';

/** The orgs a request acts in, once its headers are checked against what its token allows. */
export interface OrgScope {
  /** The org the caller acts on behalf of: where creates go. */
  callerOrgId: string;
  /**
   * The org that owns a name-addressed resource or a query's scope. It may be another org than the
   * caller's (an action_hub action): the route authorizes the resource it finds.
   */
  ownerOrgId: string;
}

type HeaderValue = string | string[] | undefined;

function single(name: string, value: HeaderValue): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    if (value.length > 1)
      throw new HttpError(400, 'RobotoInvalidRequestException', `${name} given more than once`);
    value = value[0];
  }
  const trimmed = value?.trim();
  return trimmed === '' ? undefined : trimmed;
}

/**
 * Spec §1.12's org rules: the caller org header may name only an org the token is a member of, and defaults
 * to its one org (several → RobotoNoOrgProvidedException, with the message older clients match on; none →
 * unauthorized); the owner header defaults to the caller org. `memberOf`: the orgs the token allows, today
 * the one org a token belongs to.
 */
export function resolveOrgScope(
  headers: { [CALLER_ORG_HEADER]?: HeaderValue; [OWNER_ORG_HEADER]?: HeaderValue },
  memberOf: readonly string[],
): OrgScope {
  const asked = single('X-Roboto-Org-Id', headers[CALLER_ORG_HEADER]);
  let callerOrgId: string;
  if (asked !== undefined) {
    if (!memberOf.includes(asked)) {
      throw new HttpError(403, 'RobotoUnauthorizedException', 'this token may not act on behalf of that org');
    }
    callerOrgId = asked;
  } else if (memberOf.length === 1) {
    callerOrgId = memberOf[0] as string;
  } else if (memberOf.length === 0) {
    throw new HttpError(403, 'RobotoUnauthorizedException', 'this token belongs to no org');
  } else {
    throw new HttpError(
      400,
      'RobotoNoOrgProvidedException',
      'User did not provide a org for single-org operation: send X-Roboto-Org-Id',
    );
  }
  const ownerOrgId = single('X-Roboto-Resource-Owner-Id', headers[OWNER_ORG_HEADER]) ?? callerOrgId;
  return { callerOrgId, ownerOrgId };
}
