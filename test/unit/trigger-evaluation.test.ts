import { describe, expect, it } from 'vitest';
import {
  type EvaluationInput,
  MAX_TRIGGER_CHAIN_DEPTH,
  decideEvaluation,
} from '../../src/domain/trigger-evaluation.js';
import type { DatasetRecord, FileRecord } from '../../src/domain/records.js';
import type { TriggerEvent } from '../../src/domain/trigger-event.js';
import type { TriggerRecord } from '../../src/domain/trigger-record.js';

const T0 = '2024-01-01T00:00:00.000Z';

function trigger(overrides: Partial<TriggerRecord> = {}): TriggerRecord {
  return {
    trigger_id: 'tr_1',
    name: 'trig',
    org_id: 'og_1',
    created: T0,
    created_by: 'u',
    modified: T0,
    modified_by: 'u',
    action: { name: 'act', digest: null, owner: 'og_1' },
    required_inputs: ['**/*.bag'],
    service_user_id: 'su_1',
    for_each: 'dataset',
    enabled: true,
    parameter_values: {},
    additional_inputs: null,
    causes: ['file_upload'],
    compute_requirement_overrides: null,
    container_parameter_overrides: null,
    condition: null,
    timeout: null,
    ...overrides,
  };
}

const dataset: DatasetRecord = {
  dataset_id: 'ds_1',
  org_id: 'og_1',
  name: 'drive',
  description: null,
  tags: ['road'],
  metadata: { vehicle: { speed: 12 }, site: 'north' },
  created: T0,
  created_by: 'u',
  modified: T0,
  modified_by: 'u',
};

function file(id: string, path: string, extra: Partial<FileRecord> = {}): FileRecord {
  return {
    association_id: 'ds_1',
    created: T0,
    created_by: 'u',
    description: null,
    device_id: null,
    file_id: id,
    fs_type: 'file',
    ingestion_status: 'not_ingested',
    metadata: {},
    modified: T0,
    modified_by: 'u',
    name: path.split('/').pop() ?? path,
    org_id: 'og_1',
    origination: '',
    parent_id: null,
    relative_path: path,
    size: 1,
    status: 'available',
    storage_type: 'uploaded',
    tags: [],
    upload_id: 'NO_ID',
    uri: `s3://b/${path}`,
    version: 1,
    ...extra,
  };
}

const event: TriggerEvent = {
  event_id: 'ev_1',
  org_id: 'og_1',
  dataset_id: 'ds_1',
  cause: 'file_upload',
  transaction_id: 'tx_1',
  file_ids: ['fl_bag', 'fl_yaml'],
  source_invocation_id: null,
  occurred: T0,
};

const BAG = file('fl_bag', 'logs/a.bag', { version: 2, tags: ['raw'] });
const YAML = file('fl_yaml', 'config/c.yaml');
const OLD_BAG = file('fl_old', 'old/b.bag');
const HIDDEN_YAML = file('fl_hidden', '.roboto/x.yaml');

function input(over: Partial<EvaluationInput> & { t?: Partial<TriggerRecord> }): EvaluationInput {
  const { t, ...rest } = over;
  return { trigger: trigger(t), event, dataset, files: [BAG, YAML, OLD_BAG], source: null, ...rest };
}

