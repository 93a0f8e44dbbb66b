import { Redis, type RedisOptions } from 'ioredis';
import { z } from 'zod';
import {
  FencedError,
  InvalidTransitionError,
  MalformedRecordError,
  UsageError,
} from '../../domain/errors.js';
import { randomId } from '../../domain/ids.js';
import type { InvocationRequest } from '../../domain/invocation-request.js';
import {
  ALL_STATUSES,
  InvocationStatus,
  type StatusRecord,
  canTransition,
  isFinal,
  parseStatus,
} from '../../domain/invocation-status.js';
import {
  type InvocationQuery,
  pageInvocations,
  prepareInvocationQuery,
} from '../../domain/invocation-query.js';
import { type WireOptions, invocationToWire } from '../../domain/invocation-wire.js';
import type { Page } from '../../domain/store-query.js';
import type { InvocationRecord, InvocationStore, TransitionOptions } from '../../ports/invocation-store.js';
import { withTimeout } from '../../util/with-timeout.js';

/**
 * Appends a status when the current one is among the allowed predecessors (ARGV[6..]), atomically. The
 * allowed list comes from the one transition matrix in TypeScript; the script only compares. ARGV[3], when
 * not empty, is the writer's attempt: a write from any other attempt than the record's current one is
 * refused (the fence that keeps a zombie attempt from writing). ARGV[4] = "1" marks the record finished
 * and gives its live output (KEYS[3]) ARGV[5] seconds more.
 * Returns "ok", "fenced", "missing", or the current status when the transition is refused.
 */
const TRANSITION = `
local current = redis.call('HGET', KEYS[1], 'last_status')
if not current then return 'missing' end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[3] then return 'fenced' end
for i = 6, #ARGV do
  if ARGV[i] == current then
    redis.call('RPUSH', KEYS[2], ARGV[1])
    redis.call('HSET', KEYS[1], 'last_status', ARGV[2])
    if ARGV[4] == '1' then
      redis.call('HSET', KEYS[1], 'finished', '1')
      redis.call('EXPIRE', KEYS[3], ARGV[5])
    end
    return 'ok'
  end
end
return current
`;

