import { UsageError } from './errors.js';

/**
 * Page tokens of evaluation listings (spec §1.9, opaque): base64url of `v1:json:{"before":N}`, the id
 * below which the next page starts. A keyset, not an offset: evaluations recorded between two requests
 * (the newest, on page one) do not shift later pages.
 */
export function encodeEvaluationToken(before: number): string {
  return Buffer.from(`v1:json:${JSON.stringify({ before })}`).toString('base64url');
}

/** The id a token continues below, or a UsageError (400) for anything but a token this server made. */
export function decodeEvaluationToken(token: string): number {
  const fail = (): never => {
    throw new UsageError(
      `malformed page token ${JSON.stringify(token)} (pass a next_token unchanged)`,
      'E_INVALID_INPUT',
    );
  };
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(token)) return fail();
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith('v1:json:')) return fail();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.slice('v1:json:'.length));
  } catch {
    return fail();
  }
  const before = (parsed as { before?: unknown } | null)?.before;
  if (typeof before !== 'number' || !Number.isSafeInteger(before) || before < 1) return fail();
  return before;
}

/** Takes one page from ids sorted newest first (the ids below the token's), and the next page's token. */
export function pageEvaluationIds(
  idsNewestFirst: readonly number[],
  limit: number,
  pageToken: string | undefined,
): { ids: number[]; nextToken: string | null } {
  const before = pageToken === undefined ? Infinity : decodeEvaluationToken(pageToken);
  const below = idsNewestFirst.filter((id) => id < before);
  const ids = below.slice(0, limit);
  const last = ids.at(-1);
  return { ids, nextToken: below.length > limit && last !== undefined ? encodeEvaluationToken(last) : null };
}
