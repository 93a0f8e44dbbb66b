import { chmod, lstat, mkdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../domain/errors.js';

/** The sticky bit (S_ISVTX, which node:fs does not export): only an entry's owner may rename or remove it. */
const STICKY_BIT = 0o1000;

/**
 * Creates `dir` (mode 0700) when it is missing and makes sure nobody but this process's user (and root)
 * controls it: it is a real directory (not a symbolic link), it is ours, it is not open to group or
 * others (reset to 0700 when it is), and every directory above it belongs to root or to us and is
 * writable by nobody else unless it has the sticky bit (like /tmp), so no other user can rename it away
 * and put a directory of their own in its place (another user creating /tmp/action-worker first, say).
 * Where the process has no uid (not POSIX), it only creates the directory.
 */
export async function ensurePrivateDir(dir: string, what: string): Promise<void> {
  const absolute = path.resolve(dir);
  await mkdir(absolute, { recursive: true, mode: 0o700 });
  const uid = process.getuid?.();
  if (uid === undefined) return;
  const own = await lstat(absolute);
  if (!own.isDirectory()) {
    throw new UsageError(`${what} ${absolute} is not a directory (a symbolic link is not accepted)`);
  }
  if (own.uid !== uid) {
    throw new UsageError(
      `${what} ${absolute} belongs to uid ${own.uid}, not to this worker (uid ${uid}); ` +
        'remove it or choose another directory',
    );
  }
  if ((own.mode & 0o077) !== 0) await chmod(absolute, 0o700);
  const real = await realpath(absolute);
  for (let parent = path.dirname(real); ; parent = path.dirname(parent)) {
    const stats = await stat(parent);
    if (stats.uid !== 0 && stats.uid !== uid) {
      throw new UsageError(
        `${what} ${absolute} is inside ${parent}, which belongs to uid ${stats.uid}: that user could ` +
          'replace it; choose a directory whose parents belong to root or to this worker',
      );
    }
    // Where others may write, they may rename entries too, unless the sticky bit restricts renaming to
    // an entry's owner (as on /tmp).
    if ((stats.mode & 0o022) !== 0 && (stats.mode & STICKY_BIT) === 0) {
      throw new UsageError(
        `${what} ${absolute} is inside ${parent}, which others can write to without the sticky bit: ` +
          'they could replace it; choose a directory whose parents only root or this worker can write to',
      );
    }
    if (parent === path.dirname(parent)) break;
  }
}
