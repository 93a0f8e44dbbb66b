import { describe, expect, it } from 'vitest';
import { newAction } from '../../src/domain/action-versions.js';
import { UsageError } from '../../src/domain/errors.js';
import { TriggerEvaluationRecord, TriggerRecord } from '../../src/domain/trigger-record.js';
import {
  checkTriggerAction,
  newTrigger,
  updateRetargets,
  updatedTrigger,
} from '../../src/domain/trigger-versions.js';
import { MemoryActionStore } from '../support/memory-action-store.js';
import { minimalTriggerBody } from '../support/sdk-bodies.js';

const author = { userId: 'tk_author', now: new Date('2024-01-01T00:00:00Z') };
const later = { userId: 'tk_editor', now: new Date('2024-01-02T00:00:00Z') };

/** The SDK's minimal create body (spec T1): all fifteen keys. */
const MINIMAL = minimalTriggerBody('trig');

describe('newTrigger (spec T1, §2.3)', () => {
  it('fills every key of the record with the documented defaults', () => {
    const record = newTrigger(MINIMAL, 'og_1', author);
    expect(TriggerRecord.parse(record)).toEqual(record);
    expect(record).toMatchObject({
      name: 'trig',
      org_id: 'og_1',
      created: '2024-01-01T00:00:00Z',
      created_by: 'tk_author',
      modified: '2024-01-01T00:00:00Z',
      modified_by: 'tk_author',
      action: { name: 'tag-dataset', digest: null, owner: 'og_1' },
      required_inputs: ['**/*.bag'],
      for_each: 'dataset',
      enabled: true,
      parameter_values: {},
      additional_inputs: null,
      causes: ['file_upload', 'dataset_metadata_update'],
      compute_requirement_overrides: null,
      container_parameter_overrides: null,
      condition: null,
      timeout: null,
    });
    expect(record.trigger_id).toMatch(/^tr_[0-9a-z]{12}$/);
    expect(record.service_user_id).toMatch(/^su_[0-9a-z]{12}$/);
  });

  it("keeps the SDK's fuller call as given, nested defaults filled", () => {
    const record = newTrigger(
      {
        ...MINIMAL,
        action_digest: 'abc',
        action_owner_id: 'og_2',
        additional_inputs: ['*.txt'],
        causes: ['file_upload'],
        compute_requirement_overrides: { vCPU: 1024, memory: 2048 },
        condition: {
          operator: 'AND',
          conditions: [
            { field: 'tags', comparator: 'CONTAINS', value: 'x' },
            { field: 'metadata.n', comparator: 'GREATER_THAN', value: 3 },
          ],
        },
        enabled: false,
        for_each: 'dataset_file',
        parameter_values: { p: 1 },
        service_user_id: 'su_1',
        timeout: 20,
      },
      'og_1',
      author,
    );
    expect(record).toMatchObject({
      action: { name: 'tag-dataset', digest: 'abc', owner: 'og_2' },
      additional_inputs: ['*.txt'],
      causes: ['file_upload'],
      compute_requirement_overrides: { vCPU: 1024, memory: 2048, gpu: false, storage: 21 },
      enabled: false,
      for_each: 'dataset_file',
      parameter_values: { p: 1 },
      service_user_id: 'su_1',
      timeout: 20,
    });
  });

  it('defaults the causes of a dataset_file trigger to file_upload alone (§4.5)', () => {
    expect(newTrigger({ ...MINIMAL, for_each: 'dataset_file' }, 'og_1', author).causes).toEqual([
      'file_upload',
    ]);
  });

  it.each([
    ['a missing name', { name: undefined }, 'name'],
    ['a name with a slash', { name: 'a/b' }, 'name'],
    ['a reserved name', { name: 'query' }, 'name'],
    ['a missing action', { action_name: undefined }, 'action_name'],
    ['no required_inputs', { required_inputs: undefined }, 'required_inputs'],
    ['empty required_inputs', { required_inputs: [] }, 'required_inputs'],
    ['a blank pattern', { required_inputs: ['**/*.bag', '  '] }, 'required_inputs[1]'],
    ['a negated pattern', { required_inputs: ['!*.bag'] }, 'required_inputs[0]'],
    ['empty additional_inputs', { additional_inputs: [] }, 'additional_inputs'],
    ['recurring_schedule', { causes: ['recurring_schedule'] }, 'causes[0]'],
    ['an unknown cause', { causes: ['upload'] }, 'causes[0]'],
    ['an unknown for_each', { for_each: 'file' }, 'for_each'],
    ['a bad vCPU', { compute_requirement_overrides: { vCPU: 3 } }, 'compute_requirement_overrides.vCPU'],
    [
      'memory not allowed with the vCPU',
      { compute_requirement_overrides: { vCPU: 256, memory: 8192 } },
      'compute_requirement_overrides.memory',
    ],
    [
      'a bad env var name',
      { container_parameter_overrides: { env_vars: { '1X': 'v' } } },
      'container_parameter_overrides.env_vars.1X',
    ],
    ['a zero timeout', { timeout: 0 }, 'timeout'],
    ['a fractional timeout', { timeout: 1.5 }, 'timeout'],
    ['a bad comparator', { condition: { field: 'tags', comparator: '=', value: 'x' } }, 'condition'],
    ['an empty group', { condition: { operator: 'AND', conditions: [] } }, 'condition'],
    ['a list as a value', { condition: { field: 'x', comparator: 'EQUALS', value: [1] } }, 'condition'],
    ['parameter_values not an object', { parameter_values: [1] }, 'parameter_values'],
    ['a blank service user', { service_user_id: ' ' }, 'service_user_id'],
  ])('refuses %s, naming the field', (_what, change, field) => {
    const body = Object.fromEntries(
      Object.entries({ ...MINIMAL, ...change }).filter(([, value]) => value !== undefined),
    );
    expect(() => newTrigger(body, 'og_1', author)).toThrow(UsageError);
    expect(() => newTrigger(body, 'og_1', author)).toThrow(`\n  ${field}: `);
  });

  it.each(['**/*', '*', '**', '/**', '**/'])(
    'refuses the catch-all %j for a dataset_file trigger, accepts it for a dataset one',
    (pattern) => {
      expect(() =>
        newTrigger({ ...MINIMAL, for_each: 'dataset_file', required_inputs: [pattern] }, 'og_1', author),
      ).toThrow(/matches every file/);
      expect(newTrigger({ ...MINIMAL, required_inputs: [pattern] }, 'og_1', author).required_inputs).toEqual([
        pattern,
      ]);
    },
  );

  it('stores a condition tree with only its own keys, an absent value as null', () => {
    const record = newTrigger(
      {
        ...MINIMAL,
        condition: {
          operator: 'OR',
          extra: 1,
          conditions: [{ field: 'metadata.k', comparator: 'EXISTS', junk: 'x' }],
        },
      },
      'og_1',
      author,
    );
    expect(record.condition).toEqual({
      operator: 'OR',
      conditions: [{ field: 'metadata.k', comparator: 'EXISTS', value: null }],
    });
  });

  it('ignores unknown keys (spec §1.5)', () => {
    expect(newTrigger({ ...MINIMAL, future_field: 1 }, 'og_1', author)).not.toHaveProperty('future_field');
  });
});

