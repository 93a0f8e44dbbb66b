import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { copyHashing, publish } from '../util/hashing-copy.js';
import { InfrastructureError } from '../domain/errors.js';
import type { ResolvedFile } from '../ports/input-resolver.js';

const SEAL_SUFFIX = '.seal';

/**
 * Verified copies of input files, named by their sha256, from which workspaces are hard-linked. A copy
 * (never a link to the data store itself) is what an action sees, so an action that writes to an input
 * can only spoil a cache entry, and a spoiled entry is recognised by its seal (inode, ctime, size) and
 * copied again before the next action gets it. Entries are read-only, and the least recently used go
 * first once the cache outgrows its budget.
 */
export class FileCache {
  constructor(
    private readonly dir: string,
    private readonly budgetBytes: number,
  ) {}

  /** A cache entry holding the file's bytes, copied and verified (size, and sha256 when known) if missing. */
  async materialize(
    file: ResolvedFile,
    signal: AbortSignal,
    onBytes?: (bytes: number) => void,
  ): Promise<string> {
    if (file.sha256 !== undefined) {
      const entry = this.entryPath(file.sha256);
      if (await this.isIntact(entry, file.record.size)) {
        onBytes?.(file.record.size);
        return entry;
      }
      await rm(entry, { force: true });
      await rm(`${entry}${SEAL_SUFFIX}`, { force: true });
    }
    const temporary = path.join(this.dir, 'tmp', `${process.pid}.${randomBytes(6).toString('hex')}`);
    await mkdir(path.dirname(temporary), { recursive: true });
    try {
      // Not flushed: a cache entry cut short by a crash fails the size check and is copied again.
      const copied = await copyHashing(file.sourcePath, temporary, signal, onBytes, false);
      if (
        copied.sizeBytes !== file.record.size ||
        (file.sha256 !== undefined && copied.sha256 !== file.sha256)
      ) {
        throw new InfrastructureError(
          `input file ${file.record.relative_path} (${file.record.file_id}) does not match its record: ` +
            `${copied.sizeBytes} bytes, sha256 ${copied.sha256}; expected ${file.record.size} bytes` +
            (file.sha256 ? `, sha256 ${file.sha256}` : ''),
          'E_IO',
        );
      }
      const entry = this.entryPath(copied.sha256);
      await publish(temporary, entry);
      await this.seal(entry);
      return entry;
    } finally {
      await rm(temporary, { force: true });
    }
  }

  /** Removes the least recently used entries until the cache is within its budget. */
  async evict(): Promise<{ removedBytes: number }> {
    const entries: { file: string; size: number; usedMs: number }[] = [];
    for (const prefix of await readdir(this.dir).catch(() => [] as string[])) {
      if (prefix === 'tmp') continue;
      for (const name of await readdir(path.join(this.dir, prefix)).catch(() => [] as string[])) {
        if (name.endsWith(SEAL_SUFFIX)) continue;
        const file = path.join(this.dir, prefix, name);
        const stats = await stat(file).catch(() => undefined);
        if (stats?.isFile()) entries.push({ file, size: stats.size, usedMs: stats.mtimeMs });
      }
    }
    let total = entries.reduce((sum, entry) => sum + entry.size, 0);
    let removedBytes = 0;
    for (const entry of entries.sort((a, b) => a.usedMs - b.usedMs)) {
      if (total <= this.budgetBytes) break;
      // A workspace that hard-linked the entry keeps its own link: removal never pulls a file from under it.
      await rm(entry.file, { force: true });
      await rm(`${entry.file}${SEAL_SUFFIX}`, { force: true });
      total -= entry.size;
      removedBytes += entry.size;
    }
    return { removedBytes };
  }

  /**
   * Records the entry's inode and ctime. A hard-linked entry can be written through any workspace that
   * holds it; writing (or chmod) moves its ctime, which no process can set back, so a changed entry is
   * recognised and replaced instead of being handed to the next action.
   */
  private async seal(entry: string): Promise<void> {
    const stats = await stat(entry);
    await writeFile(
      `${entry}${SEAL_SUFFIX}`,
      JSON.stringify({ ino: stats.ino, ctimeMs: stats.ctimeMs, size: stats.size }),
    );
  }

  private async isIntact(entry: string, size: number): Promise<boolean> {
    const [stats, seal] = await Promise.all([
      stat(entry).catch(() => undefined),
      readFile(`${entry}${SEAL_SUFFIX}`, 'utf8').then(
        (text) => JSON.parse(text) as { ino: number; ctimeMs: number; size: number },
        () => undefined,
      ),
    ]);
    if (stats === undefined || seal === undefined) return false;
    if (
      stats.size !== size ||
      stats.ino !== seal.ino ||
      stats.ctimeMs !== seal.ctimeMs ||
      stats.size !== seal.size
    ) {
      return false;
    }
    // Marks the entry as used for the eviction order; mtime, not ctime, is what utimes sets. It moves ctime
    // too, so the seal is renewed.
    const now = new Date();
    await utimes(entry, now, now);
    await this.seal(entry);
    return true;
  }

  private entryPath(sha256: string): string {
    return path.join(this.dir, sha256.slice(0, 2), sha256);
  }
}
