import type { InvocationRequest } from '../domain/invocation-request.js';
import type { InvocationQuery } from '../domain/invocation-query.js';
import type { InvocationStatus, StatusRecord } from '../domain/invocation-status.js';
import type { WireOptions } from '../domain/invocation-wire.js';
import type { Page } from '../domain/store-query.js';

/** An invocation as every host sees it. */
export interface InvocationRecord {
  invocation_id: string;
  org_id: string;
  created: string;
  request: InvocationRequest;
  last_status: InvocationStatus;
  status: StatusRecord[];
  attempt: number;
  last_heartbeat: string | null;
  image: { reference: string; id: string; digest: string | null } | null;
  is_cancel_requested: boolean;
  /** No more attempts will run: Completed, Cancelled, Deadly, or Failed without a retry. */
  is_finished: boolean;
  /** Attempts handed back unspent (worker shutdown, no room yet): not counted against the retry limit. */
  handbacks: number;
}

export interface TransitionOptions {
  /** The writing attempt; the write is refused (FencedError) when a later attempt holds the record. */
  attempt?: number;
  /** Whether no more attempts follow; by default true for the final statuses (`isFinal`). */
  final?: boolean;
}

/**
 * Invocation records readable from any host: the request, the status history, heartbeat, log. Its errors
 * are the domain's (domain/errors.ts): FencedError for a write by an attempt that no longer holds the
 * record, InvalidTransitionError for a transition the matrix refuses, MalformedRecordError for a stored
 * record that cannot be read.
 */
export interface InvocationStore {
  /** A new Queued invocation, or the existing one when the request's idempotency id was used before. */
  create(request: InvocationRequest): Promise<{ record: InvocationRecord; isNew: boolean }>;
  get(invocationId: string): Promise<InvocationRecord | undefined>;
  /**
   * One page of the org's invocations matching a QuerySpecification (spec §2.11, I2), evaluated over their
   * wire records (`invocationToWire` with `wire`), with the total. UsageError for a malformed query.
   */
  query(orgId: string, query: InvocationQuery, wire: WireOptions): Promise<Page<InvocationRecord>>;
  /** Newest first. */
  list(options: { status?: InvocationStatus; limit: number }): Promise<InvocationRecord[]>;
  /** Appends a status, atomically checked against the matrix; InvalidTransitionError when forbidden. */
  transition(
    invocationId: string,
    to: InvocationStatus,
    detail: string | null,
    options?: TransitionOptions,
  ): Promise<InvocationRecord>;
  /** Makes `attempt` the record's current attempt; FencedError when a later one already is. */
  startAttempt(invocationId: string, attempt: number): Promise<void>;
  /** Counts one attempt handed back unspent; returns the new count. */
  countHandback(invocationId: string): Promise<number>;
  /** The running attempt's output (already masked), for followers. */
  appendLiveLog(invocationId: string, attempt: number, text: string): Promise<void>;
  /** Output after `cursor` ("0" for all kept), waiting up to `blockMs` for some when there is none. */
  readLiveLog(
    invocationId: string,
    cursor: string,
    blockMs: number,
  ): Promise<{ cursor: string; entries: { attempt: number; text: string }[] }>;
  heartbeat(invocationId: string, attempt: number): Promise<void>;
  setRunInfo(invocationId: string, info: { image?: InvocationRecord['image'] }): Promise<void>;
  setLog(invocationId: string, text: string): Promise<void>;
  getLog(invocationId: string): Promise<string>;
  /** Marks the invocation to be cancelled and tells every subscriber at once. */
  requestCancel(invocationId: string): Promise<void>;
  /** Calls back with the id of every cancel request; returns the unsubscribe. */
  onCancelRequested(listener: (invocationId: string) => void): Promise<() => Promise<void>>;
}
