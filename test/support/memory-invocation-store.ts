import { FencedError, InvalidTransitionError, UsageError } from '../../src/domain/errors.js';
import { randomId } from '../../src/domain/ids.js';
import {
  type InvocationQuery,
  pageInvocations,
  prepareInvocationQuery,
} from '../../src/domain/invocation-query.js';
import type { InvocationRequest } from '../../src/domain/invocation-request.js';
import { type WireOptions, invocationToWire } from '../../src/domain/invocation-wire.js';
import type { Page } from '../../src/domain/store-query.js';
import { InvocationStatus, canTransition, isFinal } from '../../src/domain/invocation-status.js';
import type {
  InvocationRecord,
  InvocationStore,
  TransitionOptions,
} from '../../src/ports/invocation-store.js';

interface Stored {
  record: InvocationRecord;
  log: string;
  live: { attempt: number; text: string }[];
}

/**
 * An InvocationStore in memory, for unit tests: the same rules as the Redis store (the transition
 * matrix, the attempt fence on transitions and heartbeats, finished records, cancel requests told to
 * every subscriber at once), without a server. Records are handed out as copies.
 */
export class MemoryInvocationStore implements InvocationStore {
  private readonly records = new Map<string, Stored>();
  private readonly idempotency = new Map<string, string>();
  private readonly cancelListeners = new Set<(invocationId: string) => void>();

  create(request: InvocationRequest): Promise<{ record: InvocationRecord; isNew: boolean }> {
    const idemKey =
      request.idempotency_id === null ? undefined : `${request.org_id}:${request.idempotency_id}`;
    const existing = idemKey === undefined ? undefined : this.idempotency.get(idemKey);
    if (existing !== undefined) return Promise.resolve({ record: this.copy(existing), isNew: false });
    const invocationId = randomId('iv');
    if (idemKey !== undefined) this.idempotency.set(idemKey, invocationId);
    const created = new Date().toISOString();
    this.records.set(invocationId, {
      record: {
        invocation_id: invocationId,
        org_id: request.org_id,
        created,
        request,
        last_status: InvocationStatus.Queued,
        status: [{ status: InvocationStatus.Queued, detail: null, timestamp: created }],
        attempt: 0,
        last_heartbeat: null,
        image: null,
        is_cancel_requested: false,
        is_finished: false,
        handbacks: 0,
      },
      log: '',
      live: [],
    });
    return Promise.resolve({ record: this.copy(invocationId), isNew: true });
  }

  get(invocationId: string): Promise<InvocationRecord | undefined> {
    return Promise.resolve(this.records.has(invocationId) ? this.copy(invocationId) : undefined);
  }

  async query(orgId: string, query: InvocationQuery, wire: WireOptions): Promise<Page<InvocationRecord>> {
    await Promise.resolve();
    const prepared = prepareInvocationQuery(query);
    const records = [...this.records.keys()]
      .map((id) => this.copy(id))
      .filter((record) => record.org_id === orgId);
    return pageInvocations(prepared, records, (record) => invocationToWire(record, wire));
  }

  list(options: { status?: InvocationStatus; limit: number }): Promise<InvocationRecord[]> {
    const records = [...this.records.keys()]
      .reverse()
      .map((id) => this.copy(id))
      .filter((record) => options.status === undefined || record.last_status === options.status);
    return Promise.resolve(records.slice(0, options.limit));
  }

  async transition(
    invocationId: string,
    to: InvocationStatus,
    detail: string | null,
    options: TransitionOptions = {},
  ): Promise<InvocationRecord> {
    await Promise.resolve();
    const { record } = this.stored(invocationId);
    if (options.attempt !== undefined && record.attempt !== options.attempt) {
      throw new FencedError(invocationId, options.attempt);
    }
    if (!canTransition(record.last_status, to)) {
      throw new InvalidTransitionError(invocationId, record.last_status, to);
    }
    record.status.push({ status: to, detail, timestamp: new Date().toISOString() });
    record.last_status = to;
    if (options.final ?? isFinal(to)) record.is_finished = true;
    return this.copy(invocationId);
  }

  async startAttempt(invocationId: string, attempt: number): Promise<void> {
    await Promise.resolve();
    const { record } = this.stored(invocationId);
    if (record.attempt >= attempt) throw new FencedError(invocationId, attempt);
    record.attempt = attempt;
  }

  async countHandback(invocationId: string): Promise<number> {
    await Promise.resolve();
    const { record } = this.stored(invocationId);
    record.handbacks += 1;
    return record.handbacks;
  }

  async appendLiveLog(invocationId: string, attempt: number, text: string): Promise<void> {
    await Promise.resolve();
    this.stored(invocationId).live.push({ attempt, text });
  }

  /** All kept output after `cursor` (an entry count), at once: nothing here waits for more. */
  readLiveLog(
    invocationId: string,
    cursor: string,
  ): Promise<{ cursor: string; entries: { attempt: number; text: string }[] }> {
    const live = this.records.get(invocationId)?.live ?? [];
    const from = cursor === '0' ? 0 : Number(cursor);
    return Promise.resolve({ cursor: String(live.length), entries: live.slice(from) });
  }

  async heartbeat(invocationId: string, attempt: number): Promise<void> {
    await Promise.resolve();
    const stored = this.records.get(invocationId);
    if (stored?.record.attempt !== attempt) throw new FencedError(invocationId, attempt);
    stored.record.last_heartbeat = new Date().toISOString();
  }

  async setRunInfo(invocationId: string, info: { image?: InvocationRecord['image'] }): Promise<void> {
    await Promise.resolve();
    if (info.image !== undefined) this.stored(invocationId).record.image = info.image;
  }

  async setLog(invocationId: string, text: string): Promise<void> {
    await Promise.resolve();
    this.stored(invocationId).log = text;
  }

  getLog(invocationId: string): Promise<string> {
    return Promise.resolve(this.records.get(invocationId)?.log ?? '');
  }

  async requestCancel(invocationId: string): Promise<void> {
    await Promise.resolve();
    this.stored(invocationId).record.is_cancel_requested = true;
    for (const listener of this.cancelListeners) listener(invocationId);
  }

  onCancelRequested(listener: (invocationId: string) => void): Promise<() => Promise<void>> {
    this.cancelListeners.add(listener);
    return Promise.resolve(() => {
      this.cancelListeners.delete(listener);
      return Promise.resolve();
    });
  }

  /** The statuses the record went through, by name and detail (for assertions). */
  history(invocationId: string): InvocationRecord['status'] {
    return this.copy(invocationId).status;
  }

  private stored(invocationId: string): Stored {
    const stored = this.records.get(invocationId);
    if (stored === undefined) throw new UsageError(`no invocation ${invocationId}`, 'E_INVALID_INPUT');
    return stored;
  }

  private copy(invocationId: string): InvocationRecord {
    return structuredClone(this.stored(invocationId).record);
  }
}
