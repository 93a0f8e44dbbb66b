import path from 'node:path';
import { UsageError } from './errors.js';

/**
 * A dataset-relative path with forward slashes that stays inside its directory. Only `/` separates
 * directories: a backslash is an ordinary character of a POSIX file name and is kept as it is (`a\b.txt`
 * is one file, never `a/b.txt`).
 */
export function safeRelativePath(relativePath: string, subject: string): string {
  const normalised = path.posix.normalize(relativePath);
  if (
    relativePath === '' ||
    normalised.startsWith('/') ||
    normalised === '..' ||
    normalised.startsWith('../') ||
    normalised === '.' ||
    normalised.includes('\0')
  ) {
    throw new UsageError(`${subject} has an unsafe relative path "${relativePath}"`, 'E_INVALID_INPUT');
  }
  return normalised;
}
