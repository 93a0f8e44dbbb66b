import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pLimit from 'p-limit';
import { contentAddressedPath } from '../../util/content-address.js';
import { copyHashing } from '../../util/hashing-copy.js';

export interface StoredBlob {
  sha256: string;
  sizeBytes: number;
  path: string;
}

export interface PutManyOptions {
  signal: AbortSignal;
  /** Told each chunk's bytes as it is stored: an increment, never a running total. */
  onBytes?: (bytes: number) => void;
  /** Files stored at once. @defaultValue {@link BLOB_CONCURRENCY} */
  concurrency?: number;
}

/**
 * Files at most this big are read whole, hashed and written in one go; bigger ones are copied in chunks
 * while hashed (copyHashing). Measured on the 2-core development machine (bench/small-files.ts): for files
 * of a few KiB the streaming copy's buffers and extra calls cost more than the bytes themselves.
 */
export const SMALL_BLOB_BYTES = 1024 * 1024;

/**
 * Files stored at once. Measured on the 2-core development machine (bench/small-files.ts, 15,000 files of
 * ~20 KiB): 8 keeps libuv's four threads busy while the event loop hashes; 16 gained nothing more.
 */
export const BLOB_CONCURRENCY = 8;

const execFileAsync = promisify(execFile);

/**
 * Immutable, content-addressed file contents: `<root>/<first two hex digits>/<sha256>`, read-only.
 *
 * Durability is per batch, not per blob: `putMany` writes every blob without flushing it, publishes it
 * (a hard link from the temporary copy, so a reader never finds half a blob in the page cache), and makes
 * the whole batch durable once before it returns: one `syncfs` of the store's filesystem (coreutils'
 * `sync -f`, spawned once per batch; measured at 0.2 s for 15,000 files of 20 KiB against 1.4 s for an
 * fsync of each in parallel), or, where that cannot run, an fsync of every blob of the batch. The store
 * writes its records only after `putMany` returns, so a committed record never points at bytes that are
 * not on disk.
 *
 * The price: a crash can leave a PUBLISHED blob whose bytes never reached the disk (empty, or cut short)
 * with no record pointing at it. So an existing blob is never trusted on its existence alone: when the
 * link finds one there, it must be a read-only regular file of the right size and, for a small blob (whose
 * bytes are in memory anyway), hold exactly these bytes; otherwise it is replaced atomically (rename of
 * the fresh copy over it). A blob that already exists is flushed by the batch's sync all the same: it may
 * have been published moments ago by another process that has not reached its own sync point yet.
 */
export class BlobStore {
  constructor(
    private readonly root: string,
    private readonly temporaryDir: string,
  ) {}

  pathOf(sha256: string): string {
    return contentAddressedPath(this.root, sha256);
  }

  /** Stores a copy of `source` (hashed as it is copied); storing the same content twice keeps one blob. */
  async put(source: string, signal: AbortSignal, onBytes?: (bytes: number) => void): Promise<StoredBlob> {
    const [stored] = await this.putMany([{ sourcePath: source }], { signal, onBytes });
    if (stored === undefined) throw new Error(`no blob stored for ${source}`);
    return stored;
  }

