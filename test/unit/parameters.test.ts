import { describe, expect, it } from 'vitest';
import { ActionParameter } from '../../src/domain/action-config.js';
import { UsageError } from '../../src/domain/errors.js';
import {
  mergeParameters,
  parseSecretUri,
  secretUri,
  validateParameters,
} from '../../src/domain/parameters.js';

const declare = (...params: Record<string, unknown>[]) => params.map((p) => ActionParameter.parse(p));

describe('mergeParameters', () => {
  it('reproduces the spec §4.1 example in order', () => {
    const declared = declare(
      { name: 'output_format', default: 'json' },
      { name: 'ratio', default: 0.5 },
      { name: 'enabled', default: true },
      { name: 'threshold', required: true },
    );
    const merged = mergeParameters(declared, { threshold: 60, api_key: 'roboto-secret://labeler-key' });
    expect([...merged]).toEqual([
      ['output_format', 'json'],
      ['ratio', '0.5'],
      ['enabled', 'True'],
      ['threshold', '60'],
      ['api_key', 'roboto-secret://labeler-key'],
    ]);
  });

  it("keeps a default's position when a value overrides it", () => {
    const merged = mergeParameters(declare({ name: 'a', default: '1' }, { name: 'b', default: '2' }), {
      a: 'x',
    });
    expect([...merged]).toEqual([
      ['a', 'x'],
      ['b', '2'],
    ]);
  });

  it('coerces supplied values with Python str() and keeps null as null', () => {
    const merged = mergeParameters([], { n: 5, b: false, o: { a: 1 }, z: null, e: '' });
    expect(Object.fromEntries(merged)).toEqual({ n: '5', b: 'False', o: "{'a': 1}", z: null, e: '' });
  });
});

describe('validateParameters', () => {
  const declared = declare(
    { name: 'req', required: true },
    { name: 'opt' },
    { name: 'req_default', required: true, default: 'd' },
  );

  it('rejects undeclared names, listing them', () => {
    expect(() => {
      validateParameters(declared, { req: '1', bogus: 'x' }, 'act');
    }).toThrow(/not defined in action "act": bogus/);
  });

  it('rejects a required parameter with no value and no default', () => {
    expect(() => {
      validateParameters(declared, {}, 'act');
    }).toThrow(/missing required parameter\(s\) of action "act": req$/);
  });

  it('lets a default satisfy required', () => {
    expect(() => {
      validateParameters(declared, { req: 'v' }, 'act');
    }).not.toThrow();
  });

  it('throws UsageErrors with the parameter code', () => {
    try {
      validateParameters(declared, {}, 'act');
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).code).toBe('E_INVALID_PARAMETER');
    }
  });
});

describe('parseSecretUri', () => {
  it.each([
    ['roboto-secret://labeler-key', { name: 'labeler-key', orgId: null }],
    ['roboto-secret://labeler-key@og_abc123', { name: 'labeler-key', orgId: 'og_abc123' }],
    ['roboto-secret://a/b c@og_1-x', { name: 'a/b c', orgId: 'og_1' }],
    ['roboto-secret://name@', { name: 'name', orgId: null }],
  ])('parses %s', (uri, expected) => {
    expect(parseSecretUri(uri)).toEqual(expected);
  });

  it('rejects values that are not secret URIs', () => {
    expect(parseSecretUri('plain')).toBeUndefined();
    expect(parseSecretUri('roboto-secret://')).toBeUndefined();
    expect(parseSecretUri(' roboto-secret://x')).toBeUndefined();
  });

  it('builds canonical URIs', () => {
    expect(secretUri('k', 'og_1')).toBe('roboto-secret://k@og_1');
    expect(secretUri('k')).toBe('roboto-secret://k');
  });
});
