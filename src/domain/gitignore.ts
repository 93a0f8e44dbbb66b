import picomatch from 'picomatch';
import { UsageError } from './errors.js';

/** Files under top-level dot directories are "hidden/system" files, never selected by paths (spec §6.2). */
export const isHiddenSystemPath = picomatch('.*/**/*', { dot: true });

/**
 * gitignore-style include patterns: a pattern without a slash matches a name at any depth, a leading
 * slash anchors it at the root, and a directory pattern matches everything below it.
 */
export function gitignoreMatcher(patterns: readonly string[]): (relativePath: string) => boolean {
  const matchers = patterns.map((pattern) => {
    checkPatternCost(pattern);
    const anchored = pattern.startsWith('/');
    let body = anchored ? pattern.slice(1) : pattern;
    if (body.endsWith('/')) body = `${body}**`;
    const hasSlash = body.replace(/\/\*\*$/, '').includes('/');
    const glob = anchored || hasSlash ? body : `**/${body}`;
    const exact = picomatch(glob, { dot: true });
    const below = picomatch(`${glob}/**`, { dot: true });
    return (candidate: string) => exact(candidate) || below(candidate);
  });
  return (relativePath) => matchers.some((matches) => matches(relativePath));
}

/** The longest pattern accepted. */
export const MAX_PATTERN_LENGTH = 1024;
/** `*` runs accepted within one path segment of a pattern, and `**` segments in one pattern. */
export const MAX_SEGMENT_STARS = 2;
export const MAX_GLOBSTARS = 2;

/**
 * Refuses a pattern whose matching can take time exponential in its wildcards: picomatch compiles globs to
 * backtracking regexes, and `*a*a*a*a*a*b` against a 100-character name blocks the process for seconds
 * (one request would stop `serve` for every org). Within these bounds a 4 KiB path is matched in
 * milliseconds; `**\/*.bag`, `data/**\/*_cam*.jpg` and the SDK's `.*\/**\/*` stay well inside them.
 */
function checkPatternCost(pattern: string): void {
  const refuse = (why: string): never => {
    throw new UsageError(`path pattern ${JSON.stringify(pattern.slice(0, 80))} ${why}`, 'E_INVALID_INPUT');
  };
  if (pattern.length > MAX_PATTERN_LENGTH) refuse(`is longer than ${MAX_PATTERN_LENGTH} characters`);
  let globstars = 0;
  for (const segment of pattern.split('/')) {
    if (segment === '**') {
      globstars += 1;
      continue;
    }
    const runs = segment.match(/\*+/g)?.length ?? 0;
    if (runs > MAX_SEGMENT_STARS)
      refuse(`has more than ${MAX_SEGMENT_STARS} wildcards (*) in one path segment`);
  }
  if (globstars > MAX_GLOBSTARS) refuse(`has more than ${MAX_GLOBSTARS} ** segments`);
}
