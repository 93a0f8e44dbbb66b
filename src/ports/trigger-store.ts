import type { Page } from '../domain/store-query.js';
import type { TriggerQuery } from '../domain/trigger-query.js';
import type { TriggerRecord } from '../domain/trigger-record.js';

/**
 * Triggers, one record per (org, name) (spec §2.3). The records it is given are made by the domain's rules
 * (domain/trigger-versions.ts); the store keeps them atomically.
 */
export interface TriggerStore {
  /**
   * Stores a new trigger, or throws TriggerExistsError when a trigger of that name exists in its org
   * (nothing is written then).
   */
  createTrigger(record: TriggerRecord): Promise<TriggerRecord>;
  /** The trigger `name` of `orgId`; undefined when there is none. */
  getTrigger(orgId: string, name: string): Promise<TriggerRecord | undefined>;
  /**
   * Replaces the trigger with what `next` makes of the current record, atomically: when another update
   * lands in between, `next` runs again on the newer record, so no update is lost. Undefined when the
   * trigger does not exist; whatever `next` throws (a refused update) is thrown, nothing written.
   */
  updateTrigger(
    orgId: string,
    name: string,
    next: (current: TriggerRecord) => TriggerRecord | Promise<TriggerRecord>,
  ): Promise<TriggerRecord | undefined>;
  /** Deletes the trigger: false when there was none. */
  deleteTrigger(orgId: string, name: string): Promise<boolean>;
  /** The org's triggers that match, one page of them (domain pageTriggers). */
  queryTriggers(orgId: string, query: TriggerQuery): Promise<Page<TriggerRecord>>;
  /** Every enabled trigger of the org, by name: what an evaluation looks at. */
  listEnabled(orgId: string): Promise<TriggerRecord[]>;
}
