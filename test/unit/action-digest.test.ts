import { describe, expect, it } from 'vitest';
import {
  actionDigest,
  actionDigestOfText,
  pyJsonDumpsSorted,
  wireTimestamp,
} from '../../src/domain/action-digest.js';

/** Base kwargs B of spec §4.1.3. */
const B = {
  created: '2024-01-01T00:00:00Z',
  modified: '2024-01-01T00:00:00Z',
  created_by: 'u1',
  modified_by: 'u1',
  name: 'tag-dataset',
  org_id: 'og_1',
};

describe('actionDigest (spec §4.1.3 test vectors)', () => {
  it.each([
    ['V1', B, '7041ca6b87179805c4d82ccd496892c1'],
    [
      'V2',
      { ...B, uri: 'registry.example.com/tag-dataset:1.0', description: 'Tags datasets', timeout: 30 },
      '08c82eef98c013a1d50f735312aaac62',
    ],
    [
      'V3',
      {
        ...B,
        // As the record holds them: only the keys given, the default already a string.
        parameters: [
          { name: 'threshold', required: true },
          { name: 'fmt', default: '5' },
        ],
        compute_requirements: { vCPU: 1024, memory: 2048 },
        container_parameters: { env_vars: { A: '1' } },
        tags: ['b', 'a'],
        metadata: { k: 'v', n: 1 },
      },
      '51e8b46f5ca247139c52961dfd064534',
    ],
    ['V4', { ...B, description: null, uri: null }, '28874a2d9919cf22e777f4a65577f300'],
    [
      'V5',
      {
        ...B,
        created: '2024-01-01T02:00:00+02:00',
        modified: '2024-01-01T00:00:00.123456Z',
        description: 'café ✓',
      },
      'eed039de434bed8262f79c07f23813a7',
    ],
    [
      'V6',
      {
        ...B,
        accessibility: 'action_hub',
        inherits: { name: 'base-act', owner: 'og_2' },
        requires_downloaded_inputs: false,
      },
      '63e7860518c6a5072acb8312ec5e228b',
    ],
    ['V8', { ...B, metadata: {}, tags: [], parameters: [] }, '7c4193bc56a0e44daf62c7beebe770eb'],
  ])('computes %s', (_name, record, digest) => {
    expect(actionDigest(record)).toBe(digest);
  });

  it('computes V7: a record carrying digest null hashes that key (the client fallback, not ours)', () => {
    expect(actionDigestOfText(pyJsonDumpsSorted({ ...B, digest: null }))).toBe(
      '43c0fb24c9f1105f1d5e1e4d471f9f48',
    );
    // Ours leaves any digest key out, so a stored record hashes as V1 whatever digest it carries.
    expect(actionDigest({ ...B, digest: 'whatever' })).toBe('7041ca6b87179805c4d82ccd496892c1');
  });

  it('serializes exactly the three hashed strings the spec gives', () => {
    expect(pyJsonDumpsSorted(B)).toBe(
      '{"created": "2024-01-01T00:00:00Z", "created_by": "u1", "modified": "2024-01-01T00:00:00Z", "modified_by": "u1", "name": "tag-dataset", "org_id": "og_1"}',
    );
    expect(
      pyJsonDumpsSorted({
        ...B,
        parameters: [
          { name: 'threshold', required: true },
          { name: 'fmt', default: '5' },
        ],
        compute_requirements: { vCPU: 1024, memory: 2048 },
        container_parameters: { env_vars: { A: '1' } },
        tags: ['b', 'a'],
        metadata: { k: 'v', n: 1 },
      }),
    ).toBe(
      '{"compute_requirements": {"memory": 2048, "vCPU": 1024}, "container_parameters": {"env_vars": {"A": "1"}}, "created": "2024-01-01T00:00:00Z", "created_by": "u1", "metadata": {"k": "v", "n": 1}, "modified": "2024-01-01T00:00:00Z", "modified_by": "u1", "name": "tag-dataset", "org_id": "og_1", "parameters": [{"name": "threshold", "required": true}, {"default": "5", "name": "fmt"}], "tags": ["b", "a"]}',
    );
    expect(
      pyJsonDumpsSorted({
        ...B,
        created: '2024-01-01T02:00:00+02:00',
        modified: '2024-01-01T00:00:00.123456Z',
        description: 'café ✓',
      }),
    ).toBe(
      '{"created": "2024-01-01T02:00:00+02:00", "created_by": "u1", "description": "caf\\u00e9 \\u2713", "modified": "2024-01-01T00:00:00.123456Z", "modified_by": "u1", "name": "tag-dataset", "org_id": "og_1"}',
    );
  });

  it('writes floats as Python repr, integral numbers as ints, astral characters as surrogate pairs', () => {
    expect(pyJsonDumpsSorted({ b: 0.1, a: 1e16, c: 1.5e-7, d: 1.0, e: -0 })).toBe(
      '{"a": 10000000000000000, "b": 0.1, "c": 1.5e-07, "d": 1, "e": 0}',
    );
    expect(pyJsonDumpsSorted({ x: { isLosslessNumber: true, value: '1.0' } })).toBe('{"x": 1.0}');
    expect(pyJsonDumpsSorted(['😀', '\u0001\n"\\'])).toBe('["\\ud83d\\ude00", "\\u0001\\n\\"\\\\"]');
  });
});

describe('wireTimestamp', () => {
  it('writes UTC with Z, a six-digit fraction only when it is not zero', () => {
    expect(wireTimestamp(new Date('2024-01-01T00:00:00.000Z'))).toBe('2024-01-01T00:00:00Z');
    expect(wireTimestamp(new Date('2024-01-01T00:00:00.120Z'))).toBe('2024-01-01T00:00:00.120000Z');
  });
});
