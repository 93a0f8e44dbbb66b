import type { Redis } from 'ioredis';
import { ActionWorkerError } from '../../domain/errors.js';
import {
  type NewUploadTransaction,
  UploadTransaction,
  UploadTransactionId,
} from '../../domain/upload-transaction.js';
import type { UploadTransactionStore } from '../../ports/upload-transaction-store.js';
import { withTimeout } from '../../util/with-timeout.js';
import { DEFAULT_KEY_PREFIX, type RedisStoreOptions, connectRedis } from './redis-connection.js';

/**
 * KEYS: record, state, the org's pending set. ARGV: record JSON, expiry (ms since the epoch), id, now (ms),
 * most pending (0: no limit). 1 created, 0 the id is taken, -1 the org has that many pending already.
 */
const CREATE = `
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
local most = tonumber(ARGV[5])
if most > 0 and redis.call('ZCARD', KEYS[3]) >= most then return -1 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], 'status', 'pending', 'expires_ms', ARGV[2], 'file_ids', '[]', 'completed', '')
redis.call('PEXPIREAT', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[3], last[2])
return 1
`;

/** KEYS: record, state, reported. ARGV: paths. 1 added, 0 no such transaction. */
const ADD_REPORTED = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local expires = redis.call('HGET', KEYS[2], 'expires_ms')
for i = 1, #ARGV, 1000 do
  redis.call('SADD', KEYS[3], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if expires then redis.call('PEXPIREAT', KEYS[3], expires) end
return 1
`;

/**
 * KEYS: record, state, reported, the org's pending set. ARGV: keep until (ms since the epoch), id.
 * 1 marked completing (or completed already), 0 no such transaction.
 */
const COMPLETING = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[2], 'status') == 'completed' then return 1 end
redis.call('HSET', KEYS[2], 'status', 'completing')
local wanted = tonumber(ARGV[1])
if wanted > tonumber(redis.call('HGET', KEYS[2], 'expires_ms') or '0') then
  redis.call('HSET', KEYS[2], 'expires_ms', ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
  redis.call('PEXPIREAT', KEYS[2], ARGV[1])
  redis.call('PEXPIREAT', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[4], ARGV[1], ARGV[2])
  local last = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[4], last[2])
end
return 1
`;

/**
 * KEYS: record, state, the org's pending set. ARGV: file ids JSON, completed, id. 1 marked (or already),
 * 0 no such transaction.
 */
const COMPLETE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[3], ARGV[3])
if redis.call('HGET', KEYS[2], 'status') == 'completed' then return 1 end
redis.call('HSET', KEYS[2], 'status', 'completed', 'file_ids', ARGV[1], 'completed', ARGV[2])
return 1
`;

/**
 * Upload transactions in Redis, beside the invocation records, under the same prefix, each until its
 * `expires` (Redis expires the keys):
 *
 *   <prefix>upload:<ut_id>            string: what the begin fixed (NewUploadTransaction JSON)
 *   <prefix>upload:<ut_id>:state      hash: status, completed, file_ids (JSON), expires_ms
 *   <prefix>upload:<ut_id>:reported   set of the paths a progress report confirmed
 *   <prefix>upload-pending:<org_id>   sorted set of the org's transactions not completed, scored by expiry
 *                                     (pruned when read; expires with the last of them)
 *
 * Each write is one Lua script, so a report or a completion never lands on an expired transaction.
 */
export class RedisUploadTransactionStore implements UploadTransactionStore {
  private readonly redis: Redis;

  constructor(private readonly options: RedisStoreOptions) {
    this.redis = connectRedis(options);
  }

  private keys(transactionId: string): [string, string, string] {
    // Only our ids name keys: anything else is looked up as what it is, a transaction that does not exist.
    const base = `${this.options.prefix ?? DEFAULT_KEY_PREFIX}upload:${transactionId}`;
    return [base, `${base}:state`, `${base}:reported`];
  }

  private pendingKey(orgId: string): string {
    return `${this.options.prefix ?? DEFAULT_KEY_PREFIX}upload-pending:${orgId}`;
  }

  async create(
    transaction: NewUploadTransaction,
    limits: { maxPendingPerOrg?: number } = {},
  ): Promise<UploadTransaction | undefined> {
    const [record, state] = this.keys(transaction.transaction_id);
    const created = (await this.redis.eval(
      CREATE,
      3,
      record,
      state,
      this.pendingKey(transaction.org_id),
      JSON.stringify(transaction),
      String(Date.parse(transaction.expires)),
      transaction.transaction_id,
      String(Date.now()),
      String(limits.maxPendingPerOrg ?? 0),
    )) as number;
    if (created === -1) return undefined;
    if (created !== 1) {
      throw new ActionWorkerError(`upload transaction ${transaction.transaction_id} exists already`, {
        code: 'E_INVALID_INPUT',
      });
    }
    return { ...transaction, status: 'pending', reported: [], file_ids: [], completed: null };
  }

  async countPending(orgId: string): Promise<number> {
    const key = this.pendingKey(orgId);
    const results = await this.redis
      .multi()
      .zremrangebyscore(key, '-inf', String(Date.now()))
      .zcard(key)
      .exec();
    const [, count] = (results ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    }) as [number, number];
    return count;
  }

  async get(transactionId: string): Promise<UploadTransaction | undefined> {
    if (!UploadTransactionId.safeParse(transactionId).success) return undefined;
    const [recordKey, stateKey, reportedKey] = this.keys(transactionId);
    const results = await this.redis.multi().get(recordKey).hgetall(stateKey).smembers(reportedKey).exec();
    const [record, state, reported] = (results ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    }) as [string | null, Record<string, string>, string[]];
    if (record === null) return undefined;
    let parsed: unknown;
    try {
      const expiresMs = Number(state.expires_ms);
      parsed = {
        ...(JSON.parse(record) as object),
        // A completion keeps a transaction longer than its begin said.
        ...(Number.isSafeInteger(expiresMs) ? { expires: new Date(expiresMs).toISOString() } : {}),
        status: state.status,
        completed: state.completed === '' ? null : state.completed,
        file_ids: JSON.parse(state.file_ids ?? 'null') as unknown,
        reported: reported.sort(),
      };
    } catch (error) {
      parsed = error;
    }
    const result = UploadTransaction.safeParse(parsed);
    if (!result.success) {
      throw new ActionWorkerError(`upload transaction ${transactionId} has a malformed stored record`, {
        code: 'E_MALFORMED_RECORD',
        cause: result.error,
      });
    }
    return result.data;
  }

  async addReported(transactionId: string, paths: readonly string[]): Promise<UploadTransaction | undefined> {
    if (!UploadTransactionId.safeParse(transactionId).success) return undefined;
    if (paths.length > 0) {
      const added = (await this.redis.eval(ADD_REPORTED, 3, ...this.keys(transactionId), ...paths)) as number;
      if (added !== 1) return undefined;
    }
    return this.get(transactionId);
  }

  async markCompleting(transactionId: string, keepUntil: string): Promise<UploadTransaction | undefined> {
    const found = await this.get(transactionId);
    if (found === undefined) return undefined;
    const [record, state, reported] = this.keys(transactionId);
    const marked = (await this.redis.eval(
      COMPLETING,
      4,
      record,
      state,
      reported,
      this.pendingKey(found.org_id),
      String(Date.parse(keepUntil)),
      transactionId,
    )) as number;
    return marked === 1 ? this.get(transactionId) : undefined;
  }

  async markCompleted(
    transactionId: string,
    fileIds: readonly string[],
    completed: string,
  ): Promise<UploadTransaction | undefined> {
    // The org (fixed at the begin) names the pending set the completion leaves.
    const found = await this.get(transactionId);
    if (found === undefined) return undefined;
    const [record, state] = this.keys(transactionId);
    const marked = (await this.redis.eval(
      COMPLETE,
      3,
      record,
      state,
      this.pendingKey(found.org_id),
      JSON.stringify(fileIds),
      completed,
      transactionId,
    )) as number;
    return marked === 1 ? this.get(transactionId) : undefined;
  }

  /** Whether Redis answers. */
  async ping(): Promise<string> {
    return this.redis.ping();
  }

  async close(): Promise<void> {
    await withTimeout(this.redis.quit(), 3_000).catch(() => undefined);
    this.redis.disconnect();
  }
}
