import { describe, expect, it } from 'vitest';
import { splitUtf8 } from '../../src/domain/split-utf8.js';

describe('splitUtf8', () => {
  it('cuts text into pieces of at most the given bytes, on character boundaries', () => {
    expect(splitUtf8('', 4)).toEqual([]);
    expect(splitUtf8('abc', 4)).toEqual(['abc']);
    expect(splitUtf8('abcäx', 4)).toEqual(['abc', 'äx']);
    expect(splitUtf8('a😀b', 4)).toEqual(['a', '😀', 'b']);
    expect(splitUtf8('€€€', 7)).toEqual(['€€', '€']);
  });

  it('keeps a character bigger than the cap whole rather than cutting it', () => {
    expect(splitUtf8('a😀b', 2)).toEqual(['a', '😀', 'b']);
  });
});
