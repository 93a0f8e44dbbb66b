import { describe, expect, it } from 'vitest';
import { ActionRecord } from '../../src/domain/action-record.js';
import { UsageError } from '../../src/domain/errors.js';
import { liveLogRecords, storedLogRecords } from '../../src/domain/invocation-log-records.js';
import {
  type ActionVersions,
  type CreateInvocationFields,
  MAX_INHERITANCE_DEPTH,
  datasetsNamed,
  invocationRequestFromAction,
  resolveInheritance,
  visibleTo,
} from '../../src/domain/invoke-action.js';

const action = (fields: Partial<ActionRecord> & { name: string; digest: string }): ActionRecord =>
  ActionRecord.parse({
    org_id: 'og_1',
    created: '2026-01-01T00:00:00Z',
    created_by: 'u',
    modified: '2026-01-01T00:00:00Z',
    modified_by: 'u',
    accessibility: 'organization',
    published: null,
    description: null,
    short_description: null,
    uri: null,
    inherits: null,
    compute_requirements: null,
    container_parameters: null,
    parameters: [],
    requires_downloaded_inputs: null,
    metadata: {},
    tags: [],
    timeout: null,
    ...fields,
  });

/** Versions in a list; the last one of a name is its latest. */
const versionsOf = (records: ActionRecord[]): ActionVersions => ({
  getAction: (orgId, name, digest) =>
    Promise.resolve(
      records
        .filter((r) => r.org_id === orgId && r.name === name && (digest === undefined || r.digest === digest))
        .at(-1),
    ),
});

const everyone = () => true;

const fields = (extra: Partial<CreateInvocationFields> = {}): CreateInvocationFields => ({
  compute_requirement_overrides: null,
  container_parameter_overrides: null,
  data_source_id: '__UNSPECIFIED_DATA_SOURCE__',
  idempotency_id: null,
  input_data: [],
  rich_input_data: null,
  invocation_source: 'Manual',
  invocation_source_id: null,
  parameter_values: null,
  timeout: null,
  upload_destination: null,
  ...extra,
});

const context = { callerOrgId: 'og_2', requesterId: 'tk_1', defaultTimeoutMinutes: 30 };

describe('resolveInheritance', () => {
  it('follows a pinned digest or the latest version, the owner defaulting to the child’s org', async () => {
    const base1 = action({ name: 'base', digest: 'b1', uri: 'img:1', timeout: 10 });
    const base2 = action({ name: 'base', digest: 'b2', uri: 'img:2' });
    const pinned = action({
      name: 'pinned',
      digest: 'p',
      inherits: { name: 'base', digest: 'b1', owner: null },
    });
    const latest = action({
      name: 'latest',
      digest: 'l',
      inherits: { name: 'base', digest: null, owner: null },
    });
    const versions = versionsOf([base1, base2, pinned, latest]);
    expect((await resolveInheritance(versions, pinned, everyone)).image).toBe('img:1');
    expect((await resolveInheritance(versions, pinned, everyone)).timeout).toBe(10);
    expect((await resolveInheritance(versions, latest, everyone)).image).toBe('img:2');
  });

  it('refuses a missing or invisible parent, a cycle, and a chain too deep', async () => {
    const orphan = action({
      name: 'orphan',
      digest: 'o',
      inherits: { name: 'gone', digest: null, owner: null },
    });
    await expect(resolveInheritance(versionsOf([orphan]), orphan, everyone)).rejects.toThrow(
      /does not exist/,
    );
    const hidden = action({ name: 'hidden', digest: 'h', org_id: 'og_9', uri: 'img:h' });
    const peeker = action({
      name: 'peek',
      digest: 'k',
      inherits: { name: 'hidden', digest: null, owner: 'og_9' },
    });
    await expect(
      resolveInheritance(versionsOf([hidden, peeker]), peeker, (parent) => parent.org_id === 'og_1'),
    ).rejects.toThrow(/does not exist/);
    const self = action({ name: 'self', digest: 's', inherits: { name: 'self', digest: 's', owner: null } });
    await expect(resolveInheritance(versionsOf([self]), self, everyone)).rejects.toThrow(/from itself/);
    const chain = Array.from({ length: MAX_INHERITANCE_DEPTH + 2 }, (_, i) =>
      action({
        name: `a${i}`,
        digest: `d${i}`,
        uri: i === MAX_INHERITANCE_DEPTH + 1 ? 'img:end' : null,
        inherits: i === MAX_INHERITANCE_DEPTH + 1 ? null : { name: `a${i + 1}`, digest: null, owner: null },
      }),
    );
    await expect(resolveInheritance(versionsOf(chain), chain[0] as ActionRecord, everyone)).rejects.toThrow(
      /more than/,
    );
  });
});

