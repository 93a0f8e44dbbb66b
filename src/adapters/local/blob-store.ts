import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, link, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface StoredBlob {
  sha256: string;
  sizeBytes: number;
  path: string;
}

const CHUNK_BYTES = 1024 * 1024;

/**
 * Copies a file to `temporary` while hashing it, in one read. The result is flushed before the caller
 * renames it into place.
 */
export async function copyHashing(
  source: string,
  temporary: string,
  signal: AbortSignal,
  onBytes?: (bytes: number) => void,
): Promise<{ sha256: string; sizeBytes: number }> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      sizeBytes += chunk.length;
      onBytes?.(chunk.length);
      callback(null, chunk);
    },
  });
  await pipeline(
    createReadStream(source, { highWaterMark: CHUNK_BYTES }),
    tap,
    createWriteStream(temporary, { flags: 'wx', mode: 0o444, flush: true }),
    { signal },
  );
  return { sha256: hash.digest('hex'), sizeBytes };
}

/** Immutable, content-addressed file contents: `<root>/<first two hex digits>/<sha256>`, read-only. */
export class BlobStore {
  constructor(
    private readonly root: string,
    private readonly temporaryDir: string,
  ) {}

  pathOf(sha256: string): string {
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }

  /** Stores a copy of `source` (hashed as it is copied); storing the same content twice keeps one blob. */
  async put(source: string, signal: AbortSignal, onBytes?: (bytes: number) => void): Promise<StoredBlob> {
    await mkdir(this.temporaryDir, { recursive: true });
    const temporary = path.join(this.temporaryDir, `blob.${process.pid}.${randomBytes(6).toString('hex')}`);
    try {
      const { sha256, sizeBytes } = await copyHashing(source, temporary, signal, onBytes);
      const target = this.pathOf(sha256);
      await mkdir(path.dirname(target), { recursive: true });
      // link() fails when the blob exists, which never replaces content another process may be reading.
      await link(temporary, target).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      });
      return { sha256, sizeBytes, path: target };
    } finally {
      await rm(temporary, { force: true });
    }
  }

  async has(sha256: string, sizeBytes: number): Promise<boolean> {
    const stats = await stat(this.pathOf(sha256)).catch(() => undefined);
    return stats?.size === sizeBytes;
  }
}

/** Moves a finished temporary file into place, read-only. */
export async function publish(temporary: string, target: string): Promise<void> {
  await chmod(temporary, 0o444);
  await mkdir(path.dirname(target), { recursive: true });
  await rename(temporary, target);
}