  /**
   * Stores copies of the files (each hashed as it is copied), a few at a time, and returns their blobs in
   * the same order once all of them are durable. The first failure stops the batch: files not started
   * are not stored, and it is thrown once the ones under way have finished.
   */
  async putMany(files: readonly { sourcePath: string }[], options: PutManyOptions): Promise<StoredBlob[]> {
    if (files.length === 0) return [];
    await mkdir(this.temporaryDir, { recursive: true });
    const batch: Batch = { dirs: new Map(), failed: false };
    const limit = pLimit(options.concurrency ?? BLOB_CONCURRENCY);
    const settled = await Promise.allSettled(
      files.map((file) =>
        limit(async () => {
          if (batch.failed) throw new Error('not stored: an earlier file of the batch failed');
          options.signal.throwIfAborted();
          try {
            return await this.putOne(file.sourcePath, options, batch);
          } catch (error) {
            batch.failed = true;
            throw error;
          }
        }),
      ),
    );
    const failure = settled.find((result) => result.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
    const stored = settled.map((result) => (result as PromiseFulfilledResult<StoredBlob>).value);
    await this.makeDurable(stored, options.concurrency ?? BLOB_CONCURRENCY);
    return stored;
  }

  async has(sha256: string, sizeBytes: number): Promise<boolean> {
    const stats = await stat(this.pathOf(sha256)).catch(() => undefined);
    return stats?.size === sizeBytes;
  }

  private async putOne(source: string, options: PutManyOptions, batch: Batch): Promise<StoredBlob> {
    const temporary = path.join(this.temporaryDir, `blob.${process.pid}.${randomBytes(6).toString('hex')}`);
    try {
      const small = await readIfSmall(source);
      if (small === undefined) {
        // Not flushed here: the batch is made durable once, at its end.
        const { sha256, sizeBytes } = await copyHashing(
          source,
          temporary,
          options.signal,
          options.onBytes,
          false,
        );
        const target = this.pathOf(sha256);
        await this.ensureDir(path.dirname(target), batch);
        await publishBlob(temporary, target, sizeBytes);
        return { sha256, sizeBytes, path: target };
      }
      const sha256 = createHash('sha256').update(small).digest('hex');
      const target = this.pathOf(sha256);
      await writeFile(temporary, small, { flag: 'wx', mode: 0o444 });
      options.onBytes?.(small.length);
      await this.ensureDir(path.dirname(target), batch);
      await publishBlob(temporary, target, small.length, small);
      return { sha256, sizeBytes: small.length, path: target };
    } finally {
      await rm(temporary, { force: true });
    }
  }

  /** Each of the 256 prefix directories is made at most once per batch. */
  private ensureDir(dir: string, batch: Batch): Promise<void> {
    let made = batch.dirs.get(dir);
    if (made === undefined) {
      made = mkdir(dir, { recursive: true }).then(() => undefined);
      batch.dirs.set(dir, made);
    }
    return made;
  }

  /** One syncfs of the store's filesystem; where that cannot run, an fsync of every blob of the batch. */
  private async makeDurable(blobs: readonly StoredBlob[], concurrency: number): Promise<void> {
    try {
      await execFileAsync('sync', ['-f', this.root]);
      return;
    } catch {
      // No coreutils `sync -f` (or it failed): flush the blobs one by one instead.
    }
    const limit = pLimit(concurrency);
    const paths = [...new Set(blobs.map((blob) => blob.path))];
    await Promise.all(
      paths.map((file) =>
        limit(async () => {
          const handle = await open(file, 'r');
          try {
            await handle.sync();
          } finally {
            await handle.close();
          }
        }),
      ),
    );
    // The directory entries too: a blob's name must survive the crash along with its bytes.
    const dirs = [...new Set(paths.map((file) => path.dirname(file)))];
    await Promise.all(dirs.map((dir) => limit(() => syncDir(dir))));
  }
}

interface Batch {
  /** Prefix directories made (or being made) in this batch. */
  dirs: Map<string, Promise<void>>;
  /** Set by the first failure: files not yet started are not stored. */
  failed: boolean;
}

/** The file's bytes when it is at most SMALL_BLOB_BYTES (read in one go); undefined for a bigger one. */
async function readIfSmall(source: string): Promise<Buffer | undefined> {
  const handle = await open(source, 'r');
  try {
    const { size } = await handle.stat();
    if (size > SMALL_BLOB_BYTES) return undefined;
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * Publishes a finished temporary copy at `target`. link() leaves an existing blob alone, so content
 * another process may be reading is never replaced — unless that blob is damaged (see BlobStore): then
 * the fresh copy is renamed over it, atomically.
 */
async function publishBlob(
  temporary: string,
  target: string,
  sizeBytes: number,
  bytes?: Buffer,
): Promise<void> {
  try {
    await link(temporary, target);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (await isSound(target, sizeBytes, bytes)) return;
  await rename(temporary, target);
}

/** Whether an existing blob is a read-only regular file of the right size (and bytes, when known). */
async function isSound(target: string, sizeBytes: number, bytes?: Buffer): Promise<boolean> {
  const stats = await lstat(target).catch(() => undefined);
  if (stats === undefined || !stats.isFile() || stats.size !== sizeBytes || (stats.mode & 0o222) !== 0) {
    return false;
  }
  if (bytes === undefined) return true;
  const existing = await readFile(target).catch(() => undefined);
  return existing !== undefined && existing.equals(bytes);
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
