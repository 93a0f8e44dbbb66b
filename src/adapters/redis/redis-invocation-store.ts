import { Redis, type RedisOptions } from 'ioredis';
import { ActionWorkerError, UsageError } from '../../domain/errors.js';
import { randomId } from '../../domain/ids.js';
import type { InvocationRequest } from '../../domain/invocation-request.js';
import {
  ALL_STATUSES,
  InvocationStatus,
  type StatusRecord,
  canTransition,
  statusName,
} from '../../domain/invocation-status.js';
import type { InvocationRecord, InvocationStore } from '../../ports/invocation-store.js';

/**
 * Appends a status when the current one is among the allowed predecessors (ARGV[3..]), atomically. The
 * allowed list comes from the one transition matrix in TypeScript; the script only compares.
 * Returns "ok", or the current status when the transition is refused, or "missing".
 */
const TRANSITION = `
local current = redis.call('HGET', KEYS[1], 'last_status')
if not current then return 'missing' end
for i = 3, #ARGV do
  if ARGV[i] == current then
    redis.call('RPUSH', KEYS[2], ARGV[1])
    redis.call('HSET', KEYS[1], 'last_status', ARGV[2])
    return 'ok'
  end
end
return current
`;

export class InvalidTransitionError extends ActionWorkerError {
  constructor(invocationId: string, from: InvocationStatus, to: InvocationStatus) {
    super(`invocation ${invocationId} cannot go from ${statusName(from)} to ${statusName(to)}`, {
      code: 'E_USAGE',
      retryable: false,
    });
  }
}

/**
 * Invocation records in Redis. Keys, under a prefix:
 *
 *   <prefix>inv:<id>             hash: request, org, created, last_status, attempt, heartbeat, run info, log
 *   <prefix>inv:<id>:status      list of status records, oldest first
 *   <prefix>invocations          sorted set of ids by creation time
 *   <prefix>idem:<org>:<key>     the invocation an idempotency id was first used for
 *   <prefix>cancel               pub/sub channel of cancel requests
 */
export class RedisInvocationStore implements InvocationStore {
  private readonly redis: Redis;
  private readonly subscribers: Redis[] = [];

  constructor(private readonly options: { redis: RedisOptions | string; prefix?: string }) {
    this.redis = typeof options.redis === 'string' ? new Redis(options.redis) : new Redis(options.redis);
  }

  private get prefix(): string {
    return this.options.prefix ?? 'action-worker:';
  }

  private key(id: string): string {
    return `${this.prefix}inv:${id}`;
  }

  async create(request: InvocationRequest): Promise<{ record: InvocationRecord; isNew: boolean }> {
    let invocationId = randomId('iv');
    if (request.idempotency_id !== null) {
      const idemKey = `${this.prefix}idem:${request.org_id}:${request.idempotency_id}`;
      const claimed = await this.redis.set(idemKey, invocationId, 'NX');
      if (claimed === null) {
        const existingId = (await this.redis.get(idemKey)) ?? invocationId;
        const existing = await this.get(existingId);
        if (existing) return { record: existing, isNew: false };
        // The first creator died between claiming the key and writing the record: finish its work.
        invocationId = existingId;
      }
    }
    const created = new Date().toISOString();
    const queued: StatusRecord = { status: InvocationStatus.Queued, detail: null, timestamp: created };
    await this.redis
      .multi()
      .hset(this.key(invocationId), {
        request: JSON.stringify(request),
        org_id: request.org_id,
        created,
        last_status: String(InvocationStatus.Queued),
        attempt: '0',
      })
      .rpush(`${this.key(invocationId)}:status`, JSON.stringify(queued))
      .zadd(`${this.prefix}invocations`, Date.parse(created), invocationId)
      .exec();
    const record = await this.get(invocationId);
    if (record === undefined) throw new Error(`invocation ${invocationId} vanished right after its creation`);
    return { record, isNew: true };
  }

  async get(invocationId: string): Promise<InvocationRecord | undefined> {
    const [fields, statuses] = await Promise.all([
      this.redis.hgetall(this.key(invocationId)),
      this.redis.lrange(`${this.key(invocationId)}:status`, 0, -1),
    ]);
    if (fields.request === undefined) return undefined;
    return {
      invocation_id: invocationId,
      org_id: fields.org_id ?? '',
      created: fields.created ?? '',
      request: JSON.parse(fields.request) as InvocationRequest,
      last_status: Number(fields.last_status) as InvocationStatus,
      status: statuses.map((status) => JSON.parse(status) as StatusRecord),
      attempt: Number(fields.attempt ?? 0),
      last_heartbeat: fields.last_heartbeat ?? null,
      container_id: fields.container_id ?? null,
      image: fields.image ? (JSON.parse(fields.image) as InvocationRecord['image']) : null,
      is_cancel_requested: fields.cancel_requested === '1',
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
  ): Promise<InvocationRecord> {
    const allowedFrom = ALL_STATUSES.filter((from) => canTransition(from, to)).map(String);
    const entry: StatusRecord = { status: to, detail, timestamp: new Date().toISOString() };
    const result = (await this.redis.eval(
      TRANSITION,
      2,
      this.key(invocationId),
      `${this.key(invocationId)}:status`,
      JSON.stringify(entry),
      String(to),
      ...allowedFrom,
    )) as string;
    if (result === 'missing') throw new UsageError(`no invocation ${invocationId}`, 'E_INVALID_INPUT');
    if (result !== 'ok')
      throw new InvalidTransitionError(invocationId, Number(result) as InvocationStatus, to);
    const record = await this.get(invocationId);
    if (record === undefined) throw new UsageError(`no invocation ${invocationId}`, 'E_INVALID_INPUT');
    return record;
  }

  async heartbeat(invocationId: string, attempt: number): Promise<void> {
    await this.redis.hset(this.key(invocationId), {
      last_heartbeat: new Date().toISOString(),
      attempt: String(attempt),
    });
  }

  async setRunInfo(
    invocationId: string,
    info: { containerId?: string; image?: InvocationRecord['image'] },
  ): Promise<void> {
    const fields: Record<string, string> = {};
    if (info.containerId !== undefined) fields.container_id = info.containerId;
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
    this.subscribers.push(subscriber);
    const channel = `${this.prefix}cancel`;
    subscriber.on('message', (from: string, message: string) => {
      if (from === channel) listener(message);
    });
    await subscriber.subscribe(channel);
    return async () => {
      await subscriber.unsubscribe(channel);
      subscriber.disconnect();
    };
  }

  async close(): Promise<void> {
    for (const subscriber of this.subscribers.splice(0)) subscriber.disconnect();
    await this.redis.quit();
  }
}
