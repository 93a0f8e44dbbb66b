import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { RequestAuthenticator, Caller } from '../api/org-scope.js';
import {
  type Principal,
  UnknownOrgError,
  hashApiToken,
  mintApiToken,
  tokenMatchesHash,
} from '../domain/api-token.js';
import { isTerminal } from '../domain/invocation-status.js';
import type { InvocationCredential, InvocationCredentials } from '../ports/invocation-credentials.js';
import type { InvocationRecord, InvocationStore, TransitionOptions } from '../ports/invocation-store.js';
import type { TenancyStore } from '../ports/tenancy.js';
import type { InvocationStatus } from '../domain/invocation-status.js';

/**
 * Per-invocation tokens from the tenancy store (Redis): a token of the invocation's org, scoped to the
 * invocation (`invocation_id` on its record), expiring by itself, revoked by id when the attempt's container
 * is gone. An org the tenancy store does not know gets none (the API would not know it either).
 */
export function tenancyCredentials(
  tenancy: Pick<TenancyStore, 'createToken' | 'revokeToken'>,
): InvocationCredentials {
  return {
    issue: async ({ invocationId, orgId, attempt, expires }) => {
      let created;
      try {
        created = await tenancy.createToken({
          orgId,
          invocationId,
          attempt,
          name: `invocation ${invocationId} attempt ${attempt}`,
          expires,
        });
      } catch (error) {
        if (error instanceof UnknownOrgError) return undefined;
        throw error;
      }
      const tokenId = created.record.token_id;
      return {
        token: created.token,
        revoke: async () => {
          await tenancy.revokeToken(tokenId);
        },
      };
    },
  };
}

/**
 * The invocation records, revoking every token of an invocation the moment a transition makes it terminal
 * (Completed, Failed, Cancelled, Deadly): also on the paths where no attempt's pipeline runs to its end —
 * a lost attempt settled by the next one or by the reconciler, a cancel of a queued invocation. A revoke
 * that fails is logged; the API's authenticator refuses such a token anyway ({@link refusingFinishedInvocations}).
 */
export class TokenRevokingInvocationStore implements InvocationStore {
  constructor(
    private readonly store: InvocationStore,
    private readonly tenancy: Pick<TenancyStore, 'revokeInvocationTokens'>,
    private readonly logger: Logger,
  ) {}

  async transition(
    invocationId: string,
    to: InvocationStatus,
    detail: string | null,
    options?: TransitionOptions,
  ): Promise<InvocationRecord> {
    const record = await this.store.transition(invocationId, to, detail, options);
    if (isTerminal(record.last_status)) {
      await this.tenancy.revokeInvocationTokens(invocationId).then(
        (revoked) => {
          if (revoked.length > 0)
            this.logger.info({ invocationId, tokenIds: revoked }, 'credentials.revoked');
        },
        (error: unknown) => {
          this.logger.warn({ err: error, invocationId }, 'credentials.revoke_failed');
        },
      );
    }
    return record;
  }

  create: InvocationStore['create'] = (request) => this.store.create(request);
  get: InvocationStore['get'] = (invocationId) => this.store.get(invocationId);
  list: InvocationStore['list'] = (options) => this.store.list(options);
  query: InvocationStore['query'] = (orgId, query, wire) => this.store.query(orgId, query, wire);
  startAttempt: InvocationStore['startAttempt'] = (id, attempt) => this.store.startAttempt(id, attempt);
  countHandback: InvocationStore['countHandback'] = (id) => this.store.countHandback(id);
  appendLiveLog: InvocationStore['appendLiveLog'] = (id, attempt, text) =>
    this.store.appendLiveLog(id, attempt, text);
  readLiveLog: InvocationStore['readLiveLog'] = (id, cursor, blockMs) =>
    this.store.readLiveLog(id, cursor, blockMs);
  heartbeat: InvocationStore['heartbeat'] = (id, attempt) => this.store.heartbeat(id, attempt);
  setRunInfo: InvocationStore['setRunInfo'] = (id, info) => this.store.setRunInfo(id, info);
  setLog: InvocationStore['setLog'] = (id, text) => this.store.setLog(id, text);
  getLog: InvocationStore['getLog'] = (id) => this.store.getLog(id);
  requestCancel: InvocationStore['requestCancel'] = (id) => this.store.requestCancel(id);
  onCancelRequested: InvocationStore['onCancelRequested'] = (listener) =>
    this.store.onCancelRequested(listener);
}

/**
 * Defence in depth for per-invocation tokens: a token scoped to an invocation authenticates only while
 * that invocation's record exists in the token's org, is not terminal and is at the attempt the token was
 * minted for, read on every request (nothing cached), whether or not its revoke happened. Other tokens
 * pass as the inner authenticator says.
 */
export function refusingFinishedInvocations(
  inner: { authenticate(bearer: string): Promise<Principal | undefined> },
  records: Pick<InvocationStore, 'get'>,
): RequestAuthenticator {
  return {
    authenticate: async (bearer): Promise<Caller | undefined> => {
      const principal = await inner.authenticate(bearer);
      if (principal?.invocationId === undefined) return principal;
      const record = await records.get(principal.invocationId);
      if (record === undefined || record.org_id !== principal.orgId) return undefined;
      if (record.is_finished || isTerminal(record.last_status)) return undefined;
      // A token of an earlier attempt stays dead when a retry makes the record live again.
      if (principal.attempt !== undefined && principal.attempt !== record.attempt) return undefined;
      return principal;
    },
  };
}

/**
 * The credentials of one `action-worker run`: one in-memory token for the run's invocation, which is
 * also the only key its in-process API accepts. It dies with its revoke, with a terminal status
 * ({@link finish}), or with the process; nothing of it is stored.
 */
export class LocalRunCredentials implements InvocationCredentials, RequestAuthenticator {
  private issued: { hash: string; tokenId: string; orgId: string; invocationId: string } | undefined;
  private ended = false;
  /** Where the run's API listens: the action's ROBOTO_SERVICE_ENDPOINT. */
  serviceEndpoint: string | undefined;

  issue({ invocationId, orgId }: { invocationId: string; orgId: string }): Promise<InvocationCredential> {
    const minted = mintApiToken();
    this.issued = { hash: minted.hash, tokenId: minted.tokenId, orgId, invocationId };
    this.ended = false;
    return Promise.resolve({
      token: minted.token,
      ...(this.serviceEndpoint === undefined ? {} : { serviceEndpoint: this.serviceEndpoint }),
      revoke: () => {
        this.ended = true;
        return Promise.resolve();
      },
    });
  }

  /** The run's invocation reached a terminal status: its token is refused from now on. */
  finish(): void {
    this.ended = true;
  }

  authenticate(bearer: string): Promise<Principal | undefined> {
    const issued = this.issued;
    // Compared in constant time even when there is no token (against a hash no token has).
    const matches = tokenMatchesHash(bearer, issued?.hash ?? hashApiToken(randomBytes(32).toString('hex')));
    if (!matches || issued === undefined || this.ended) return Promise.resolve(undefined);
    return Promise.resolve({
      orgId: issued.orgId,
      tokenId: issued.tokenId,
      invocationId: issued.invocationId,
    });
  }
}
