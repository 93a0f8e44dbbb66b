import { describe, expect, it } from 'vitest';
import { HeadTailBuffer, LineSplitter } from '../../src/domain/log-lines.js';

const lines = (splitter: LineSplitter, text: string) =>
  splitter.push(Buffer.from(text)).map(({ line, isPartial }) => `${line.toString()}${isPartial ? '+' : ''}`);

describe('LineSplitter', () => {
  it('returns complete lines and keeps a partial one for the next chunk', () => {
    const splitter = new LineSplitter(100);
    expect(lines(splitter, 'one\ntw')).toEqual(['one']);
    expect(lines(splitter, 'o\nthree\n')).toEqual(['two', 'three']);
    expect(splitter.flush()).toBeUndefined();
    expect(lines(splitter, 'tail')).toEqual([]);
    expect(splitter.flush()?.toString()).toBe('tail');
  });

  it('cuts a line longer than the maximum into marked pieces', () => {
    const splitter = new LineSplitter(4);
    expect(lines(splitter, 'abcdefghij\nxy\n')).toEqual(['abcd+', 'efgh+', 'ij', 'xy']);
    expect(lines(splitter, 'abc')).toEqual([]);
    expect(lines(splitter, 'defg')).toEqual(['abcd+']);
  });
});

describe('HeadTailBuffer', () => {
  it('keeps everything while under the cap', () => {
    const buffer = new HeadTailBuffer(100);
    buffer.push('a');
    buffer.push('b');
    expect(buffer.toString()).toBe('a\nb\n');
    expect(buffer.truncatedBytes).toBe(0);
  });

  it('keeps the head and the tail with a visible marker of what was dropped', () => {
    const buffer = new HeadTailBuffer(40);
    for (let i = 0; i < 100; i += 1) buffer.push(`line ${String(i).padStart(2, '0')}`);
    const text = buffer.toString();
    expect(text.startsWith('line 00\nline 01\n')).toBe(true);
    expect(text.endsWith('line 98\nline 99\n')).toBe(true);
    expect(text).toMatch(/… \d+ bytes \(\d+ lines\) truncated …/);
    expect(Buffer.byteLength(text)).toBeLessThan(40 + 60);
    // 100 lines of 8 bytes, minus what was kept, is what the marker counts.
    const kept = text.split('\n').filter((line) => line.startsWith('line')).length;
    expect(buffer.truncatedBytes).toBe((100 - kept) * 8);
  });
});
