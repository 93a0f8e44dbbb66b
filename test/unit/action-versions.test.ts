import { describe, expect, it } from 'vitest';
import {
  ActionExistsError,
  changeAccessibility,
  newAction,
  nextVersion,
  versionDigest,
} from '../../src/domain/action-versions.js';
import { UsageError } from '../../src/domain/errors.js';
import { minimalActionBody } from '../support/sdk-bodies.js';

const author = { userId: 'tk_author', now: new Date('2024-01-01T00:00:00Z') };
const later = { userId: 'tk_editor', now: new Date('2024-01-02T00:00:00.250Z') };

/** The SDK's minimal create body (spec A1): all twelve keys. */
const MINIMAL = minimalActionBody('tag-dataset', null);

describe('newAction', () => {
  it('makes version 1 with every key, the defaults of spec §4.2 and a digest of its content', () => {
    const record = newAction(MINIMAL, 'og_1', author);
    expect(record).toEqual({
      ...MINIMAL,
      org_id: 'og_1',
      created: '2024-01-01T00:00:00Z',
      created_by: 'tk_author',
      modified: '2024-01-01T00:00:00Z',
      modified_by: 'tk_author',
      accessibility: 'organization',
      published: null,
      digest: record.digest,
    });
    expect(record.digest).toMatch(/^[0-9a-f]{32}$/);
    expect(record.digest).toBe(versionDigest(record));
  });

  it('fills nested defaults and turns parameter defaults into strings (Python str)', () => {
    const record = newAction(
      {
        name: 'a',
        compute_requirements: { vCPU: 1024, memory: 2048 },
        container_parameters: { env_vars: { A: '1' } },
        parameters: [{ name: 'p', default: 3 }, { name: 'q', default: true }, { name: 'r' }],
        metadata: { m: 1, f: 0.5, b: false, s: 'x' },
        uri: '  img:1 ',
      },
      'og_1',
      author,
    );
    expect(record.compute_requirements).toEqual({ vCPU: 1024, memory: 2048, gpu: false, storage: 21 });
    expect(record.container_parameters).toEqual({
      command: null,
      entry_point: null,
      env_vars: { A: '1' },
      workdir: null,
    });
    expect(record.parameters).toEqual([
      { name: 'p', required: false, description: null, default: '3' },
      { name: 'q', required: false, description: null, default: 'True' },
      { name: 'r', required: false, description: null, default: null },
    ]);
    expect(record.uri).toBe('img:1');
  });

  it.each([
    ['a name with a slash', { name: 'a/b' }, 'name'],
    ['a reserved name', { name: 'query' }, 'name'],
    ['no name', { uri: 'x' }, 'name'],
    [
      'a vCPU/memory pair not allowed',
      { name: 'a', compute_requirements: { vCPU: 256, memory: 4096 } },
      'memory',
    ],
    ['a GPU', { name: 'a', compute_requirements: { gpu: true } }, 'gpu'],
    ['a short description over 140', { name: 'a', short_description: 'x'.repeat(141) }, 'short_description'],
    ['nested metadata', { name: 'a', metadata: { k: { n: 1 } } }, 'metadata.k'],
    ['null metadata value', { name: 'a', metadata: { k: null } }, 'metadata.k'],
    [
      'a duplicate parameter',
      { name: 'a', parameters: [{ name: 'p' }, { name: 'p' }] },
      'parameters[1].name',
    ],
    ['a zero timeout', { name: 'a', timeout: 0 }, 'timeout'],
    ['env values that are numbers', { name: 'a', container_parameters: { env_vars: { N: 5 } } }, 'env_vars'],
    ['inherits with uri', { name: 'a', inherits: { name: 'b' }, uri: 'img' }, 'uri'],
    [
      'inherits with parameters',
      { name: 'a', inherits: { name: 'b' }, parameters: [{ name: 'p' }] },
      'parameters',
    ],
    [
      'inherits with container parameters',
      { name: 'a', inherits: { name: 'b' }, container_parameters: {} },
      'container_parameters',
    ],
    [
      'inherits with requires_downloaded_inputs',
      { name: 'a', inherits: { name: 'b' }, requires_downloaded_inputs: false },
      'requires_downloaded_inputs',
    ],
  ])('refuses %s, naming the field', (_what, body, field) => {
    const attempt = () => newAction(body, 'og_1', author);
    expect(attempt).toThrow(UsageError);
    expect(attempt).toThrow(field);
  });

  it('accepts inherits alone', () => {
    const record = newAction({ name: 'a', inherits: { name: 'base', owner: 'og_2' } }, 'og_1', author);
    expect(record.inherits).toEqual({ name: 'base', owner: 'og_2' });
  });
});