/** Creates the record (hash, status list, index entry) unless it exists: 1 when written, 0 when not. */
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'request', ARGV[1], 'org_id', ARGV[2], 'created', ARGV[3], 'last_status', ARGV[4], 'attempt', '0')
redis.call('RPUSH', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[7])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7])
return 1
`;

/** The heartbeat of attempt ARGV[1], written only while it is the record's attempt: "ok" or "fenced". */
const HEARTBEAT = `
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1] then return 'fenced' end
redis.call('HSET', KEYS[1], 'last_heartbeat', ARGV[2])
return 'ok'
`;

/** Claims the record for attempt ARGV[1] when no later attempt has: "ok", "missing", or the later attempt. */
const START_ATTEMPT = `
local current = redis.call('HGET', KEYS[1], 'attempt')
if not current then return 'missing' end
if tonumber(current) >= tonumber(ARGV[1]) then return current end
redis.call('HSET', KEYS[1], 'attempt', ARGV[1])
return 'ok'
`;

/** Records read at once by a query. */
const QUERY_BATCH = 100;

/** Kept a while after the invocation finishes, for a follower that is just catching up. */
const LIVE_LOG_TTL_SECONDS = 3600;
/** Entries are flushes of up to 64 KiB: about 4 MiB of recent output at most. */
const LIVE_LOG_ENTRIES = 64;

function parseField(invocationId: string, field: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new MalformedRecordError(invocationId, `${field} (not JSON)`, error);
  }
}

/**
 * What every reader of a stored request relies on. The full request is checked where it is used (the
 * daemon fails an invocation whose request is invalid); records of newer versions may carry more.
 */
const StoredRequest = z.looseObject({ action: z.looseObject({ image: z.string() }) });

function parseRequest(invocationId: string, text: string): InvocationRequest {
  const request = parseField(invocationId, 'request', text);
  if (!StoredRequest.safeParse(request).success) {
    throw new MalformedRecordError(invocationId, 'request (no action image)');
  }
  return request as InvocationRequest;
}

/**
 * Invocation records in Redis. Keys, under a prefix:
 *
 *   <prefix>inv:<id>             hash: request, org, created, last_status, attempt, heartbeat, run info, log
 *   <prefix>inv:<id>:status      list of status records, oldest first
 *   <prefix>invocations          sorted set of ids by creation time
 *   <prefix>org:<org>:invocations  the same, of one org (what queries read; records created before
 *                                the index existed are not in it)
 *   <prefix>idem:<org>:<key>     the invocation an idempotency id was first used for
 *   <prefix>inv:<id>:live        stream of the running attempt's masked output, for `logs --follow`
 *   <prefix>cancel               pub/sub channel of cancel requests
 */
export class RedisInvocationStore implements InvocationStore {
  private readonly redis: Redis;
  private readonly subscribers: Redis[] = [];

  constructor(
    private readonly options: {
      redis: RedisOptions | string;
      prefix?: string;
      onError?: (error: Error) => void;
    },
  ) {
    this.redis = typeof options.redis === 'string' ? new Redis(options.redis) : new Redis(options.redis);
    this.watch(this.redis);
  }

  /** Connection errors are reported, not thrown: ioredis reconnects and queued commands go through then. */
  private watch(connection: Redis): void {
    connection.on('error', (error: Error) => {
      this.options.onError?.(error);
    });
  }

  private get prefix(): string {
    return this.options.prefix ?? 'action-worker:';
  }

  private key(id: string): string {
    return `${this.prefix}inv:${id}`;
  }

  private orgIndexKey(orgId: string): string {
    return `${this.prefix}org:${orgId}:invocations`;
  }

  async query(orgId: string, query: InvocationQuery, wire: WireOptions): Promise<Page<InvocationRecord>> {
    const prepared = prepareInvocationQuery(query);
    const ids = await this.redis.zrange(this.orgIndexKey(orgId), 0, -1);
    const records: InvocationRecord[] = [];
    for (let start = 0; start < ids.length; start += QUERY_BATCH) {
      // A record that cannot be read is left out (and reported where it is read by id), not the whole query.
      const batch = await Promise.all(
        ids.slice(start, start + QUERY_BATCH).map((id) =>
          this.get(id).catch((error: unknown) => {
            if (error instanceof MalformedRecordError) return undefined;
            throw error;
          }),
        ),
      );
      for (const record of batch) if (record !== undefined && record.org_id === orgId) records.push(record);
    }
    return pageInvocations(prepared, records, (record) => invocationToWire(record, wire));
  }

  private liveKey(id: string): string {
    return `${this.prefix}inv:${id}:live`;
  }

  async create(request: InvocationRequest): Promise<{ record: InvocationRecord; isNew: boolean }> {
    let invocationId = randomId('iv');
    if (request.idempotency_id !== null) {
      const idemKey = `${this.prefix}idem:${request.org_id}:${request.idempotency_id}`;
      const claimed = await this.redis.set(idemKey, invocationId, 'NX');
      if (claimed === null) {
        const existingId = (await this.redis.get(idemKey)) ?? invocationId;
        // The first creator may be between claiming the key and writing the record: give it a moment.
        for (let wait = 0; wait < 20; wait += 1) {
          const existing = await this.get(existingId);
          if (existing) return { record: existing, isNew: false };
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        // It died there: finish its work (the record is written only if still absent).
        invocationId = existingId;
      }
    }
    const created = new Date().toISOString();
    const queued: StatusRecord = { status: InvocationStatus.Queued, detail: null, timestamp: created };
    // Written only when absent: two invokes racing on one idempotency id write one record between them.
    const wrote = (await this.redis.eval(
      CREATE,
      4,
      this.key(invocationId),
      `${this.key(invocationId)}:status`,
      `${this.prefix}invocations`,
      this.orgIndexKey(request.org_id),
      JSON.stringify(request),
      request.org_id,
      created,
      String(InvocationStatus.Queued),
      JSON.stringify(queued),
      String(Date.parse(created)),
      invocationId,
    )) as number;
    const record = await this.get(invocationId);
    if (record === undefined) throw new Error(`invocation ${invocationId} vanished right after its creation`);
    return { record, isNew: wrote === 1 };
  }

  async get(invocationId: string): Promise<InvocationRecord | undefined> {
    const [fields, statuses] = await Promise.all([
      this.redis.hgetall(this.key(invocationId)),
      this.redis.lrange(`${this.key(invocationId)}:status`, 0, -1),
    ]);
    if (fields.request === undefined) return undefined;
    const lastStatus = parseStatus(fields.last_status);
    if (lastStatus === undefined) throw new MalformedRecordError(invocationId, 'last_status (not a status)');
    return {
      invocation_id: invocationId,
      org_id: fields.org_id ?? '',
      created: fields.created ?? '',
      request: parseRequest(invocationId, fields.request),
      last_status: lastStatus,
      status: statuses.map(
        (status, index) => parseField(invocationId, `status entry ${index + 1}`, status) as StatusRecord,
      ),
      attempt: Number(fields.attempt ?? 0),
      last_heartbeat: fields.last_heartbeat ?? null,
      image: fields.image
        ? (parseField(invocationId, 'image', fields.image) as InvocationRecord['image'])
        : null,
      is_cancel_requested: fields.cancel_requested === '1',
      is_finished: fields.finished === '1',
      handbacks: Number(fields.handbacks ?? 0),
    };
  }

  async list(options: { status?: InvocationStatus; limit: number }): Promise<InvocationRecord[]> {
    const records: InvocationRecord[] = [];
    let offset = 0;
    const page = Math.max(options.limit, 50);
    while (records.length < options.limit) {
      const ids = await this.redis.zrevrange(`${this.prefix}invocations`, offset, offset + page - 1);
      if (ids.length === 0) break;
      offset += ids.length;
      for (const id of ids) {
        const record = await this.get(id);
        if (record && (options.status === undefined || record.last_status === options.status))
          records.push(record);
        if (records.length >= options.limit) break;
      }
    }
    return records;
  }

  async transition(
    invocationId: string,
    to: InvocationStatus,
    detail: string | null,
    options: TransitionOptions = {},
  ): Promise<InvocationRecord> {
    const allowedFrom = ALL_STATUSES.filter((from) => canTransition(from, to)).map(String);
    const entry: StatusRecord = { status: to, detail, timestamp: new Date().toISOString() };
    const finishes = options.final ?? isFinal(to);
    const result = (await this.redis.eval(
      TRANSITION,
      3,
      this.key(invocationId),
      `${this.key(invocationId)}:status`,
      this.liveKey(invocationId),
      JSON.stringify(entry),
      String(to),
      options.attempt === undefined ? '' : String(options.attempt),
      finishes ? '1' : '0',
      String(LIVE_LOG_TTL_SECONDS),
      ...allowedFrom,
    )) as string;
    if (result === 'missing') throw new UsageError(`no invocation ${invocationId}`, 'E_INVALID_INPUT');
    if (result === 'fenced') throw new FencedError(invocationId, options.attempt ?? 0);
    if (result !== 'ok')
      throw new InvalidTransitionError(invocationId, Number(result) as InvocationStatus, to);
    const record = await this.get(invocationId);
    if (record === undefined) throw new UsageError(`no invocation ${invocationId}`, 'E_INVALID_INPUT');
    return record;
  }

  async startAttempt(invocationId: string, attempt: number): Promise<void> {
    const result = (await this.redis.eval(
      START_ATTEMPT,
      1,
      this.key(invocationId),
      String(attempt),
    )) as string;
    if (result === 'missing') throw new UsageError(`no invocation ${invocationId}`, 'E_INVALID_INPUT');
    if (result !== 'ok') throw new FencedError(invocationId, attempt);
  }

  async countHandback(invocationId: string): Promise<number> {
    return await this.redis.hincrby(this.key(invocationId), 'handbacks', 1);
  }

  async appendLiveLog(invocationId: string, attempt: number, text: string): Promise<void> {
    await this.redis
      .multi()
      .xadd(
        this.liveKey(invocationId),
        'MAXLEN',
        '~',
        String(LIVE_LOG_ENTRIES),
        '*',
        'attempt',
        String(attempt),
        'text',
        text,
      )
      // A stream whose invocation never finishes (its record deleted, say) still goes within a day.
      .expire(this.liveKey(invocationId), 24 * 3600)
      .exec();
  }

  async readLiveLog(
    invocationId: string,
    after: string,
    blockMs: number,
  ): Promise<{ cursor: string; entries: { attempt: number; text: string }[] }> {
    const args = [...(blockMs > 0 ? ['BLOCK', blockMs] : []), 'STREAMS', this.liveKey(invocationId), after];
    // A blocking read ties up its connection: use a short-lived duplicate so other calls are not held up.
    const connection = blockMs > 0 ? this.redis.duplicate() : this.redis;
    if (connection !== this.redis) this.watch(connection);
    try {
      const reply = (await (connection.xread as (...a: unknown[]) => Promise<unknown>)(...args)) as
        [string, [string, string[]][]][] | null;
      const entries: { attempt: number; text: string }[] = [];
      let cursor = after;
      for (const [, items] of reply ?? []) {
        for (const [id, fields] of items) {
          cursor = id;
          const field = (name: string): string => fields[fields.indexOf(name) + 1] ?? '';
          entries.push({ attempt: Number(field('attempt')), text: field('text') });
        }
      }
      return { cursor, entries };
    } finally {
      if (connection !== this.redis) connection.disconnect();
    }
  }

  async heartbeat(invocationId: string, attempt: number): Promise<void> {
    const result = (await this.redis.eval(
      HEARTBEAT,
      1,
      this.key(invocationId),
      String(attempt),
      new Date().toISOString(),
    )) as string;
    if (result !== 'ok') throw new FencedError(invocationId, attempt);
  }

  async setRunInfo(invocationId: string, info: { image?: InvocationRecord['image'] }): Promise<void> {
    const fields: Record<string, string> = {};
    if (info.image !== undefined) fields.image = JSON.stringify(info.image);
    if (Object.keys(fields).length > 0) await this.redis.hset(this.key(invocationId), fields);
  }

  async setLog(invocationId: string, text: string): Promise<void> {
    await this.redis.hset(this.key(invocationId), { log: text });
  }

  async getLog(invocationId: string): Promise<string> {
    return (await this.redis.hget(this.key(invocationId), 'log')) ?? '';
  }

  async requestCancel(invocationId: string): Promise<void> {
    if ((await this.redis.exists(this.key(invocationId))) === 0) {
      throw new UsageError(`no invocation ${invocationId}`, 'E_INVALID_INPUT');
    }
    // The flag is the backstop a worker polls; the message reaches a subscribed worker at once.
    await this.redis.hset(this.key(invocationId), { cancel_requested: '1' });
    await this.redis.publish(`${this.prefix}cancel`, invocationId);
  }

  async onCancelRequested(listener: (invocationId: string) => void): Promise<() => Promise<void>> {
    const subscriber = this.redis.duplicate();
    this.watch(subscriber);
    this.subscribers.push(subscriber);
    const channel = `${this.prefix}cancel`;
    subscriber.on('message', (from: string, message: string) => {
      if (from === channel) listener(message);
    });
    await subscriber.subscribe(channel);
    return async () => {
      // Politely when Redis answers within 2 s; the connection is dropped either way.
      await withTimeout(subscriber.unsubscribe(channel), 2_000).catch(() => undefined);
      subscriber.disconnect();
    };
  }

  /** Closes the connections: politely when Redis answers within 3 s, else by dropping them. */
  async close(): Promise<void> {
    for (const subscriber of this.subscribers.splice(0)) subscriber.disconnect();
    await withTimeout(this.redis.quit(), 3_000).catch(() => undefined);
    this.redis.disconnect();
  }
}