describe('visibleTo', () => {
  it("sees the caller's org's actions, the action hub's, and a parent of its child's org; nothing else", () => {
    const visible = visibleTo('og_1');
    const own = action({ name: 'own', digest: 'o' });
    const foreign = action({ name: 'foreign', digest: 'f', org_id: 'og_9' });
    const hub = action({ name: 'hub', digest: 'h', org_id: 'og_9', accessibility: 'action_hub' });
    const foreignChild = action({ name: 'child', digest: 'c', org_id: 'og_9', accessibility: 'action_hub' });
    expect(visible(own)).toBe(true);
    expect(visible(hub)).toBe(true);
    expect(visible(foreign)).toBe(false);
    expect(visible(foreign, own)).toBe(false);
    expect(visible(foreign, foreignChild)).toBe(true);
  });
});

describe('invocationRequestFromAction (spec §4.3)', () => {
  const tagger = action({
    name: 'tagger',
    digest: 't1',
    uri: 'img:t',
    parameters: [
      { name: 'n', required: true, description: null, default: null },
      { name: 'key', required: false, description: null, default: null },
    ],
  });
  const resolved = {
    action: tagger,
    image: 'img:t',
    parameters: tagger.parameters,
    compute_requirements: null,
    container_parameters: null,
    requires_downloaded_inputs: null,
    timeout: null,
  };

  it('coerces values with Python str(), keeps secret references as references, resolves the timeout', () => {
    const request = invocationRequestFromAction(
      resolved,
      fields({
        parameter_values: { n: [1, 'x'], key: 'roboto-secret://api-key' },
        container_parameter_overrides: {
          command: null,
          entry_point: null,
          env_vars: { ROBOTO_LOG_LEVEL: 'DEBUG' },
          workdir: null,
        },
        upload_destination: { destination_type: 'Unknown', destination_id: 'ds_9' },
        invocation_source: 'Trigger',
        invocation_source_id: 'tr_1',
      }),
      context,
    );
    expect(request.parameter_values).toEqual({ n: "[1, 'x']", key: 'roboto-secret://api-key' });
    expect(request.secret_parameters).toEqual(['key']);
    expect(request.timeout_minutes).toBe(30);
    expect(request.log_level).toBe('DEBUG');
    expect(request.upload_destination_id).toBeNull();
    expect(request.org_id).toBe('og_2');
    expect(request.provenance).toEqual({
      action: { name: 'tagger', org_id: 'og_1', digest: 't1' },
      source: { source_type: 'Trigger', source_id: 'tr_1' },
    });
  });

  it('refuses what the caller got wrong as a UsageError', () => {
    const attempt = (extra: Partial<CreateInvocationFields>) => () =>
      invocationRequestFromAction(resolved, fields({ parameter_values: { n: 1 }, ...extra }), context);
    expect(attempt({ parameter_values: {} })).toThrow(UsageError);
    expect(attempt({ parameter_values: { n: 1, other: 2 } })).toThrow(/not defined/);
    expect(attempt({ rich_input_data: { files: null, topics: null } })).toThrow(UsageError);
    expect(attempt({ input_data: ['*.bag'] })).toThrow(/data_source_id/);
    expect(() =>
      invocationRequestFromAction(
        { ...resolved, image: null },
        fields({ parameter_values: { n: 1 } }),
        context,
      ),
    ).toThrow(/no container image/);
  });

  it('names the datasets that must exist: the data source of an input, selector datasets, the destination', () => {
    const request = invocationRequestFromAction(
      resolved,
      fields({
        parameter_values: { n: 1 },
        data_source_id: 'ds_1',
        input_data: ['**/*.bag'],
        rich_input_data: { files: { dataset_id: 'ds_2', paths: ['a'] } },
        upload_destination: { destination_type: 'Dataset', destination_id: 'ds_3' },
      }),
      context,
    );
    expect(datasetsNamed(request).sort()).toEqual(['ds_1', 'ds_2', 'ds_3']);
    const plain = invocationRequestFromAction(
      resolved,
      fields({ parameter_values: { n: 1 }, data_source_id: 'ds_1' }),
      context,
    );
    expect(datasetsNamed(plain)).toEqual([]);
  });
});

describe('log records', () => {
  it('reads the stored log: pieces joined per stream, a line without a time takes the one before', () => {
    const records = storedLogRecords(
      [
        '2026-01-01T00:00:00.000Z stdout+ ab',
        '2026-01-01T00:00:01.000Z stderr  err',
        '2026-01-01T00:00:02.000Z stdout  cd',
        '… 3 lines left out …',
        '',
      ].join('\n'),
      '2025-12-31T00:00:00Z',
    );
    expect(records.map((record) => [record.log, record.timestamp])).toEqual([
      ['err', '2026-01-01T00:00:01.000Z'],
      ['abcd', '2026-01-01T00:00:02.000Z'],
      ['… 3 lines left out …', '2026-01-01T00:00:02.000Z'],
    ]);
    expect(records.every((record) => record.partial_id === null && record.process === 'action')).toBe(true);
  });

  it('gives only whole lines of the live output', () => {
    expect(liveLogRecords(['a\r\nb', 'c\n', 'tail'], 't').map((record) => record.log)).toEqual(['a', 'bc']);
  });
});