describe('nextVersion', () => {
  const base = newAction(
    {
      ...MINIMAL,
      description: 'd',
      uri: 'img:1',
      timeout: 30,
      tags: ['t1', 't2'],
      metadata: { k: 'v', n: 1 },
      parameters: [
        { name: 'threshold', required: true },
        { name: 'fmt', default: 'csv' },
      ],
    },
    'og_1',
    author,
  );

  it('changes only the keys present, keeps created and makes a new digest', () => {
    const next = nextVersion(base, { description: 'new', timeout: 45 }, later);
    expect(next).toEqual({
      ...base,
      description: 'new',
      timeout: 45,
      modified: '2024-01-02T00:00:00.250000Z',
      modified_by: 'tk_editor',
      digest: next.digest,
    });
    expect(next.created).toBe(base.created);
    expect(next.digest).not.toBe(base.digest);
    expect(next.digest).toBe(versionDigest(next));
  });

  it.each([
    ['null clears description', { description: null }, { description: null }],
    ['null clears uri', { uri: null }, { uri: null }],
    ['null clears timeout', { timeout: null }, { timeout: null }],
    [
      'compute requirements are replaced whole, defaults filled',
      { compute_requirements: { vCPU: 2048, memory: 4096 } },
      { compute_requirements: { vCPU: 2048, memory: 4096, gpu: false, storage: 21 } },
    ],
    [
      'requires_downloaded_inputs is set',
      { requires_downloaded_inputs: true },
      { requires_downloaded_inputs: true },
    ],
    [
      'a metadata changeset changes metadata and tags',
      {
        metadata_changeset: {
          put_tags: ['t3', 't1'],
          remove_tags: ['t2'],
          put_fields: { x: 2.5 },
          remove_fields: ['n'],
        },
      },
      { tags: ['t1', 't3'], metadata: { k: 'v', x: 2.5 } },
    ],
    [
      'a CLI-shaped changeset with nulls',
      {
        metadata_changeset: { put_tags: ['x'], remove_tags: null, put_fields: { a: 1 }, remove_fields: null },
      },
      { tags: ['t1', 't2', 'x'], metadata: { k: 'v', n: 1, a: 1 } },
    ],
    [
      'replace_all replaces metadata and tags',
      { metadata_changeset: { put_fields: { only: true }, replace_all: true } },
      { tags: [], metadata: { only: true } },
    ],
    [
      'a parameter changeset removes, replaces in place and appends',
      {
        parameter_changeset: {
          put_parameters: [
            { name: 'fmt', default: 7 },
            { name: 'q', required: true },
          ],
          remove_parameters: ['threshold'],
        },
      },
      {
        parameters: [
          { name: 'fmt', required: false, description: null, default: '7' },
          { name: 'q', required: true, description: null, default: null },
        ],
      },
    ],
  ])('%s', (_what, update, expected) => {
    expect(nextVersion(base, update, later)).toMatchObject(expected);
  });

  it.each([
    [
      'a dotted put_fields key that nests',
      { metadata_changeset: { put_fields: { 'a.b': 1 } } },
      'metadata.a',
    ],
    ['a put_fields null value', { metadata_changeset: { put_fields: { a: null } } }, 'metadata.a'],
    ['a list value', { metadata_changeset: { put_fields: { a: [1] } } }, 'metadata.a'],
    ['short_description over 140', { short_description: 'y'.repeat(141) }, 'short_description'],
    ['requires_downloaded_inputs null', { requires_downloaded_inputs: null }, 'requires_downloaded_inputs'],
    ['a bad compute pair', { compute_requirements: { vCPU: 512, memory: 512 } }, 'memory'],
    ['inherits while uri stays', { inherits: { name: 'other' } }, 'uri'],
    ['an empty uri', { uri: '  ' }, 'uri'],
  ])('refuses %s, naming the field', (_what, update, field) => {
    const attempt = () => nextVersion(base, update, later);
    expect(attempt).toThrow(UsageError);
    expect(attempt).toThrow(field);
  });

  it('makes a later modified and a new digest even for an empty update in the same millisecond', () => {
    const same = nextVersion(base, {}, author);
    expect(Date.parse(same.modified)).toBeGreaterThan(Date.parse(base.modified));
    expect(same.digest).not.toBe(base.digest);
  });

  it('lets inherits replace uri and parameters in one update', () => {
    const next = nextVersion(
      base,
      {
        inherits: { name: 'base', owner: 'og_1' },
        uri: null,
        parameter_changeset: { remove_parameters: ['threshold', 'fmt'] },
      },
      later,
    );
    expect(next).toMatchObject({ inherits: { name: 'base', owner: 'og_1' }, uri: null, parameters: [] });
  });
});

describe('changeAccessibility', () => {
  const now = new Date('2024-03-01T00:00:00Z');
  it('sets published when going to the hub, keeps it there, clears it going back', () => {
    const hub = changeAccessibility({ accessibility: 'organization', published: null }, 'action_hub', now);
    expect(hub).toEqual({ accessibility: 'action_hub', published: '2024-03-01T00:00:00Z' });
    expect(changeAccessibility(hub, 'action_hub', new Date('2025-01-01T00:00:00Z'))).toEqual(hub);
    expect(changeAccessibility(hub, 'organization', now)).toEqual({
      accessibility: 'organization',
      published: null,
    });
  });

  it('does not change the digest: accessibility is not version content', () => {
    const record = newAction({ name: 'a' }, 'og_1', author);
    expect(versionDigest({ ...record, accessibility: 'action_hub', published: 'x' })).toBe(record.digest);
  });
});

describe('ActionExistsError', () => {
  it('is a usage error naming the action', () => {
    const error = new ActionExistsError('og_1', 'a');
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toContain('a already exists');
  });
});
