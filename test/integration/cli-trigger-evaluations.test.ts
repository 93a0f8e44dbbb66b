import { describe, expect, it } from 'vitest';
import { RedisTriggerEvaluationStore } from '../../src/adapters/redis/redis-trigger-evaluation-store.js';
import { TriggerEvaluationRecord, TriggerRecord } from '../../src/domain/trigger-record.js';
import type { PendingEvaluation } from '../../src/ports/trigger-evaluation-store.js';
import { useCliScaffold } from '../support/cli-scaffold.js';
import { pendingEvaluation } from '../support/pending-evaluation.js';

describe('action-worker triggers evaluations, through the CLI, on a real redis-server', () => {
  const { run, ok, jsonFile, withRecords, orgWithAction } = useCliScaffold();

  /** An org with an action and the triggers named, created by the CLI; their records. */
  async function orgWithTriggers(org: string, names: string[]) {
    const orgId = await orgWithAction(org, { name: 'tag-dataset', image_uri: 'img:1' });
    const triggers: TriggerRecord[] = [];
    for (const name of names) {
      const file = await jsonFile({ name, action_name: 'tag-dataset', required_inputs: ['**/*.bag'] });
      triggers.push(
        TriggerRecord.parse(
          JSON.parse(await ok(['triggers', 'create', '--from-file', file, '--org', orgId])),
        ),
      );
    }
    return { orgId, triggers };
  }

  /** The evaluation store the evaluator writes, where the CLI reads (same Redis, same prefix). */
  const withEvaluations = <T>(use: (store: RedisTriggerEvaluationStore) => Promise<T>): Promise<T> =>
    withRecords((options) => new RedisTriggerEvaluationStore(options), use);

  const pending = (triggerId: string, datasetId: string, start: string): PendingEvaluation =>
    pendingEvaluation(triggerId, datasetId, start, {
      data_constraint: { transaction_id: `tx_${start}`, file_id: null },
    });

  const parsed = (stdout: string) => TriggerEvaluationRecord.array().parse(JSON.parse(stdout));

  it("prints why a trigger ran or not, newest first, and every trigger's evaluations of a dataset", async () => {
    const { orgId, triggers } = await orgWithTriggers('cli-evaluations', ['trig', 'other']);
    const [trig, other] = triggers.map((each) => each.trigger_id) as [string, string];
    const [ran, skipped, failed, elsewhere] = await withEvaluations(async (store) => {
      const made = [];
      for (const [eventId, triggerId, datasetId, start] of [
        ['e1', trig, 'ds_a', '2026-11-30T10:00:00Z'],
        ['e2', trig, 'ds_b', '2026-11-30T10:01:00Z'],
        ['e3', other, 'ds_a', '2026-11-30T10:02:00Z'],
        ['e4', other, 'ds_b', '2026-11-30T10:03:00Z'],
      ] as const) {
        made.push((await store.createPending(orgId, eventId, pending(triggerId, datasetId, start))).record);
      }
      const end = '2026-11-30T10:05:00Z';
      return Promise.all([
        store.finish(
          orgId,
          made[0]!.trigger_evaluation_id,
          {
            status: 'evaluated',
            outcome: 'invoked_action',
            outcome_reason: null,
            status_detail: 'invoked inv_123',
          },
          end,
        ),
        store.finish(
          orgId,
          made[1]!.trigger_evaluation_id,
          {
            status: 'evaluated',
            outcome: 'skipped',
            outcome_reason: 'no_matching_files',
            status_detail: 'no file matches **/*.bag',
          },
          end,
        ),
        store.finish(
          orgId,
          made[2]!.trigger_evaluation_id,
          { status: 'failed', status_detail: 'action gone' },
          end,
        ),
        Promise.resolve(made[3]),
      ]);
    });

    // A trigger's evaluations, newest first, as JSON: exactly the store's records.
    const own = parsed(await ok(['triggers', 'evaluations', 'trig', '--org', orgId, '--json']));
    expect(own).toEqual([skipped, ran]);

    // As text: id, start, status, outcome, reason, cause, dataset, data constraint, detail.
    const text = await ok(['triggers', 'evaluations', 'trig', '--org', orgId]);
    expect(text).toContain(
      `evaluation ${skipped!.trigger_evaluation_id}  2026-11-30T10:01:00Z  evaluated  skipped (no_matching_files)`,
    );
    expect(text).toContain(`trigger: trig (${trig})`);
    expect(text).toContain('cause: file_upload');
    expect(text).toContain('data: Dataset ds_b  transaction tx_2026-11-30T10:01:00Z  file -');
    expect(text).toContain('detail: no file matches **/*.bag');
    expect(text).toContain('detail: invoked inv_123');
    expect(text.indexOf('10:01:00Z')).toBeLessThan(text.indexOf('10:00:00Z'));

    // Every trigger's evaluations of a dataset, newest first; nothing of another dataset.
    const ofA = parsed(await ok(['triggers', 'evaluations', '--dataset', 'ds_a', '--org', orgId, '--json']));
    expect(ofA).toEqual([failed, ran]);
    const textA = await ok(['triggers', 'evaluations', '--dataset', 'ds_a', '--org', orgId]);
    expect(textA).toContain('evaluated  invoked_action');
    expect(textA).toContain('failed');
    expect(textA).toContain('detail: action gone');
    expect(textA).not.toContain('ds_b');
    expect(
      parsed(await ok(['triggers', 'evaluations', '--dataset', 'ds_b', '--org', orgId, '--json'])),
    ).toEqual([elsewhere, skipped]);

    expect(await ok(['triggers', 'evaluations', '--dataset', 'ds_none', '--org', orgId])).toContain(
      'no evaluations',
    );
  });

  it('follows pages up to --limit, newest first', async () => {
    const { orgId, triggers } = await orgWithTriggers('cli-evaluations-pages', ['many']);
    const triggerId = triggers[0]!.trigger_id;
    const total = 105; // more than one page of the store (100)
    await withEvaluations(async (store) => {
      for (let index = 0; index < total; index += 1) {
        await store.createPending(orgId, `ev${index}`, pending(triggerId, 'ds_p', `start-${index}`));
      }
    });
    const all = parsed(
      await ok(['triggers', 'evaluations', 'many', '--org', orgId, '--json', '--limit', '1000']),
    );
    expect(all).toHaveLength(total);
    const ids = all.map((each) => each.trigger_evaluation_id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(new Set(ids).size).toBe(total);

    const some = parsed(
      await ok(['triggers', 'evaluations', 'many', '--org', orgId, '--json', '--limit', '102']),
    );
    expect(some).toEqual(all.slice(0, 102));
    const byDataset = parsed(
      await ok(['triggers', 'evaluations', '--dataset', 'ds_p', '--org', orgId, '--json', '--limit', '101']),
    );
    expect(byDataset).toEqual(all.slice(0, 101));
    // The default limit: the newest 50.
    expect(parsed(await ok(['triggers', 'evaluations', 'many', '--org', orgId, '--json']))).toEqual(
      all.slice(0, 50),
    );
  });

  it("answers another org's trigger exactly like a missing one, and refuses an unknown org or bad flags", async () => {
    const { orgId, triggers } = await orgWithTriggers('cli-evaluations-owner', ['secret']);
    const { orgId: otherOrg } = await orgWithTriggers('cli-evaluations-attacker', []);
    await withEvaluations((store) =>
      store.createPending(orgId, 'ev', pending(triggers[0]!.trigger_id, 'ds_secret', '2026-11-30T11:00:00Z')),
    );

    const stolen = await run(['triggers', 'evaluations', 'secret', '--org', otherOrg]);
    const missing = await run(['triggers', 'evaluations', 'nosuch', '--org', otherOrg]);
    expect(stolen.exitCode).toBe(64);
    expect(missing.exitCode).toBe(64);
    expect(stolen.stdout).toBe('');
    expect(stolen.stderr).toContain(`trigger secret not found in org ${otherOrg}`);
    expect(stolen.stderr.replace('secret', 'nosuch')).toBe(missing.stderr);
    // Another org's dataset: none of the owner's evaluations.
    const foreign = await ok([
      'triggers',
      'evaluations',
      '--dataset',
      'ds_secret',
      '--org',
      otherOrg,
      '--json',
    ]);
    expect(parsed(foreign)).toEqual([]);

    const unknownOrg = await run(['triggers', 'evaluations', 'secret', '--org', 'og_doesnotexist']);
    expect(unknownOrg.exitCode).toBe(64);
    expect(unknownOrg.stderr).toContain('og_doesnotexist');
    const unknownOrgDataset = await run([
      'triggers',
      'evaluations',
      '--dataset',
      'ds_secret',
      '--org',
      'og_nope',
    ]);
    expect(unknownOrgDataset.exitCode).toBe(64);
    expect(unknownOrgDataset.stderr).toContain('og_nope');

    const neither = await run(['triggers', 'evaluations', '--org', orgId]);
    expect(neither.exitCode).toBe(64);
    expect(neither.stderr).toContain('--dataset');
    expect(
      (await run(['triggers', 'evaluations', 'secret', '--dataset', 'ds_x', '--org', orgId])).exitCode,
    ).toBe(64);
    const badLimit = await run(['triggers', 'evaluations', 'secret', '--org', orgId, '--limit', '0']);
    expect(badLimit.exitCode).toBe(64);
    expect(badLimit.stderr).toContain('--limit');
  });
});
