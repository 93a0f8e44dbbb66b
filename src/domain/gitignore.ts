import picomatch from 'picomatch';

/** Files under top-level dot directories are "hidden/system" files, never selected by paths (spec §6.2). */
export const isHiddenSystemPath = picomatch('.*/**/*', { dot: true });

/**
 * gitignore-style include patterns: a pattern without a slash matches a name at any depth, a leading
 * slash anchors it at the root, and a directory pattern matches everything below it.
 */
export function gitignoreMatcher(patterns: readonly string[]): (relativePath: string) => boolean {
  const matchers = patterns.map((pattern) => {
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
