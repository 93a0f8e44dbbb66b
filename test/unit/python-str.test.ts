import { parse as parseLossless } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { pyJsonDumps, pyStr, reprFloat } from '../../src/domain/python-str.js';

const fromToken = (json: string): string => pyStr(parseLossless(json));

describe('pyStr', () => {
  it('formats the spec §5.1 examples exactly', () => {
    expect(fromToken('5')).toBe('5');
    expect(fromToken('0.5')).toBe('0.5');
    expect(fromToken('1.0')).toBe('1.0');
    expect(fromToken('1e16')).toBe('1e+16');
    expect(pyStr(true)).toBe('True');
    expect(pyStr(false)).toBe('False');
    expect(fromToken('[1, "x"]')).toBe("[1, 'x']");
    expect(fromToken('{"a": 1}')).toBe("{'a': 1}");
    expect(pyStr('')).toBe('');
  });

  it('keeps big integers exact, as Python ints are unbounded', () => {
    expect(fromToken('123456789012345678901234567890')).toBe('123456789012345678901234567890');
  });

  it('renders nested values as Python repr', () => {
    expect(fromToken('{"k": [true, null, 1.5, "it\'s"], "e": {}}')).toBe(
      `{'k': [True, None, 1.5, "it's"], 'e': {}}`,
    );
    expect(pyStr(['a\nb', 'back\\slash'])).toBe("['a\\nb', 'back\\\\slash']");
  });

  it('escapes non-printable characters in repr as Python does, and keeps printable ones', () => {
    expect(pyStr(['é', '\u00a0', '\u200b', '日本'])).toBe("['é', '\\xa0', '\\u200b', '日本']");
  });

  it('reads integral JS numbers as ints and others as floats', () => {
    expect(pyStr(5)).toBe('5');
    expect(pyStr(2.5)).toBe('2.5');
  });
});

describe('reprFloat', () => {
  it.each([
    [1, '1.0'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [1e15, '1000000000000000.0'],
    [1e16, '1e+16'],
    [1.5e300, '1.5e+300'],
    [-2.5, '-2.5'],
    [123.456, '123.456'],
    [0.1 + 0.2, '0.30000000000000004'],
    [-0, '-0.0'],
  ])('repr(%s) is %s', (value, expected) => {
    expect(reprFloat(value)).toBe(expected);
  });
});

describe('pyJsonDumps', () => {
  it('writes the spec §4.1 parameters file byte for byte', () => {
    const merged = new Map([
      ['output_format', 'json'],
      ['ratio', '0.5'],
      ['enabled', 'True'],
      ['threshold', '60'],
      ['api_key', 'roboto-secret://labeler-key'],
    ]);
    expect(pyJsonDumps(merged)).toBe(
      '{\n  "output_format": "json",\n  "ratio": "0.5",\n  "enabled": "True",\n  "threshold": "60",\n  "api_key": "roboto-secret://labeler-key"\n}',
    );
  });

  it('escapes non-ASCII as \\uXXXX like ensure_ascii, surrogate pairs included', () => {
    expect(pyJsonDumps({ s: 'café 🚗\u007f' })).toBe('{\n  "s": "caf\\u00e9 \\ud83d\\ude97\\u007f"\n}');
  });

  it('writes {} for no parameters and keeps the order of integer-like keys in a Map', () => {
    expect(pyJsonDumps(new Map())).toBe('{}');
    expect(
      pyJsonDumps(
        new Map([
          ['b', '1'],
          ['2', 'x'],
        ]),
      ),
    ).toBe('{\n  "b": "1",\n  "2": "x"\n}');
  });
});
