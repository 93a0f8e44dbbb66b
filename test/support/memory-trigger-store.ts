import type { Page } from '../../src/domain/store-query.js';
import { type TriggerQuery, pageTriggers } from '../../src/domain/trigger-query.js';
import type { TriggerRecord } from '../../src/domain/trigger-record.js';
import { TriggerExistsError } from '../../src/domain/trigger-versions.js';
import type { TriggerStore } from '../../src/ports/trigger-store.js';

/** The TriggerStore of unit tests: the triggers live in the instance, copied in and out. */
export class MemoryTriggerStore implements TriggerStore {
  private readonly triggers = new Map<string, TriggerRecord>();

  private static key(orgId: string, name: string): string {
    return `${orgId}\u0000${name}`;
  }

  private ofOrg(orgId: string): TriggerRecord[] {
    return [...this.triggers.values()]
      .filter((record) => record.org_id === orgId)
      .map((record) => structuredClone(record));
  }

  createTrigger(record: TriggerRecord): Promise<TriggerRecord> {
    const key = MemoryTriggerStore.key(record.org_id, record.name);
    if (this.triggers.has(key)) return Promise.reject(new TriggerExistsError(record.org_id, record.name));
    this.triggers.set(key, structuredClone(record));
    return Promise.resolve(structuredClone(record));
  }

  getTrigger(orgId: string, name: string): Promise<TriggerRecord | undefined> {
    const record = this.triggers.get(MemoryTriggerStore.key(orgId, name));
    return Promise.resolve(record === undefined ? undefined : structuredClone(record));
  }

  async updateTrigger(
    orgId: string,
    name: string,
    next: (current: TriggerRecord) => TriggerRecord | Promise<TriggerRecord>,
  ): Promise<TriggerRecord | undefined> {
    const key = MemoryTriggerStore.key(orgId, name);
    for (;;) {
      const current = this.triggers.get(key);
      if (current === undefined) return undefined;
      const made = await next(structuredClone(current));
      // Compare-and-set, as the Redis store: another update that landed meanwhile makes `next` run again.
      if (this.triggers.get(key) !== current) continue;
      this.triggers.set(key, structuredClone(made));
      return structuredClone(made);
    }
  }

  deleteTrigger(orgId: string, name: string): Promise<boolean> {
    return Promise.resolve(this.triggers.delete(MemoryTriggerStore.key(orgId, name)));
  }

  async queryTriggers(orgId: string, query: TriggerQuery): Promise<Page<TriggerRecord>> {
    await Promise.resolve();
    return pageTriggers(this.ofOrg(orgId), query);
  }

  listEnabled(orgId: string): Promise<TriggerRecord[]> {
    return Promise.resolve(
      this.ofOrg(orgId)
        .filter((record) => record.enabled)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    );
  }
}
