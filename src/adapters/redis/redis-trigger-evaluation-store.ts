import type { Redis } from 'ioredis';
import { ActionWorkerError } from '../../domain/errors.js';
import { pageEvaluationIds } from '../../domain/trigger-evaluation-page.js';
import { TriggerEvaluationRecord } from '../../domain/trigger-record.js';
import type {
  EvaluationEnd,
  EvaluationPage,
  EvaluationPaging,
  PendingEvaluation,
  TriggerEvaluationStore,
} from '../../ports/trigger-evaluation-store.js';
import { withTimeout } from '../../util/with-timeout.js';
import { DEFAULT_KEY_PREFIX, type RedisStoreOptions, connectRedis } from './redis-connection.js';

/**
 * Creates the evaluation of one (event, trigger) once. KEYS: the pair's key, the id counter, the trigger
 * index, the dataset index. ARGV: record key prefix, the stored JSON with `"id":0` to fill in. Returns
 * {id, 1} when created, {id, 0} when the pair had one.
 */
const CREATE = `
local known = redis.call('GET', KEYS[1])
if known then return {tonumber(known), 0} end
local id = redis.call('INCR', KEYS[2])
local text = string.gsub(ARGV[2], '^{"id":0,', '{"id":' .. id .. ',', 1)
text = string.gsub(text, '"trigger_evaluation_id":0,', '"trigger_evaluation_id":' .. id .. ',', 1)
redis.call('SET', ARGV[1] .. id, text)
redis.call('SET', KEYS[1], id)
redis.call('ZADD', KEYS[3], id, id)
redis.call('ZADD', KEYS[4], id, id)
return {id, 1}
`;

/** What is stored per evaluation: the org beside the wire record. */
interface Stored {
  id: number;
  org_id: string;
  record: TriggerEvaluationRecord;
}

/**
 * Trigger evaluations in Redis, under the records prefix:
 *
 *   <prefix>trigger-evaluation:<id>                        string: {id, org_id, record} JSON
 *   <prefix>trigger-evaluation-seq                         the last id given (INCR)
 *   <prefix>trigger-evaluation-event:<og>:<event>:<tr>     the id of that event's evaluation by that trigger
 *   <prefix>trigger-evaluations:<og>:trigger:<tr_id>       zset of ids (score: id), newest = highest
 *   <prefix>trigger-evaluations:<og>:dataset:<ds_id>       zset of ids
 *
 * A create is one script (the pair's key decides). The ids grow with time, so newest first is by id.
 */
export class RedisTriggerEvaluationStore implements TriggerEvaluationStore {
  private readonly redis: Redis;

  constructor(private readonly options: RedisStoreOptions) {
    this.redis = connectRedis(options);
  }

  private get prefix(): string {
    return this.options.prefix ?? DEFAULT_KEY_PREFIX;
  }

  private recordKey(id: number): string {
    return `${this.prefix}trigger-evaluation:${id}`;
  }

  private indexKey(orgId: string, kind: 'trigger' | 'dataset', id: string): string {
    return `${this.prefix}trigger-evaluations:${orgId}:${kind}:${id}`;
  }

  private static parse(id: number, text: string): Stored {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      parsed = error;
    }
    const record = TriggerEvaluationRecord.safeParse((parsed as { record?: unknown } | null)?.record);
    const orgId = (parsed as { org_id?: unknown } | null)?.org_id;
    if (!record.success || typeof orgId !== 'string' || record.data.trigger_evaluation_id !== id) {
      throw new ActionWorkerError(`trigger evaluation ${id} has a malformed stored record`, {
        code: 'E_MALFORMED_RECORD',
        cause: record.error,
      });
    }
    return { id, org_id: orgId, record: record.data };
  }

  private async read(id: number): Promise<Stored | undefined> {
    const text = await this.redis.get(this.recordKey(id));
    return text === null ? undefined : RedisTriggerEvaluationStore.parse(id, text);
  }

  async createPending(
    orgId: string,
    eventId: string,
    evaluation: PendingEvaluation,
  ): Promise<{ record: TriggerEvaluationRecord; isNew: boolean }> {
    const datasetId =
      evaluation.data_source.data_source_type === 'Dataset' ? evaluation.data_source.data_source_id : '';
    const text = JSON.stringify({
      id: 0,
      org_id: orgId,
      record: { trigger_evaluation_id: 0, ...evaluation },
    });
    const [id, created] = (await this.redis.eval(
      CREATE,
      4,
      `${this.prefix}trigger-evaluation-event:${orgId}:${eventId}:${evaluation.trigger_id}`,
      `${this.prefix}trigger-evaluation-seq`,
      this.indexKey(orgId, 'trigger', evaluation.trigger_id),
      this.indexKey(orgId, 'dataset', datasetId),
      `${this.prefix}trigger-evaluation:`,
      text,
    )) as [number, number];
    const stored = await this.read(id);
    if (stored === undefined) {
      throw new ActionWorkerError(`trigger evaluation ${id} is indexed but has no record`, {
        code: 'E_MALFORMED_RECORD',
      });
    }
    return { record: stored.record, isNew: created === 1 };
  }

  async finish(
    orgId: string,
    evaluationId: number,
    result: EvaluationEnd,
    end: string,
  ): Promise<TriggerEvaluationRecord | undefined> {
    const stored = await this.read(evaluationId);
    if (stored?.org_id !== orgId) return undefined;
    const record: TriggerEvaluationRecord = {
      ...stored.record,
      status: result.status,
      status_detail: result.status_detail,
      outcome: result.status === 'evaluated' ? result.outcome : null,
      outcome_reason: result.status === 'evaluated' ? result.outcome_reason : null,
      evaluation_end: end,
    };
    // One evaluation has one writer (its handler), so a plain SET ends it.
    await this.redis.set(
      this.recordKey(evaluationId),
      JSON.stringify({ id: evaluationId, org_id: orgId, record }),
    );
    return record;
  }

  private async page(orgId: string, indexKey: string, paging: EvaluationPaging): Promise<EvaluationPage> {
    const all = (await this.redis.zrevrange(indexKey, 0, -1)).map(Number);
    const { ids, nextToken } = pageEvaluationIds(all, paging.limit, paging.pageToken);
    if (ids.length === 0) return { items: [], nextToken };
    const texts = await this.redis.mget(ids.map((id) => this.recordKey(id)));
    const items: TriggerEvaluationRecord[] = [];
    texts.forEach((text, index) => {
      if (text === null) return;
      const stored = RedisTriggerEvaluationStore.parse(ids[index] ?? 0, text);
      if (stored.org_id === orgId) items.push(stored.record);
    });
    return { items, nextToken };
  }

  listByTrigger(orgId: string, triggerId: string, paging: EvaluationPaging): Promise<EvaluationPage> {
    return this.page(orgId, this.indexKey(orgId, 'trigger', triggerId), paging);
  }

  listByDataset(orgId: string, datasetId: string, paging: EvaluationPaging): Promise<EvaluationPage> {
    return this.page(orgId, this.indexKey(orgId, 'dataset', datasetId), paging);
  }

  async ping(): Promise<string> {
    return this.redis.ping();
  }

  async close(): Promise<void> {
    await withTimeout(this.redis.quit(), 3_000).catch(() => undefined);
    this.redis.disconnect();
  }
}
