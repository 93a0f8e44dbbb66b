import type { Redis } from 'ioredis';
import { ActionWorkerError, InfrastructureError } from '../../domain/errors.js';
import type { Page } from '../../domain/store-query.js';
import { type TriggerQuery, pageTriggers } from '../../domain/trigger-query.js';
import { TriggerRecord } from '../../domain/trigger-record.js';
import { TriggerExistsError } from '../../domain/trigger-versions.js';
import type { TriggerStore } from '../../ports/trigger-store.js';
import { withTimeout } from '../../util/with-timeout.js';
import { DEFAULT_KEY_PREFIX, type RedisStoreOptions, connectRedis } from './redis-connection.js';

/** KEYS: record, org index, enabled index. ARGV: record JSON, name, enabled ('1'/'0'). 1 created, 0 exists. */
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
if ARGV[3] == '1' then redis.call('SADD', KEYS[3], ARGV[2]) end
return 1
`;

/**
 * Replaces the record when it is still ARGV[1]. KEYS: record, enabled index. ARGV: expected JSON, new
 * JSON, name, enabled ('1'/'0'). 1 replaced, 0 another write landed first, -1 no such trigger.
 */
const REPLACE = `
local current = redis.call('GET', KEYS[1])
if not current then return -1 end
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[4] == '1' then redis.call('SADD', KEYS[2], ARGV[3]) else redis.call('SREM', KEYS[2], ARGV[3]) end
return 1
`;

/** KEYS: record, org index, enabled index. ARGV: name. 1 when there was a trigger. */
const DELETE = `
local existed = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
return existed
`;

/** How often an update is tried again when other writes keep landing first. */
const MAX_UPDATE_ATTEMPTS = 50;

/**
 * Triggers in Redis, beside the invocation records and the actions, under the same prefix:
 *
 *   <prefix>trigger:<og_id>:<name>     string: the TriggerRecord JSON
 *   <prefix>triggers:<og_id>           set of the org's trigger names
 *   <prefix>triggers:<og_id>:enabled   set of the names of its enabled triggers (what evaluation reads)
 *
 * Every write is one Lua script: a create is all or nothing, and an update replaces only the record it was
 * computed from (compare-and-set on the JSON, tried again on a newer one), keeping the enabled set in step.
 */
export class RedisTriggerStore implements TriggerStore {
  private readonly redis: Redis;

  constructor(private readonly options: RedisStoreOptions) {
    this.redis = connectRedis(options);
  }

  private get prefix(): string {
    return this.options.prefix ?? DEFAULT_KEY_PREFIX;
  }

  private recordKey(orgId: string, name: string): string {
    return `${this.prefix}trigger:${orgId}:${name}`;
  }

  private orgIndexKey(orgId: string): string {
    return `${this.prefix}triggers:${orgId}`;
  }

  private enabledKey(orgId: string): string {
    return `${this.orgIndexKey(orgId)}:enabled`;
  }

  private static parse(orgId: string, name: string, text: string): TriggerRecord {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      parsed = error;
    }
    const result = TriggerRecord.safeParse(parsed);
    if (!result.success) {
      throw new ActionWorkerError(`trigger ${name} of org ${orgId} has a malformed stored record`, {
        code: 'E_MALFORMED_RECORD',
        cause: result.error,
      });
    }
    return result.data;
  }

  async createTrigger(record: TriggerRecord): Promise<TriggerRecord> {
    const created = (await this.redis.eval(
      CREATE,
      3,
      this.recordKey(record.org_id, record.name),
      this.orgIndexKey(record.org_id),
      this.enabledKey(record.org_id),
      JSON.stringify(record),
      record.name,
      record.enabled ? '1' : '0',
    )) as number;
    if (created !== 1) throw new TriggerExistsError(record.org_id, record.name);
    return record;
  }

  private async read(
    orgId: string,
    name: string,
  ): Promise<{ text: string; record: TriggerRecord } | undefined> {
    const text = await this.redis.get(this.recordKey(orgId, name));
    if (text === null) return undefined;
    return { text, record: RedisTriggerStore.parse(orgId, name, text) };
  }

  async getTrigger(orgId: string, name: string): Promise<TriggerRecord | undefined> {
    return (await this.read(orgId, name))?.record;
  }

  async updateTrigger(
    orgId: string,
    name: string,
    next: (current: TriggerRecord) => TriggerRecord | Promise<TriggerRecord>,
  ): Promise<TriggerRecord | undefined> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt += 1) {
      const current = await this.read(orgId, name);
      if (current === undefined) return undefined;
      const made = await next(current.record);
      const replaced = (await this.redis.eval(
        REPLACE,
        2,
        this.recordKey(orgId, name),
        this.enabledKey(orgId),
        current.text,
        JSON.stringify(made),
        name,
        made.enabled ? '1' : '0',
      )) as number;
      if (replaced === -1) return undefined;
      if (replaced === 1) return made;
    }
    throw new InfrastructureError(`trigger ${name}: other updates kept landing first; try again`, 'E_IO');
  }

  async deleteTrigger(orgId: string, name: string): Promise<boolean> {
    const deleted = (await this.redis.eval(
      DELETE,
      3,
      this.recordKey(orgId, name),
      this.orgIndexKey(orgId),
      this.enabledKey(orgId),
      name,
    )) as number;
    return deleted === 1;
  }

  private async recordsOf(orgId: string, names: string[]): Promise<TriggerRecord[]> {
    if (names.length === 0) return [];
    const texts = await this.redis.mget(names.map((name) => this.recordKey(orgId, name)));
    const records: TriggerRecord[] = [];
    texts.forEach((text, index) => {
      // A name whose record went in between (a delete racing the read) is simply gone.
      if (text !== null) records.push(RedisTriggerStore.parse(orgId, names[index] ?? '', text));
    });
    return records;
  }

  async queryTriggers(orgId: string, query: TriggerQuery): Promise<Page<TriggerRecord>> {
    return pageTriggers(
      await this.recordsOf(orgId, await this.redis.smembers(this.orgIndexKey(orgId))),
      query,
    );
  }

  async listEnabled(orgId: string): Promise<TriggerRecord[]> {
    const names = (await this.redis.smembers(this.enabledKey(orgId))).sort();
    return (await this.recordsOf(orgId, names)).filter((record) => record.enabled);
  }

  /** Whether Redis answers: what a command checks before blaming Redis for an error. */
  async ping(): Promise<string> {
    return this.redis.ping();
  }

  async close(): Promise<void> {
    await withTimeout(this.redis.quit(), 3_000).catch(() => undefined);
    this.redis.disconnect();
  }
}
