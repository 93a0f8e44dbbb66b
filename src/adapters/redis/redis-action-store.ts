import type { Redis } from 'ioredis';
import { type ActionQuery, pageActions } from '../../domain/action-query.js';
import { type Accessibility, ActionRecord } from '../../domain/action-record.js';
import {
  type AccessibilityState,
  ActionExistsError,
  changeAccessibility,
} from '../../domain/action-versions.js';
import { ActionWorkerError, InfrastructureError } from '../../domain/errors.js';
import type { Page } from '../../domain/store-query.js';
import type { ActionQueryScope, ActionStore } from '../../ports/action-store.js';
import { withTimeout } from '../../util/with-timeout.js';
import { DEFAULT_KEY_PREFIX, type RedisStoreOptions, connectRedis } from './redis-connection.js';

/**
 * KEYS: meta, versions, org index, hub index. ARGV: accessibility, published, digest, version JSON, name,
 * hub member. 1 when created, 0 when the action exists (nothing written).
 */
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'accessibility', ARGV[1], 'published', ARGV[2], 'latest', ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('SADD', KEYS[3], ARGV[5])
if ARGV[1] == 'action_hub' then redis.call('SADD', KEYS[4], ARGV[6]) end
return 1
`;

/**
 * Appends a version when the latest is still ARGV[1]. KEYS: meta, versions. ARGV: expected latest digest,
 * new digest, version JSON. {1, accessibility, published} appended (the action's state as of then),
 * {0} another version landed first, {-1} no such action.
 */
const APPEND = `
local latest = redis.call('HGET', KEYS[1], 'latest')
if not latest then return {-1} end
if latest ~= ARGV[1] then return {0} end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], 'latest', ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'accessibility', 'published')
return {1, state[1], state[2]}
`;

/**
 * Sets accessibility and published when they are still ARGV[1], ARGV[2]. KEYS: meta, hub index. ARGV:
 * expected accessibility, expected published, new accessibility, new published, hub member.
 */
const SET_ACCESSIBILITY = `
local current = redis.call('HMGET', KEYS[1], 'accessibility', 'published')
if not current[1] then return -1 end
if current[1] ~= ARGV[1] or current[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'accessibility', ARGV[3], 'published', ARGV[4])
if ARGV[3] == 'action_hub' then redis.call('SADD', KEYS[2], ARGV[5]) else redis.call('SREM', KEYS[2], ARGV[5]) end
return 1
`;

/** KEYS: meta, versions, org index, hub index. ARGV: name, hub member. 1 when there was an action. */
const DELETE = `
local existed = redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[2])
if existed > 0 then return 1 end
return 0
`;

/** How often an update is tried again when other updates keep landing first. */
const MAX_UPDATE_ATTEMPTS = 50;

/**
 * Registered actions in Redis, beside the invocation records and under the same prefix:
 *
 *   <prefix>action:<og_id>:<name>            hash: accessibility, published ('' for null), latest (digest)
 *   <prefix>action:<og_id>:<name>:versions   list of the versions' ActionRecord JSON, oldest first
 *   <prefix>actions:<og_id>                  set of the org's action names
 *   <prefix>actions:hub                      set of `<og_id>/<name>` of the action_hub actions
 *
 * Every write is one Lua script, so a create is all or nothing and an update appends only on top of the
 * version it was computed from (compare-and-set on `latest`, tried again on a newer one).
 */
export class RedisActionStore implements ActionStore {
  private readonly redis: Redis;

  constructor(private readonly options: RedisStoreOptions) {
    this.redis = connectRedis(options);
  }

  private get prefix(): string {
    return this.options.prefix ?? DEFAULT_KEY_PREFIX;
  }

  private metaKey(orgId: string, name: string): string {
    return `${this.prefix}action:${orgId}:${name}`;
  }

  private versionsKey(orgId: string, name: string): string {
    return `${this.metaKey(orgId, name)}:versions`;
  }

  private orgIndexKey(orgId: string): string {
    return `${this.prefix}actions:${orgId}`;
  }

  private get hubKey(): string {
    return `${this.prefix}actions:hub`;
  }

  private static parse(orgId: string, name: string, text: string, state: AccessibilityState): ActionRecord {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      parsed = error;
    }
    const result = ActionRecord.safeParse(parsed);
    if (!result.success) {
      throw new ActionWorkerError(`action ${name} of org ${orgId} has a malformed stored version`, {
        code: 'E_MALFORMED_RECORD',
        cause: result.error,
      });
    }
    return { ...result.data, ...state };
  }

  private static state(meta: Record<string, string>): AccessibilityState | undefined {
    if (meta.latest === undefined) return undefined;
    return {
      accessibility: meta.accessibility === 'action_hub' ? 'action_hub' : 'organization',
      published: meta.published ? meta.published : null,
    };
  }

  async createAction(record: ActionRecord): Promise<ActionRecord> {
    const created = (await this.redis.eval(
      CREATE,
      4,
      this.metaKey(record.org_id, record.name),
      this.versionsKey(record.org_id, record.name),
      this.orgIndexKey(record.org_id),
      this.hubKey,
      record.accessibility,
      record.published ?? '',
      record.digest,
      JSON.stringify(record),
      record.name,
      `${record.org_id}/${record.name}`,
    )) as number;
    if (created !== 1) throw new ActionExistsError(record.org_id, record.name);
    return record;
  }

  private async latest(orgId: string, name: string): Promise<ActionRecord | undefined> {
    const answers = await this.redis
      .multi()
      .hgetall(this.metaKey(orgId, name))
      .lindex(this.versionsKey(orgId, name), -1)
      .exec();
    const [meta, last] = (answers ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    }) as [Record<string, string>, string | null];
    const state = RedisActionStore.state(meta);
    if (state === undefined || last === null) return undefined;
    return RedisActionStore.parse(orgId, name, last, state);
  }

  async getAction(orgId: string, name: string, digest?: string): Promise<ActionRecord | undefined> {
    if (digest === undefined) return this.latest(orgId, name);
    return (await this.listVersions(orgId, name)).find((version) => version.digest === digest);
  }

  async listVersions(orgId: string, name: string): Promise<ActionRecord[]> {
    const answers = await this.redis
      .multi()
      .hgetall(this.metaKey(orgId, name))
      .lrange(this.versionsKey(orgId, name), 0, -1)
      .exec();
    const [meta, versions] = (answers ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    }) as [Record<string, string>, string[]];
    const state = RedisActionStore.state(meta);
    if (state === undefined) return [];
    return versions.map((text) => RedisActionStore.parse(orgId, name, text, state));
  }

  async updateAction(
    orgId: string,
    name: string,
    next: (latest: ActionRecord) => ActionRecord,
  ): Promise<ActionRecord | undefined> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt += 1) {
      const latest = await this.latest(orgId, name);
      if (latest === undefined) return undefined;
      const made = next(latest);
      const [appended, accessibility = '', published = ''] = (await this.redis.eval(
        APPEND,
        2,
        this.metaKey(orgId, name),
        this.versionsKey(orgId, name),
        latest.digest,
        made.digest,
        JSON.stringify(made),
      )) as [number, string?, string?];
      if (appended === -1) return undefined;
      if (appended === 1) {
        // The action's accessibility as the append saw it (a change may have landed since the read).
        return { ...made, ...RedisActionStore.state({ latest: made.digest, accessibility, published }) };
      }
    }
    throw new InfrastructureError(`action ${name}: other updates kept landing first; try again`, 'E_IO');
  }

  async deleteAction(orgId: string, name: string): Promise<boolean> {
    const deleted = (await this.redis.eval(
      DELETE,
      4,
      this.metaKey(orgId, name),
      this.versionsKey(orgId, name),
      this.orgIndexKey(orgId),
      this.hubKey,
      name,
      `${orgId}/${name}`,
    )) as number;
    return deleted === 1;
  }

  async setAccessibility(
    orgId: string,
    name: string,
    accessibility: Accessibility,
    now = new Date(),
  ): Promise<ActionRecord | undefined> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt += 1) {
      const latest = await this.latest(orgId, name);
      if (latest === undefined) return undefined;
      const state = changeAccessibility(latest, accessibility, now);
      const set = (await this.redis.eval(
        SET_ACCESSIBILITY,
        2,
        this.metaKey(orgId, name),
        this.hubKey,
        latest.accessibility,
        latest.published ?? '',
        state.accessibility,
        state.published ?? '',
        `${orgId}/${name}`,
      )) as number;
      if (set === -1) return undefined;
      if (set === 1) return { ...latest, ...state };
    }
    throw new InfrastructureError(`action ${name}: other changes kept landing first; try again`, 'E_IO');
  }

  async queryActions(scope: ActionQueryScope, query: ActionQuery): Promise<Page<ActionRecord>> {
    const members =
      'orgId' in scope
        ? (await this.redis.smembers(this.orgIndexKey(scope.orgId))).map((name) => ({
            orgId: scope.orgId,
            name,
          }))
        : (await this.redis.smembers(this.hubKey)).map((member) => {
            const slash = member.indexOf('/');
            return { orgId: member.slice(0, slash), name: member.slice(slash + 1) };
          });
    const found = await Promise.all(members.map(({ orgId, name }) => this.latest(orgId, name)));
    const inScope = found.filter(
      (record): record is ActionRecord =>
        record !== undefined && ('orgId' in scope || record.accessibility === 'action_hub'),
    );
    return pageActions(inScope, query);
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