describe('decideEvaluation: skips (spec §4.5)', () => {
  const cases: [string, EvaluationInput, string | null][] = [
    ['a disabled trigger', input({ t: { enabled: false } }), 'trigger_disabled'],
    [
      'a false dataset condition',
      input({ t: { condition: { field: 'metadata.site', comparator: 'EQUALS', value: 'south' } } }),
      'condition_not_met',
    ],
    [
      'a dataset-qualified condition on a missing key',
      input({ t: { condition: { field: 'dataset.metadata.nope', comparator: 'EXISTS', value: null } } }),
      'condition_not_met',
    ],
    [
      'a dataset trigger missing one pattern',
      input({ t: { required_inputs: ['**/*.bag', '**/*.mcap'] } }),
      'no_matching_files',
    ],
    [
      'a pattern matched only by a hidden top-level folder',
      input({ t: { required_inputs: ['**/*.bag', '**/*.yaml'] }, files: [BAG, HIDDEN_YAML] }),
      'no_matching_files',
    ],
    ['a deleted file', input({ files: [{ ...BAG, status: 'deleted' }] }), 'no_matching_files'],
    [
      'a file trigger whose matches are not in the event',
      input({ t: { for_each: 'dataset_file' }, event: { ...event, file_ids: ['fl_yaml'] } }),
      'no_matching_files',
    ],
    [
      'a file trigger whose file condition fails',
      input({
        t: {
          for_each: 'dataset_file',
          condition: { field: 'file.tags', comparator: 'CONTAINS', value: 'calibrated' },
        },
      }),
      'condition_not_met',
    ],
  ];
  it.each(cases)('%s', (_name, given, reason) => {
    expect(decideEvaluation(given)).toEqual({ kind: 'skipped', reason, detail: null });
  });

  it('a trigger never fires on files its own invocation produced', () => {
    const decision = decideEvaluation(
      input({
        event: { ...event, source_invocation_id: 'inv_9' },
        source: { trigger_id: 'tr_1', trigger_depth: 1 },
      }),
    );
    expect(decision).toMatchObject({ kind: 'skipped', reason: null });
    expect(decision.kind === 'skipped' && decision.detail).toMatch(/its own outputs/);
  });

  it('another trigger fires on them, one level deeper; a chain past the limit is cut', () => {
    expect(decideEvaluation(input({ source: { trigger_id: 'tr_other', trigger_depth: 3 } }))).toMatchObject({
      kind: 'invoke',
      trigger_depth: 4,
    });
    expect(
      decideEvaluation(
        input({ source: { trigger_id: 'tr_other', trigger_depth: MAX_TRIGGER_CHAIN_DEPTH - 1 } }),
      ),
    ).toMatchObject({ kind: 'invoke', trigger_depth: MAX_TRIGGER_CHAIN_DEPTH });
    const cut = decideEvaluation(
      input({ source: { trigger_id: 'tr_other', trigger_depth: MAX_TRIGGER_CHAIN_DEPTH } }),
    );
    expect(cut).toMatchObject({ kind: 'skipped', reason: null });
    expect(cut.kind === 'skipped' && cut.detail).toMatch(/chain/);
  });
});

describe('decideEvaluation: units', () => {
  const cases: [string, EvaluationInput, { idempotency_id: string; input_data: string[] }[]][] = [
    [
      'a dataset trigger: every pattern matched, one unit with required + additional inputs',
      input({ t: { required_inputs: ['**/*.bag', '*.yaml'], additional_inputs: ['notes/'] } }),
      [{ idempotency_id: 'tr_1:ds_1', input_data: ['**/*.bag', '*.yaml', 'notes/'] }],
    ],
    [
      "a dataset trigger looks at every file of the dataset, not only the event's",
      input({ event: { ...event, file_ids: ['fl_yaml'] } }),
      [{ idempotency_id: 'tr_1:ds_1', input_data: ['**/*.bag'] }],
    ],
    [
      'a true condition with the comparators of §2.11',
      input({
        t: {
          condition: {
            operator: 'AND',
            conditions: [
              { field: 'dataset.metadata.vehicle.speed', comparator: 'GREATER_THAN', value: 10 },
              { field: 'tags', comparator: 'CONTAINS', value: 'road' },
              { field: 'name', comparator: 'LIKE', value: 'dr%' },
              { field: 'created', comparator: 'LESS_THAN', value: '2025-01-01T00:00:00Z' },
            ],
          },
        },
      }),
      [{ idempotency_id: 'tr_1:ds_1', input_data: ['**/*.bag'] }],
    ],
    [
      'a file trigger: one unit per matching file of the event, by version, path anchored',
      input({
        t: { for_each: 'dataset_file', required_inputs: ['*.bag', '*.yaml'], additional_inputs: ['x'] },
      }),
      [
        { idempotency_id: 'tr_1:fl_bag:2', input_data: ['/logs/a.bag', 'x'] },
        { idempotency_id: 'tr_1:fl_yaml:1', input_data: ['/config/c.yaml', 'x'] },
      ],
    ],
    [
      'a file trigger with a file condition keeps the files that meet it',
      input({
        t: {
          for_each: 'dataset_file',
          required_inputs: ['*.bag', '*.yaml'],
          condition: { field: 'file.tags', comparator: 'CONTAINS', value: 'raw' },
        },
      }),
      [{ idempotency_id: 'tr_1:fl_bag:2', input_data: ['/logs/a.bag'] }],
    ],
  ];
  it.each(cases)('%s', (_name, given, units) => {
    const decision = decideEvaluation(given);
    expect(decision.kind).toBe('invoke');
    if (decision.kind !== 'invoke') return;
    expect(decision.units.map(({ idempotency_id, input_data }) => ({ idempotency_id, input_data }))).toEqual(
      units,
    );
  });

  it('10,000 file ids in one event still make one unit for a dataset trigger', () => {
    const files = Array.from({ length: 10_000 }, (_, i) => file(`fl_${i}`, `d/${i}.bag`));
    const decision = decideEvaluation(
      input({ files, event: { ...event, file_ids: files.map((f) => f.file_id) } }),
    );
    expect(decision.kind === 'invoke' && decision.units.length).toBe(1);
  });
});
