import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { LIVE_FLUSH_BYTES, LiveLog } from '../../src/app/daemon/live-log.js';

const silent = pino({ level: 'silent' });

/** A LiveLog whose flushes are collected, in order. */
function collecting(): { live: LiveLog; appended: string[] } {
  const appended: string[] = [];
  const live = new LiveLog((text) => {
    appended.push(text);
    return Promise.resolve();
  }, silent);
  return { live, appended };
}

const bytes = (...values: number[]) => Buffer.from(values);
const utf8Size = (text: string) => Buffer.byteLength(text);

describe('LiveLog', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends a character split across two timed flushes whole, in the second', async () => {
    vi.useFakeTimers();
    const { live, appended } = collecting();
    // 'ä' is C3 A4; the first flush comes while only its first byte has arrived.
    live.write('stdout', Buffer.from('gr'));
    live.write('stdout', bytes(0xc3));
    await vi.advanceTimersByTimeAsync(1_000);
    live.write('stdout', bytes(0xa4));
    live.write('stdout', Buffer.from('n'));
    await live.close();
    expect(appended.join('')).toBe('grän');
    expect(appended).toEqual(['gr', 'än']);
  });

  it('sends an emoji split byte by byte across flushes whole', async () => {
    vi.useFakeTimers();
    const { live, appended } = collecting();
    for (const byte of Buffer.from('😀')) {
      live.write('stdout', bytes(byte));
      await vi.advanceTimersByTimeAsync(1_000);
    }
    await live.close();
    expect(appended).toEqual(['😀']);
  });

  it('keeps a character split across a flush made for size whole', async () => {
    const { live, appended } = collecting();
    // The chunk fills the flush to its size exactly, ending with the first byte of 'ä'.
    live.write('stdout', Buffer.concat([Buffer.from('a'.repeat(LIVE_FLUSH_BYTES - 1)), bytes(0xc3)]));
    live.write('stdout', bytes(0xa4));
    await live.close();
    expect(appended.join('')).toBe(`${'a'.repeat(LIVE_FLUSH_BYTES - 1)}ä`);
    expect(appended.join('')).not.toContain('\ufffd');
  });

  it('does not mix a character of stdout split around a chunk of stderr', async () => {
    const { live, appended } = collecting();
    const emoji = Buffer.from('😀');
    live.write('stdout', emoji.subarray(0, 2));
    live.write('stderr', Buffer.from('x'));
    live.write('stdout', emoji.subarray(2));
    await live.close();
    expect(appended.join('')).toBe('x😀');
  });

  it('caps each flush in bytes, not characters, and never cuts a character in half', async () => {
    const { live, appended } = collecting();
    // A 4-byte character (two UTF-16 units) where the cap falls inside it, then 2-byte characters.
    const text = `${'a'.repeat(LIVE_FLUSH_BYTES - 1)}😀${'ä'.repeat(LIVE_FLUSH_BYTES)}`;
    live.write('stdout', Buffer.from(text));
    await live.close();
    expect(appended.join('')).toBe(text);
    for (const piece of appended) {
      expect(utf8Size(piece)).toBeLessThanOrEqual(LIVE_FLUSH_BYTES);
      expect(piece).not.toContain('\ufffd');
    }
    expect(appended[0]).toBe('a'.repeat(LIVE_FLUSH_BYTES - 1));
  });

  it('shows output that ends in the middle of a character as a replacement character', async () => {
    const { live, appended } = collecting();
    live.write('stdout', Buffer.concat([Buffer.from('cut '), bytes(0xe2, 0x82)]));
    await live.close();
    expect(appended.join('')).toBe('cut \ufffd');
  });
});
