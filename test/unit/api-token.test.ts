import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import {
  authenticateToken,
  hashApiToken,
  mintApiToken,
  parseTokenExpiry,
  tokenIdOf,
  tokenMatchesHash,
} from '../../src/domain/api-token.js';
import { UsageError } from '../../src/domain/errors.js';

vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>();
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) };
});

describe('API tokens', () => {
  it('are awt_<id>_<256-bit secret>, distinct, never robo_pat, and name their record', () => {
    const first = mintApiToken();
    const second = mintApiToken();
    expect(first.token).toMatch(/^awt_[0-9a-z]{12}_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(first.token.slice(-43), 'base64url')).toHaveLength(32);
    expect(first.token).not.toBe(second.token);
    expect(first.token.startsWith('robo_pat')).toBe(false);
    expect(tokenIdOf(first.token)).toBe(first.tokenId);
    expect(first.hash).toBe(hashApiToken(first.token));
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(first.hash).not.toContain(first.token.slice(-43));
  });

  it('recognise only our format', () => {
    const { token } = mintApiToken();
    expect(tokenIdOf(`robo_pat_${token.slice(4)}`)).toBeUndefined();
    expect(tokenIdOf(`x${token}`)).toBeUndefined();
    expect(tokenIdOf(`${token}x`)).toBeUndefined();
    expect(tokenIdOf('')).toBeUndefined();
  });

  it('are compared with crypto.timingSafeEqual, also when there is no stored hash', () => {
    const { token, hash } = mintApiToken();
    const compare = vi.mocked(crypto.timingSafeEqual);
    compare.mockClear();
    expect(tokenMatchesHash(token, hash)).toBe(true);
    expect(compare).toHaveBeenCalledTimes(1);
    expect(tokenMatchesHash(`${token.slice(0, -1)}x`, hash)).toBe(false);
    expect(tokenMatchesHash(token, undefined)).toBe(false);
    expect(tokenMatchesHash(token, 'not-a-hash')).toBe(false);
    expect(compare).toHaveBeenCalledTimes(4);
  });

  it('authenticate only when the hash matches and the token is neither revoked nor expired', () => {
    const { token, tokenId, hash } = mintApiToken();
    const now = new Date('2027-01-01T00:00:00Z');
    const stored = { org_id: 'og_a', hash, expires: null, revoked: null, invocation_id: null };
    expect(authenticateToken(token, tokenId, stored, now)).toEqual({ orgId: 'og_a', tokenId });
    expect(authenticateToken(token, tokenId, undefined, now)).toBeUndefined();
    expect(
      authenticateToken(token, tokenId, { ...stored, revoked: '2026-12-01T00:00:00Z' }, now),
    ).toBeUndefined();
    expect(authenticateToken(token, tokenId, { ...stored, expires: now.toISOString() }, now)).toBeUndefined();
    expect(authenticateToken(token, tokenId, { ...stored, expires: 'garbage' }, now)).toBeUndefined();
    expect(
      authenticateToken(token, tokenId, { ...stored, hash: hashApiToken('other') }, now),
    ).toBeUndefined();
  });
});

describe('--expires', () => {
  const now = new Date('2026-11-30T12:00:00Z');

  it('takes a duration from now, a date (midnight UTC) or a date-time', () => {
    expect(parseTokenExpiry('90d', now).toISOString()).toBe('2027-02-28T12:00:00.000Z');
    expect(parseTokenExpiry('12h', now).toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(parseTokenExpiry('2027-01-31', now).toISOString()).toBe('2027-01-31T00:00:00.000Z');
    expect(parseTokenExpiry('2027-01-31T10:00:00Z', now).toISOString()).toBe('2027-01-31T10:00:00.000Z');
  });

  it.each(['tomorrow', '2026-11-29', '2026-13-45', '0s', '-5d', ''])('refuses %j', (text) => {
    expect(() => parseTokenExpiry(text, now)).toThrow(UsageError);
  });
});
