import { decodeJsonPageToken, encodeJsonPageToken } from './store-query.js';

/**
 * Page tokens of evaluation listings (spec §1.9, opaque): base64url of `v1:json:{"before":N}`, the id
 * below which the next page starts. A keyset, not an offset: evaluations recorded between two requests
 * (the newest, on page one) do not shift later pages.
 */
export function encodeEvaluationToken(before: number): string {
  return encodeJsonPageToken({ before });
}

/** The id a token continues below, or a UsageError (400) for anything but a token this server made. */
export function decodeEvaluationToken(token: string): number {
  return decodeJsonPageToken(token, 'before', 1);
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
