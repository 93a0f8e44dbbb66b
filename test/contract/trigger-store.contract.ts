import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/domain/errors.js';
import type { TriggerRecord } from '../../src/domain/trigger-record.js';
import { TriggerExistsError, newTrigger, updatedTrigger } from '../../src/domain/trigger-versions.js';
import type { TriggerStore } from '../../src/ports/trigger-store.js';

const newOrg = (): string => `og_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
let clock = Date.parse('2024-01-01T00:00:00Z');
const author = () => ({ userId: 'tk_test', now: new Date((clock += 1000)) });

function trigger(orgId: string, name: string, body: Record<string, unknown> = {}): TriggerRecord {
  return newTrigger(
    { name, action_name: 'tag-dataset', required_inputs: ['**/*.bag'], ...body },
    orgId,
    author(),
  );
}

/**
 * What every TriggerStore must do, run against the Redis store (integration) and the in-memory one (unit).
 * `open()` gives a store over the same records (another connection where there are connections).
 */
export function describeTriggerStoreContract(name: string, open: () => TriggerStore): void {
  describe(`TriggerStore contract: ${name}`, () => {
    it('creates a trigger, readable whole from another connection; another org or name reads nothing', async () => {
      const org = newOrg();
      const record = trigger(org, 'trig', {
        condition: { field: 'metadata.n', comparator: 'GREATER_THAN', value: 3 },
        parameter_values: { p: 1, q: 'x' },
        compute_requirement_overrides: { vCPU: 1024, memory: 2048 },
      });
      expect(await open().createTrigger(record)).toEqual(record);
      const reader = open();
      expect(await reader.getTrigger(org, 'trig')).toEqual(record);
      expect(await reader.getTrigger(org, 'other')).toBeUndefined();
      expect(await reader.getTrigger(newOrg(), 'trig')).toBeUndefined();
    });

    it('refuses a second trigger of the same name in the org, leaving the first; another org may have one', async () => {
      const org = newOrg();
      const store = open();
      const first = trigger(org, 'a', { timeout: 1 });
      await store.createTrigger(first);
      await expect(store.createTrigger(trigger(org, 'a', { timeout: 2 }))).rejects.toBeInstanceOf(
        TriggerExistsError,
      );
      expect(await store.getTrigger(org, 'a')).toEqual(first);
      const elsewhere = trigger(newOrg(), 'a');
      expect(await store.createTrigger(elsewhere)).toEqual(elsewhere);
    });

    it('updates in place; a refused update writes nothing; a missing trigger is undefined', async () => {
      const org = newOrg();
      const store = open();
      const created = await store.createTrigger(trigger(org, 'a'));
      const updated = await store.updateTrigger(org, 'a', (current) =>
        updatedTrigger(current, { timeout: 9 }, author()),
      );
      expect(updated).toMatchObject({ timeout: 9, trigger_id: created.trigger_id, created: created.created });
      expect(await open().getTrigger(org, 'a')).toEqual(updated);
      await expect(
        store.updateTrigger(org, 'a', (current) => updatedTrigger(current, { timeout: 0 }, author())),
      ).rejects.toBeInstanceOf(UsageError);
      expect(await store.getTrigger(org, 'a')).toEqual(updated);
      expect(await store.updateTrigger(org, 'missing', (current) => current)).toBeUndefined();
    });

    it('loses no update when several land at once (each runs again on the newer record)', async () => {
      const org = newOrg();
      await open().createTrigger(trigger(org, 'a', { parameter_values: {} }));
      const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];
      await Promise.all(
        keys.map((key) =>
          open().updateTrigger(org, 'a', async (current) => {
            await Promise.resolve();
            return updatedTrigger(
              current,
              { parameter_values: { ...current.parameter_values, [key]: 1 } },
              author(),
            );
          }),
        ),
      );
      expect(Object.keys((await open().getTrigger(org, 'a'))?.parameter_values ?? {}).sort()).toEqual(keys);
    });

    it('lists the enabled triggers by name, following enable, disable and delete', async () => {
      const org = newOrg();
      const store = open();
      await store.createTrigger(trigger(org, 'b'));
      await store.createTrigger(trigger(org, 'a'));
      await store.createTrigger(trigger(org, 'c', { enabled: false }));
      await store.createTrigger(trigger(newOrg(), 'elsewhere'));
      const names = async () => (await open().listEnabled(org)).map((record) => record.name);
      expect(await names()).toEqual(['a', 'b']);
      await store.updateTrigger(org, 'c', (current) => updatedTrigger(current, { enabled: true }, author()));
      await store.updateTrigger(org, 'a', (current) => updatedTrigger(current, { enabled: false }, author()));
      expect(await names()).toEqual(['b', 'c']);
      expect(await store.deleteTrigger(org, 'b')).toBe(true);
      expect(await names()).toEqual(['c']);
    });

    it('deletes: gone from reads and queries; a second delete is false', async () => {
      const org = newOrg();
      const store = open();
      await store.createTrigger(trigger(org, 'a'));
      expect(await store.deleteTrigger(org, 'a')).toBe(true);
      expect(await open().getTrigger(org, 'a')).toBeUndefined();
      expect((await open().queryTriggers(org, {})).total).toBe(0);
      expect(await store.deleteTrigger(org, 'a')).toBe(false);
      // The name is free again.
      await store.createTrigger(trigger(org, 'a'));
    });

    it("queries the org's triggers by any field, newest first by default, paged without gaps", async () => {
      const org = newOrg();
      const store = open();
      for (const name of ['t1', 't2', 't3', 't4', 't5']) {
        await store.createTrigger(
          trigger(org, name, { action_name: name === 't3' ? 'other' : 'tag-dataset' }),
        );
      }
      await open().createTrigger(trigger(newOrg(), 't6'));
      const all = await open().queryTriggers(org, {});
      expect(all.items.map((record) => record.name)).toEqual(['t5', 't4', 't3', 't2', 't1']);
      expect(all).toMatchObject({ total: 5, nextToken: null });
      const byAction = await open().queryTriggers(org, {
        condition: {
          operator: 'AND',
          conditions: [{ field: 'action.name', comparator: 'EQUALS', value: 'tag-dataset' }],
        },
        sortBy: 'name',
        sortDirection: 'ASC',
        limit: 2,
      });
      expect(byAction.items.map((record) => record.name)).toEqual(['t1', 't2']);
      expect(byAction.total).toBe(4);
      const second = await open().queryTriggers(org, {
        condition: { field: 'action.name', comparator: 'EQUALS', value: 'tag-dataset' },
        sortBy: 'name',
        sortDirection: 'ASC',
        limit: 2,
        after: byAction.nextToken,
      });
      expect(second.items.map((record) => record.name)).toEqual(['t4', 't5']);
      expect(second.nextToken).toBeNull();
      await expect(
        open().queryTriggers(org, { condition: { field: 'nope', comparator: 'EQUALS', value: 1 } }),
      ).rejects.toThrow(/"nope" is not a field of a trigger/);
    });
  });
}