describe('updatedTrigger (spec T4)', () => {
  const current = newTrigger(
    { ...MINIMAL, action_digest: 'abc', timeout: 5, parameter_values: { p: 1 }, causes: ['file_ingest'] },
    'og_1',
    author,
  );

  it.each([
    ['enable/disable', { enabled: false }, { enabled: false }],
    ['a null timeout clears it', { timeout: null }, { timeout: null }],
    [
      'null causes go back to the default',
      { causes: null },
      { causes: ['file_upload', 'dataset_metadata_update'] },
    ],
    ['null parameter_values is {}', { parameter_values: null }, { parameter_values: {} }],
    [
      'another action without a digest clears the digest',
      { action_name: 'other' },
      { action: { name: 'other', digest: null, owner: 'og_1' } },
    ],
    [
      'another owner without a digest clears the digest',
      { action_owner_id: 'og_2' },
      { action: { name: 'tag-dataset', digest: null, owner: 'og_2' } },
    ],
    [
      'the same action name keeps the digest',
      { action_name: 'tag-dataset' },
      { action: { name: 'tag-dataset', digest: 'abc', owner: 'og_1' } },
    ],
    [
      'a null owner is the trigger org',
      { action_owner_id: null, action_digest: 'def' },
      { action: { name: 'tag-dataset', digest: 'def', owner: 'og_1' } },
    ],
    [
      'compute overrides get their defaults',
      { compute_requirement_overrides: { vCPU: 1024, memory: 2048 } },
      { compute_requirement_overrides: { vCPU: 1024, memory: 2048, gpu: false, storage: 21 } },
    ],
  ])('%s', (_what, request, expected) => {
    const next = updatedTrigger(current, request, later);
    expect(next).toEqual({
      ...current,
      ...expected,
      modified: '2024-01-02T00:00:00Z',
      modified_by: 'tk_editor',
    });
  });

  it('changes nothing but modified for an empty body, and keeps the id and creation', () => {
    const next = updatedTrigger(current, {}, later);
    expect(next).toEqual({ ...current, modified: '2024-01-02T00:00:00Z', modified_by: 'tk_editor' });
  });

  it.each([
    [{ required_inputs: [] }, 'required_inputs'],
    [{ causes: ['recurring_schedule'] }, 'causes[0]'],
    [{ enabled: null }, 'enabled'],
    [{ for_each: null }, 'for_each'],
    [{ for_each: 'dataset_file', required_inputs: ['**/*'] }, 'required_inputs'],
  ])('refuses %j', (request, field) => {
    expect(() => updatedTrigger(current, request, later)).toThrow(field.replace(/\[0\]/, ''));
  });

  it('says which updates need the action checked again', () => {
    expect(updateRetargets({ enabled: false })).toBe(false);
    expect(updateRetargets({ action_name: 'x' })).toBe(true);
    expect(updateRetargets({ parameter_values: { p: 1 } })).toBe(true);
  });
});

