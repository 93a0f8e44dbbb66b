import { describe, expect, it } from 'vitest';
import { gitignoreMatcher } from '../../src/domain/gitignore.js';

describe('gitignoreMatcher', () => {
  it('matches a slash-less pattern at any depth', () => {
    const matches = gitignoreMatcher(['*.bag']);
    expect(matches('a.bag')).toBe(true);
    expect(matches('deep/dir/b.bag')).toBe(true);
    expect(matches('a.mcap')).toBe(false);
  });

  it('anchors a leading slash at the root and treats a trailing slash as everything below', () => {
    expect(gitignoreMatcher(['/top.txt'])('top.txt')).toBe(true);
    expect(gitignoreMatcher(['/top.txt'])('sub/top.txt')).toBe(false);
    expect(gitignoreMatcher(['logs/'])('logs/a/b.log')).toBe(true);
    expect(gitignoreMatcher(['logs/'])('other/x')).toBe(false);
  });

  it('matches paths with a slash from the root, and ** everywhere', () => {
    expect(gitignoreMatcher(['logs/*.log'])('logs/a.log')).toBe(true);
    expect(gitignoreMatcher(['logs/*.log'])('x/logs/a.log')).toBe(false);
    expect(gitignoreMatcher(['**/*'])('.hidden/x')).toBe(true);
  });
});

describe('gitignoreMatcher refuses patterns too costly to match', () => {
  it.each([['*a*a*b'], ['**/*x*y*z'], ['**/a/**/a/**/b'], ['y'.repeat(1025)]])('%s', (pattern) => {
    expect(() => gitignoreMatcher([pattern])).toThrow(expect.objectContaining({ code: 'E_INVALID_INPUT' }));
  });

  it('keeps the patterns actions and the SDK use', () => {
    for (const pattern of ['**/*.bag', '.*/**/*', 'data/**/*_cam*.jpg', '/*.tmp', 'logs/', 'a/**/b/**/c']) {
      expect(() => gitignoreMatcher([pattern])).not.toThrow();
    }
  });
});
