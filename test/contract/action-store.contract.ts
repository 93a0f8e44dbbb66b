import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ActionRecord } from '../../src/domain/action-record.js';
import { ActionExistsError, newAction, nextVersion } from '../../src/domain/action-versions.js';
import { UsageError } from '../../src/domain/errors.js';
import type { ActionStore } from '../../src/ports/action-store.js';

const newOrg = (): string => `og_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
let clock = Date.parse('2024-01-01T00:00:00Z');
const author = () => ({ userId: 'tk_test', now: new Date((clock += 1000)) });

function action(orgId: string, name: string, body: Record<string, unknown> = {}): ActionRecord {
  return newAction({ name, uri: 'img:1', ...body }, orgId, author());
}

/**
 * What every ActionStore must do, run against the Redis store (integration) and the in-memory one (unit).
 * `open()` gives a store over the same records (another connection where there are connections).
 */
export function describeActionStoreContract(name: string, open: () => ActionStore): void {
  describe(`ActionStore contract: ${name}`, () => {
    it('creates version 1, readable whole from another connection, latest and by digest', async () => {
      const org = newOrg();
      const record = action(org, 'tag-dataset', { metadata: { n: 1, f: 0.5 }, tags: ['a'] });
      expect(await open().createAction(record)).toEqual(record);
      const reader = open();
      expect(await reader.getAction(org, 'tag-dataset')).toEqual(record);
      expect(await reader.getAction(org, 'tag-dataset', record.digest)).toEqual(record);
      expect(await reader.getAction(org, 'tag-dataset', 'f'.repeat(32))).toBeUndefined();
      expect(await reader.getAction(org, 'other')).toBeUndefined();
      expect(await reader.getAction(newOrg(), 'tag-dataset')).toBeUndefined();
      expect(await reader.listVersions(org, 'tag-dataset')).toEqual([record]);
    });

    it('refuses a second action of the same name in the org, leaving the first; another org may have one', async () => {
      const org = newOrg();
      const store = open();
      const first = action(org, 'a', { description: 'first' });
      await store.createAction(first);
      await expect(store.createAction(action(org, 'a', { description: 'second' }))).rejects.toBeInstanceOf(
        ActionExistsError,
      );
      expect(await store.listVersions(org, 'a')).toEqual([first]);
      const elsewhere = action(newOrg(), 'a');
      expect(await store.createAction(elsewhere)).toEqual(elsewhere);
    });

    it('appends versions: latest is the newest, every earlier one stays gettable by digest', async () => {
      const org = newOrg();
      const store = open();
      const v1 = await store.createAction(action(org, 'a'));
      const v2 = await store.updateAction(org, 'a', (latest) =>
        nextVersion(latest, { uri: 'img:2' }, author()),
      );
      expect(v2).toMatchObject({ uri: 'img:2', created: v1.created });
      expect(v2?.digest).not.toBe(v1.digest);
      const reader = open();
      expect(await reader.getAction(org, 'a')).toEqual(v2);
      expect(await reader.getAction(org, 'a', v1.digest)).toEqual(v1);
      expect(await reader.listVersions(org, 'a')).toEqual([v1, v2]);
    });

    it('answers undefined for an update of a missing action, and writes nothing for a refused one', async () => {
      const org = newOrg();
      const store = open();
      expect(await store.updateAction(org, 'missing', (latest) => latest)).toBeUndefined();
      const v1 = await store.createAction(action(org, 'a'));
      await expect(
        store.updateAction(org, 'a', (latest) => nextVersion(latest, { timeout: -1 }, author())),
      ).rejects.toBeInstanceOf(UsageError);
      expect(await store.listVersions(org, 'a')).toEqual([v1]);
    });

    it('loses no update when several race on one action', async () => {
      const org = newOrg();
      await open().createAction(action(org, 'a'));
      const tags = Array.from({ length: 8 }, (_, index) => `t${index}`);
      await Promise.all(
        tags.map((tag) =>
          open().updateAction(org, 'a', (latest) =>
            nextVersion(latest, { metadata_changeset: { put_tags: [tag] } }, author()),
          ),
        ),
      );
      const latest = await open().getAction(org, 'a');
      expect([...(latest?.tags ?? [])].sort()).toEqual(tags);
      const versions = await open().listVersions(org, 'a');
      expect(versions).toHaveLength(tags.length + 1);
      expect(new Set(versions.map((version) => version.digest)).size).toBe(versions.length);
    });

    it('deletes every version; a later create of the name starts again at version 1', async () => {
      const org = newOrg();
      const store = open();
      const v1 = await store.createAction(action(org, 'a'));
      await store.updateAction(org, 'a', (latest) => nextVersion(latest, { description: 'x' }, author()));
      await store.setAccessibility(org, 'a', 'action_hub');
      expect(await store.deleteAction(org, 'a')).toBe(true);
      expect(await store.getAction(org, 'a')).toBeUndefined();
      expect(await store.getAction(org, 'a', v1.digest)).toBeUndefined();
      expect(await store.listVersions(org, 'a')).toEqual([]);
      expect((await store.queryActions({ orgId: org }, {})).items).toEqual([]);
      expect(
        (await store.queryActions({ actionHub: true }, {})).items.filter((r) => r.org_id === org),
      ).toEqual([]);
      expect(await store.deleteAction(org, 'a')).toBe(false);
      const again = action(org, 'a', { description: 'again' });
      expect(await store.createAction(again)).toEqual(again);
      expect(await store.listVersions(org, 'a')).toEqual([again]);
    });

    it('sets accessibility on the action without a new version or digest, shown on every version', async () => {
      const org = newOrg();
      const store = open();
      const v1 = await store.createAction(action(org, 'a'));
      const v2 = await store.updateAction(org, 'a', (latest) =>
        nextVersion(latest, { description: 'x' }, author()),
      );
      const now = new Date('2024-06-01T00:00:00Z');
      const hub = await store.setAccessibility(org, 'a', 'action_hub', now);
      expect(hub).toEqual({ ...v2, accessibility: 'action_hub', published: '2024-06-01T00:00:00Z' });
      expect(await store.listVersions(org, 'a')).toHaveLength(2);
      expect(await open().getAction(org, 'a', v1.digest)).toMatchObject({
        digest: v1.digest,
        accessibility: 'action_hub',
      });
      const back = await store.setAccessibility(org, 'a', 'organization', now);
      expect(back).toEqual({ ...v2, accessibility: 'organization', published: null });
      expect(await store.setAccessibility(org, 'missing', 'action_hub')).toBeUndefined();
    });

    it("queries one org's latest versions, or every org's action_hub actions", async () => {
      const mine = newOrg();
      const theirs = newOrg();
      const store = open();
      await store.createAction(action(mine, 'a', { tags: ['x'] }));
      await store.updateAction(mine, 'a', (latest) => nextVersion(latest, { description: 'v2' }, author()));
      await store.createAction(action(mine, 'b'));
      await store.createAction(action(theirs, 'c'));
      await store.createAction(action(theirs, 'd'));
      await store.setAccessibility(theirs, 'd', 'action_hub');
      await store.setAccessibility(mine, 'b', 'action_hub');

      const own = await open().queryActions({ orgId: mine }, { sortBy: 'name', sortDirection: 'ASC' });
      expect(own.items.map((record) => [record.name, record.description])).toEqual([
        ['a', 'v2'],
        ['b', null],
      ]);
      expect(own).toMatchObject({ total: 2, nextToken: null });

      const hub = await open().queryActions({ actionHub: true }, {});
      const names = hub.items
        .filter((record) => record.org_id === mine || record.org_id === theirs)
        .map((record) => record.name)
        .sort();
      expect(names).toEqual(['b', 'd']);
      expect(hub.items.every((record) => record.accessibility === 'action_hub')).toBe(true);
    });

    it('filters, sorts and pages with a total and no token for an empty tail', async () => {
      const org = newOrg();
      const store = open();
      for (const [index, name] of ['p1', 'p2', 'p3', 'q1', 'p4'].entries()) {
        await store.createAction(
          action(org, name, { metadata: { rank: index }, tags: index % 2 ? ['odd'] : [] }),
        );
      }
      const condition = { field: 'name', comparator: 'BEGINS_WITH', value: 'p' } as const;
      const first = await store.queryActions({ orgId: org }, { condition, limit: 2 });
      expect(first.items.map((record) => record.name)).toEqual(['p4', 'p3']);
      expect(first.total).toBe(4);
      const second = await store.queryActions(
        { orgId: org },
        { condition, limit: 2, after: first.nextToken },
      );
      expect(second.items.map((record) => record.name)).toEqual(['p2', 'p1']);
      expect(second.nextToken).toBeNull();

      const odd = await store.queryActions(
        { orgId: org },
        {
          condition: {
            operator: 'AND',
            conditions: [
              { field: 'tags', comparator: 'CONTAINS', value: 'odd' },
              { field: 'metadata.rank', comparator: 'GREATER_THAN', value: 1 },
            ],
          },
          sortBy: 'metadata.rank',
          sortDirection: 'ASC',
        },
      );
      expect(odd.items.map((record) => record.name)).toEqual(['q1']);

      const created = await store.queryActions(
        { orgId: org },
        { condition: { field: 'created', comparator: 'LESS_THAN', value: '2100-01-01T00:00:00Z' } },
      );
      expect(created.total).toBe(5);

      await expect(
        store.queryActions({ orgId: org }, { condition: { field: 'nope', comparator: 'EQUALS', value: 1 } }),
      ).rejects.toBeInstanceOf(UsageError);
      await expect(store.queryActions({ orgId: org }, { limit: 1001 })).rejects.toBeInstanceOf(UsageError);
      await expect(store.queryActions({ orgId: org }, { after: 'garbage!' })).rejects.toBeInstanceOf(
        UsageError,
      );
      expect(await store.queryActions({ orgId: newOrg() }, {})).toEqual({
        items: [],
        total: 0,
        nextToken: null,
      });
    });
  });
}
