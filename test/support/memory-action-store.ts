import { type ActionQuery, pageActions } from '../../src/domain/action-query.js';
import type { Accessibility, ActionRecord } from '../../src/domain/action-record.js';
import {
  type AccessibilityState,
  ActionExistsError,
  changeAccessibility,
} from '../../src/domain/action-versions.js';
import type { Page } from '../../src/domain/store-query.js';
import type { ActionQueryScope, ActionStore } from '../../src/ports/action-store.js';

interface StoredAction {
  state: AccessibilityState;
  versions: ActionRecord[];
}

/** The ActionStore of unit tests: the actions live in the instance, kept as the Redis store keeps them. */
export class MemoryActionStore implements ActionStore {
  private readonly actions = new Map<string, StoredAction>();

  private static key(orgId: string, name: string): string {
    return `${orgId}\u0000${name}`;
  }

  private static view(stored: StoredAction, version: ActionRecord): ActionRecord {
    return structuredClone({ ...version, ...stored.state });
  }

  private latest(stored: StoredAction): ActionRecord {
    return MemoryActionStore.view(stored, stored.versions[stored.versions.length - 1] as ActionRecord);
  }

  createAction(record: ActionRecord): Promise<ActionRecord> {
    const key = MemoryActionStore.key(record.org_id, record.name);
    if (this.actions.has(key)) return Promise.reject(new ActionExistsError(record.org_id, record.name));
    const stored: StoredAction = {
      state: { accessibility: record.accessibility, published: record.published },
      versions: [structuredClone(record)],
    };
    this.actions.set(key, stored);
    return Promise.resolve(this.latest(stored));
  }

  getAction(orgId: string, name: string, digest?: string): Promise<ActionRecord | undefined> {
    const stored = this.actions.get(MemoryActionStore.key(orgId, name));
    if (stored === undefined) return Promise.resolve(undefined);
    if (digest === undefined) return Promise.resolve(this.latest(stored));
    const version = stored.versions.find((each) => each.digest === digest);
    return Promise.resolve(version === undefined ? undefined : MemoryActionStore.view(stored, version));
  }

  async updateAction(
    orgId: string,
    name: string,
    next: (latest: ActionRecord) => ActionRecord,
  ): Promise<ActionRecord | undefined> {
    await Promise.resolve();
    const stored = this.actions.get(MemoryActionStore.key(orgId, name));
    if (stored === undefined) return undefined;
    const made = next(this.latest(stored));
    stored.versions.push(structuredClone(made));
    return this.latest(stored);
  }

  listVersions(orgId: string, name: string): Promise<ActionRecord[]> {
    const stored = this.actions.get(MemoryActionStore.key(orgId, name));
    return Promise.resolve(stored?.versions.map((version) => MemoryActionStore.view(stored, version)) ?? []);
  }

  deleteAction(orgId: string, name: string): Promise<boolean> {
    return Promise.resolve(this.actions.delete(MemoryActionStore.key(orgId, name)));
  }

  setAccessibility(
    orgId: string,
    name: string,
    accessibility: Accessibility,
    now = new Date(),
  ): Promise<ActionRecord | undefined> {
    const stored = this.actions.get(MemoryActionStore.key(orgId, name));
    if (stored === undefined) return Promise.resolve(undefined);
    stored.state = changeAccessibility(stored.state, accessibility, now);
    return Promise.resolve(this.latest(stored));
  }

  queryActions(scope: ActionQueryScope, query: ActionQuery): Promise<Page<ActionRecord>> {
    const latest = [...this.actions.values()]
      .map((stored) => this.latest(stored))
      .filter((record) =>
        'orgId' in scope ? record.org_id === scope.orgId : record.accessibility === 'action_hub',
      );
    try {
      return Promise.resolve(pageActions(latest, query));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
