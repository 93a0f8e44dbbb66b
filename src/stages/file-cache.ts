import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { copyHashing, publish } from '../util/hashing-copy.js';
import { InfrastructureError } from '../domain/errors.js';
import type { ResolvedFile } from '../ports/input-resolver.js';

/**
 * Verified copies of input files, named by their sha256, from which workspaces are hard-linked. A copy
 * (never a link to the data store itself) is what an action sees, so an action that writes to an input
 * can only spoil a cache entry, which is checked by size before each reuse. Entries are read-only, and
 * the least recently used go first once the cache outgrows its budget.
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
      const existing = await stat(entry).catch(() => undefined);
      if (existing?.size === file.record.size) {
        const now = new Date();
        await utimes(entry, now, now);
        onBytes?.(file.record.size);
        return entry;
      }
      if (existing !== undefined) await rm(entry, { force: true });
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
      total -= entry.size;
      removedBytes += entry.size;
    }
    return { removedBytes };
  }

  private entryPath(sha256: string): string {
    return path.join(this.dir, sha256.slice(0, 2), sha256);
  }
}