describe('checkTriggerAction', () => {
  const actions = new MemoryActionStore();
  const made = { userId: 'tk_1', now: new Date('2024-01-01T00:00:00Z') };
  const setup = (async () => {
    const own = await actions.createAction(
      newAction(
        {
          name: 'tag-dataset',
          uri: 'img:1',
          parameters: [{ name: 'p', required: true }, { name: 'q' }],
        },
        'og_1',
        made,
      ),
    );
    await actions.createAction(newAction({ name: 'private', uri: 'img:1' }, 'og_2', made));
    const hub = await actions.createAction(newAction({ name: 'shared', uri: 'img:1' }, 'og_2', made));
    await actions.setAccessibility('og_2', 'shared', 'action_hub');
    return { own, hub };
  })();

  const trigger = (change: Record<string, unknown>) =>
    newTrigger({ ...MINIMAL, parameter_values: { p: 1 }, ...change }, 'og_1', author);

  it('accepts the own org action, a pinned version, and an action hub action of another org', async () => {
    const { own } = await setup;
    await expect(checkTriggerAction(actions, trigger({}))).resolves.toBeUndefined();
    await expect(
      checkTriggerAction(actions, trigger({ action_digest: own.digest })),
    ).resolves.toBeUndefined();
    await expect(
      checkTriggerAction(
        actions,
        trigger({ action_name: 'shared', action_owner_id: 'og_2', parameter_values: {} }),
      ),
    ).resolves.toBeUndefined();
  });

  it.each([
    ['an unknown action', { action_name: 'nope' }, /action nope not found/],
    ['an unknown digest', { action_digest: 'f'.repeat(32) }, /has no version/],
    [
      "another org's private action (read as missing)",
      { action_name: 'private', action_owner_id: 'og_2', parameter_values: {} },
      /action private not found/,
    ],
    ['an unknown parameter, named', { parameter_values: { p: 1, zz: 2 } }, /not defined.*: zz/],
    ['a required parameter missing', { parameter_values: { q: 1 } }, /missing required parameter.*: p/],
  ])('refuses %s', async (_what, change, message) => {
    await setup;
    await expect(checkTriggerAction(actions, trigger(change))).rejects.toThrow(message);
    await expect(checkTriggerAction(actions, trigger(change))).rejects.toBeInstanceOf(UsageError);
  });
});

describe('TriggerEvaluationRecord (spec §2.4)', () => {
  it('takes an integer id and the listed outcomes; refuses "ev_1"', () => {
    const record = {
      trigger_evaluation_id: 1,
      trigger_id: 'tr_1',
      data_source: { data_source_type: 'Dataset', data_source_id: 'ds_1' },
      data_constraint: { transaction_id: 'tx_1', file_id: null },
      evaluation_start: '2024-01-01T00:00:00Z',
      evaluation_end: null,
      status: 'evaluated',
      status_detail: null,
      outcome: 'skipped',
      outcome_reason: 'already_run',
      cause: 'file_upload',
    };
    expect(TriggerEvaluationRecord.parse(record)).toEqual(record);
    expect(TriggerEvaluationRecord.safeParse({ ...record, trigger_evaluation_id: 'ev_1' }).success).toBe(
      false,
    );
  });
});
