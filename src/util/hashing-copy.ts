import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Copies a file to `temporary` while hashing it, in one read. A durable copy is flushed to disk before
 * the caller renames it into place.
 */
export async function copyHashing(
  source: string,
  temporary: string,
  signal: AbortSignal,
  onBytes?: (bytes: number) => void,
  /** Flush to disk before returning: for the system of record, not for a disposable cache. */
  isDurable = true,
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
    createWriteStream(temporary, { flags: 'wx', mode: 0o444, flush: isDurable }),
    { signal },
  );
  return { sha256: hash.digest('hex'), sizeBytes };
}

/** Moves a finished temporary file into place, read-only. */
export async function publish(temporary: string, target: string): Promise<void> {
  await chmod(temporary, 0o444);
  await mkdir(path.dirname(target), { recursive: true });
  await rename(temporary, target);
}
