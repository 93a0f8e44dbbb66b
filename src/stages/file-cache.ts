import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { chmod, lstat, mkdir, open, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { contentAddressedPath } from '../util/content-address.js';
import { copyHashing, hasZeroBlock } from '../util/hashing-copy.js';
import { InfrastructureError } from '../domain/errors.js';
import { ensurePrivateDir } from '../util/private-dir.js';
import type { ResolvedFile } from '../ports/input-resolver.js';

const SEAL_SUFFIX = '.seal';
/** Inputs at most this big are copied into the cache with synchronous calls by a cold staging (copyInSync). */
const SMALL_INPUT_BYTES = 1024 * 1024;
/** Entries checked synchronously per turn of the event loop (see findIntact). */
const CHECK_SLICE = 128;
/** More than any seal takes (about 150 bytes): a file that fills it is not a seal. */
const SEAL_MAX_BYTES = 1024;
const TEMPORARY_DIR = 'tmp';

/** The only mode an entry may have: a regular file, read-only for everyone, never executable, setuid or setgid. */
export const ENTRY_MODE = constants.S_IFREG | 0o444;

/** How long an entry is used on the strength of its seal alone before its bytes are hashed again. */
const REHASH_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * What the seal records of an entry: the stat fields are left alone by link(), unlink(), rename() and
 * reading; `hashedAtMs` is when its bytes were last hashed (a seal from before it had one: never).
 */
const Seal = z.object({
  ino: z.number(),
  size: z.number(),
  mode: z.number(),
  uid: z.number(),
  gid: z.number(),
  mtimeMs: z.number(),
  hashedAtMs: z.number().default(0),
});
type Seal = z.infer<typeof Seal>;

export interface FileCacheOptions {
  /**
   * How long a use trusts an entry's seal alone (O(1)); the first use after that hashes the entry again.
   * @defaultValue one day
   */
  rehashAfterMs?: number;
}

/**
 * Verified copies of input files, named by their sha256, from which workspaces are staged. A copy (never a
 * link to the data store itself) is what an action sees.
 *
 * Entries belong to the worker, are mode 0444 and sit in a directory only the worker can enter (0700,
 * checked with its parents on first use). They are hard-linked into a workspace only when the action's
 * user can change neither the bytes nor the mode of a file it does not own (not root, not the worker's
 * uid, none of CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SYS_ADMIN: see `inputStagingFor`); otherwise the
 * workspace gets a copy. So nothing an action can write is shared with the host or another invocation.
 *
 * The seal is a second layer, which detects what a writer leaves behind, not what it can hide: every use
 * checks (O(1)) that the entry is still a regular file of mode exactly 0444 owned by the worker, with the
 * inode, size, mode, owner and mtime recorded when it was copied in (none of which moves when the entry
 * is linked, unlinked or read; ctime does, which is why the old inode+ctime seal never matched again once
 * an entry had been linked). So a replaced file, any mode change (setuid, setgid, execute, write bits), a
 * new owner, a new size or a write that leaves the mtime it set are caught at once. A same-size rewrite
 * whose writer then sets the mtime back (utimes: the file's owner, or a process with FOWNER) is not: only
 * the bytes tell, so the first use after `rehashAfterMs` (a day) hashes the entry again, which catches it
 * then. Such writers are exactly those the first layer never links an entry to. An entry that fails
 * either check is copied again. The least recently used entries (by their seal's mtime, which a use
 * touches) go first once the cache outgrows its budget.
 */
export class FileCache {
  /** Uses served by an intact entry, and entries copied in: what the warm-path test and the bench read. */
  readonly stats = { hits: 0, copies: 0 };
  private ready: Promise<void> | undefined;
  /** Directories of the cache made by this instance (see ensureDir), and by its synchronous copy. */
  private readonly dirs = new Map<string, Promise<unknown>>();
  private readonly syncDirs = new Set<string>();
  /** Whether the cache directory passed its check (see prepare). */
  private isReady = false;
  private readonly temporaryTag = randomBytes(6).toString('hex');
  private temporaryCount = 0;
  private readonly rehashAfterMs: number;

  constructor(
    private readonly dir: string,
    private readonly budgetBytes: number,
    options: FileCacheOptions = {},
  ) {
    this.rehashAfterMs = options.rehashAfterMs ?? REHASH_AFTER_MS;
  }

  /** A cache entry holding the file's bytes, copied and verified (size, and sha256 when known) if missing. */
  async materialize(
    file: ResolvedFile,
    signal: AbortSignal,
    onBytes?: (bytes: number) => void,
  ): Promise<string> {
    await this.prepare();
    if (file.sha256 !== undefined) {
      const entry = this.entryPath(file.sha256);
      if (await this.isIntact(entry, file.record.size, file.sha256, signal)) {
        this.stats.hits += 1;
        onBytes?.(file.record.size);
        return entry;
      }
      // Not removed: the copy below replaces it with one rename, so a concurrent use never finds it gone.
    }
    for (let attempt = 1; ; attempt += 1) {
      try {
        // Progress is counted once: a repeated attempt's bytes are not new work for the caller.
        return await this.copyIn(file, signal, attempt === 1 ? onBytes : undefined);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 2) throw error;
        // A directory of the cache removed under it (by hand, or a sweep) is made again.
        this.dirs.clear();
      }
    }
  }

  /** Copies the file into the cache, checks it against its record, seals and publishes it. */
  private async copyIn(
    file: ResolvedFile,
    signal: AbortSignal,
    onBytes?: (bytes: number) => void,
  ): Promise<string> {
    const temporary = await this.temporaryPath();
    let isPublished = false;
    try {
      // Not flushed: a cache entry cut short by a crash fails the size check and is copied again.
      const copied = await copyHashing(file.sourcePath, temporary, signal, onBytes, false);
      checkCopy(file, copied.sizeBytes, copied.sha256);
      const entry = this.entryPath(copied.sha256);
      // Sealed before it is published (rename keeps the inode, mode, owner and mtime): a use never finds
      // the entry without a seal or with half a seal. One that finds another publisher's seal on it (two
      // cold uses at once) copies again; none fails.
      await chmod(temporary, 0o444);
      await this.ensureDir(path.dirname(entry));
      await this.writeSeal(entry, await lstat(temporary), Date.now());
      await rename(temporary, entry);
      isPublished = true;
      this.stats.copies += 1;
      return entry;
    } finally {
      if (!isPublished) await rm(temporary, { force: true });
    }
  }

  /**
   * copyIn for a small input (at most SMALL_INPUT_BYTES, sha256 known) with synchronous calls: read whole,
   * checked against its record, written, sealed and published exactly as copyIn does, for a cold staging
   * of thousands of small inputs (see placeInputs). Undefined when the input is not small, or the cache
   * has not been checked yet (then materialize is the way).
   */
  copyInSync(file: ResolvedFile, onBytes?: (bytes: number) => void): string | undefined {
    if (!this.isReady || file.sha256 === undefined || file.record.size > SMALL_INPUT_BYTES) return undefined;
    const temporaryDir = FileCache.temporaryDir(this.dir);
    const temporary = this.temporaryName(temporaryDir);
    let isPublished = false;
    try {
      this.ensureDirSync(temporaryDir);
      const fd = openSync(file.sourcePath, constants.O_RDONLY);
      let bytes: Buffer;
      try {
        if (fstatSync(fd).size > SMALL_INPUT_BYTES) return undefined;
        bytes = readFileSync(fd);
      } finally {
        closeSync(fd);
      }
      // Whole blocks of zeros stay holes: copyHashing's way.
      if (hasZeroBlock(bytes)) return undefined;
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      checkCopy(file, bytes.length, sha256);
      writeFileSync(temporary, bytes, { flag: 'wx', mode: 0o444 });
      onBytes?.(bytes.length);
      const entry = this.entryPath(sha256);
      // As in copyIn: sealed before it is published. The mode the umask left is set to 0444 exactly.
      let stats = lstatSync(temporary);
      if (stats.mode !== ENTRY_MODE) {
        chmodSync(temporary, 0o444);
        stats = lstatSync(temporary);
      }
      this.ensureDirSync(path.dirname(entry));
      const sealTemporary = this.temporaryName(temporaryDir);
      try {
        writeFileSync(sealTemporary, JSON.stringify(sealOf(stats, Date.now())), {
          mode: 0o600,
          flag: 'wx',
        });
        renameSync(sealTemporary, `${entry}${SEAL_SUFFIX}`);
      } catch (error) {
        unlinkQuietlySync(sealTemporary);
        throw error;
      }
      renameSync(temporary, entry);
      isPublished = true;
      this.stats.copies += 1;
      return entry;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') this.syncDirs.clear();
      throw error;
    } finally {
      if (!isPublished) unlinkQuietlySync(temporary);
    }
  }

  /**
   * The entries of these files that are intact and not due a re-hash, in order (undefined for the others,
   * which the caller materializes), each counted as a hit. The checks are materialize's, but each is a few
   * cheap calls (lstat, the seal's open/read/close, utimes) made synchronously, a slice of files per turn
   * of the event loop: with tens of thousands of inputs, sending every call to the thread pool and back
   * cost several times the call itself.
   */
  async findIntact(
    files: readonly ResolvedFile[],
    signal: AbortSignal,
    onBytes?: (bytes: number) => void,
  ): Promise<(string | undefined)[]> {
    await this.prepare();
    const found: (string | undefined)[] = [];
    for (let start = 0; start < files.length; start += CHECK_SLICE) {
      if (start > 0) await yieldToEventLoop();
      signal.throwIfAborted();
      for (const file of files.slice(start, start + CHECK_SLICE)) {
        const entry = file.sha256 === undefined ? undefined : this.entryPath(file.sha256);
        if (entry === undefined || !this.isIntactSync(entry, file.record.size)) {
          found.push(undefined);
          continue;
        }
        this.stats.hits += 1;
        onBytes?.(file.record.size);
        found.push(entry);
      }
    }
    return found;
  }

  /** Removes the least recently used entries until the cache is within its budget. */
  async evict(): Promise<{ removedBytes: number }> {
    const entries: { file: string; size: number; usedMs: number }[] = [];
    for (const prefix of await readdir(this.dir).catch(() => [] as string[])) {
      if (prefix === TEMPORARY_DIR) continue;
      for (const name of await readdir(path.join(this.dir, prefix)).catch(() => [] as string[])) {
        if (name.endsWith(SEAL_SUFFIX)) continue;
        const file = path.join(this.dir, prefix, name);
        const stats = await lstat(file).catch(() => undefined);
        if (!stats?.isFile()) continue;
        const used = await stat(`${file}${SEAL_SUFFIX}`).catch(() => stats);
        entries.push({ file, size: stats.size, usedMs: used.mtimeMs });
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

  /** Where copies are made before they are published: `gc` sweeps what a crash left there. */
  static temporaryDir(cacheDir: string): string {
    return path.join(cacheDir, TEMPORARY_DIR);
  }

  private prepare(): Promise<void> {
    this.ready ??= ensurePrivateDir(this.dir, 'the input cache').then(() => {
      this.isReady = true;
    });
    // A failed check is not remembered: the next use checks again.
    this.ready.catch(() => {
      this.ready = undefined;
    });
    return this.ready;
  }

  private async temporaryPath(): Promise<string> {
    const dir = FileCache.temporaryDir(this.dir);
    await this.ensureDir(dir);
    return this.temporaryName(dir);
  }

  /** A fresh temporary name: this process, this instance, a counter (no random bytes per file). */
  private temporaryName(dir: string): string {
    this.temporaryCount += 1;
    return path.join(dir, `${process.pid}.${this.temporaryTag}.${this.temporaryCount}`);
  }

  /** ensureDir for the synchronous copy. */
  private ensureDirSync(dir: string): void {
    if (this.syncDirs.has(dir)) return;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.syncDirs.add(dir);
  }

  /**
   * Makes a directory of the cache (0700), once per instance rather than once per entry: with thousands
   * of inputs the repeated mkdir calls cost more than the copies. Forgotten on ENOENT (see materialize).
   */
  private ensureDir(dir: string): Promise<unknown> {
    let made = this.dirs.get(dir);
    if (made === undefined) {
      made = mkdir(dir, { recursive: true, mode: 0o700 });
      this.dirs.set(dir, made);
      made.catch(() => this.dirs.delete(dir));
    }
    return made;
  }

  /** Writes the entry's seal whole or not at all: a crash or a concurrent reader never sees part of one. */
  private async writeSeal(entry: string, stats: Stats, hashedAtMs: number): Promise<void> {
    const seal = sealOf(stats, hashedAtMs);
    const temporary = await this.temporaryPath();
    let isRenamed = false;
    try {
      await writeFile(temporary, JSON.stringify(seal), { mode: 0o600, flag: 'wx' });
      await this.ensureDir(path.dirname(entry));
      await rename(temporary, `${entry}${SEAL_SUFFIX}`);
      isRenamed = true;
    } finally {
      if (!isRenamed) await rm(temporary, { force: true });
    }
  }

  /** The entry's seal, or undefined when it is missing or unreadable (empty, cut short, not a seal). */
  private async readSeal(entry: string): Promise<Seal | undefined> {
    try {
      // One read into a buffer bigger than any seal (no fstat first, as readFile would): a use is a few
      // calls, and there can be tens of thousands of them per staging.
      const handle = await open(`${entry}${SEAL_SUFFIX}`, constants.O_RDONLY | constants.O_NOFOLLOW);
      let text: string;
      try {
        const buffer = Buffer.allocUnsafe(SEAL_MAX_BYTES);
        const { bytesRead } = await handle.read(buffer, 0, SEAL_MAX_BYTES, 0);
        if (bytesRead === SEAL_MAX_BYTES) return undefined;
        text = buffer.toString('utf8', 0, bytesRead);
      } finally {
        await handle.close();
      }
      const parsed = Seal.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  private async isIntact(entry: string, size: number, sha256: string, signal: AbortSignal): Promise<boolean> {
    const [stats, seal] = await Promise.all([lstat(entry).catch(() => undefined), this.readSeal(entry)]);
    if (stats === undefined || !matchesSeal(stats, seal, size)) return false;
    const now = Date.now();
    if (this.isRehashDue(seal, now)) {
      if (!(await hashesTo(entry, stats, sha256, signal))) return false;
      // Sealed again (which also marks the use) with the time of this hash.
      await this.writeSeal(entry, stats, now);
      return true;
    }
    // Marks the entry as used for the eviction order, on the seal: the entry itself is never touched.
    await utimes(`${entry}${SEAL_SUFFIX}`, new Date(now), new Date(now)).catch(() => undefined);
    return true;
  }

  /** The same check as isIntact's, synchronously, for an entry not due a re-hash (false when it is). */
  private isIntactSync(entry: string, size: number): boolean {
    const stats = lstatSync(entry, { throwIfNoEntry: false });
    if (stats === undefined) return false;
    const seal = readSealSync(entry);
    if (!matchesSeal(stats, seal, size)) return false;
    const now = Date.now();
    if (this.isRehashDue(seal, now)) return false;
    try {
      utimesSync(`${entry}${SEAL_SUFFIX}`, new Date(now), new Date(now));
    } catch {
      // Only the eviction order suffers.
    }
    return true;
  }

  private isRehashDue(seal: Seal, now: number): boolean {
    return now - seal.hashedAtMs > this.rehashAfterMs || now < seal.hashedAtMs;
  }

  private entryPath(sha256: string): string {
    return contentAddressedPath(this.dir, sha256);
  }
}

/** What the seal records of an entry (see Seal). */
function sealOf(stats: Stats, hashedAtMs: number): Seal {
  return {
    ino: stats.ino,
    size: stats.size,
    mode: stats.mode,
    uid: stats.uid,
    gid: stats.gid,
    mtimeMs: stats.mtimeMs,
    hashedAtMs,
  };
}

/** Fails unless a copy has the size and the sha256 (when known) of its record. */
function checkCopy(file: ResolvedFile, sizeBytes: number, sha256: string): void {
  if (sizeBytes !== file.record.size || (file.sha256 !== undefined && sha256 !== file.sha256)) {
    throw new InfrastructureError(
      `input file ${file.record.relative_path} (${file.record.file_id}) does not match its record: ` +
        `${sizeBytes} bytes, sha256 ${sha256}; expected ${file.record.size} bytes` +
        (file.sha256 ? `, sha256 ${file.sha256}` : ''),
      'E_IO',
    );
  }
}

function unlinkQuietlySync(file: string): void {
  try {
    unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * The O(1) check of an entry against its seal (see FileCache): a regular file of mode exactly 0444, owned
 * by the worker, of the record's size, with the inode, size, mode, owner and mtime the seal recorded.
 */
function matchesSeal(stats: Stats, seal: Seal | undefined, size: number): seal is Seal {
  if (seal === undefined || !stats.isFile()) return false;
  const uid = process.getuid?.();
  return !(
    stats.mode !== ENTRY_MODE ||
    (uid !== undefined && stats.uid !== uid) ||
    stats.size !== size ||
    stats.ino !== seal.ino ||
    stats.size !== seal.size ||
    stats.mode !== seal.mode ||
    stats.uid !== seal.uid ||
    stats.gid !== seal.gid ||
    stats.mtimeMs !== seal.mtimeMs
  );
}

/** The entry's seal read synchronously, or undefined as readSeal would give it. */
function readSealSync(entry: string): Seal | undefined {
  try {
    const fd = openSync(`${entry}${SEAL_SUFFIX}`, constants.O_RDONLY | constants.O_NOFOLLOW);
    let text: string;
    try {
      const buffer = Buffer.allocUnsafe(SEAL_MAX_BYTES);
      const bytesRead = readSync(fd, buffer, 0, SEAL_MAX_BYTES, 0);
      if (bytesRead === SEAL_MAX_BYTES) return undefined;
      text = buffer.toString('utf8', 0, bytesRead);
    } finally {
      closeSync(fd);
    }
    const parsed = Seal.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the file, still the inode `stats` describes, has this sha256. */
async function hashesTo(file: string, stats: Stats, sha256: string, signal: AbortSignal): Promise<boolean> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  if (handle === undefined) return false;
  try {
    if ((await handle.stat()).ino !== stats.ino) return false;
    const hash = createHash('sha256');
    for await (const chunk of handle.createReadStream({ autoClose: false, signal })) {
      hash.update(chunk as Buffer);
    }
    return hash.digest('hex') === sha256;
  } finally {
    await handle.close();
  }
}
