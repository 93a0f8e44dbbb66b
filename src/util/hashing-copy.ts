import { createHash } from 'node:crypto';
import { chmod, mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

const CHUNK_BYTES = 4 * 1024 * 1024;

/** Runs of zeros this long, at this alignment, are left as holes rather than written. */
const HOLE_BYTES = 64 * 1024;
const ZEROS = Buffer.alloc(HOLE_BYTES);

/**
 * Copies a file to `temporary` while hashing it, in one read. A durable copy is flushed to disk before
 * the caller renames it into place. Blocks of zeros are not written but left as holes, so a sparse file
 * stays sparse (and any file's zero blocks take no room); the copy has the source's size all the same.
 */
export async function copyHashing(
  source: string,
  temporary: string,
  signal: AbortSignal,
  /** Told each chunk's bytes as it is copied: an increment, never a running total. */
  onBytes?: (bytes: number) => void,
  /** Flush to disk before returning: for the system of record, not for a disposable cache. */
  isDurable = true,
): Promise<{ sha256: string; sizeBytes: number }> {
  const hash = createHash('sha256');
  const input = await open(source, 'r');
  let output: FileHandle | undefined;
  let reading: Promise<{ bytesRead: number }> | undefined;
  try {
    // Two buffers: the next chunk is read while the current one is hashed and written. A small file gets
    // buffers of its own size (one more byte, to see the end in the first read) rather than 2 × 4 MiB
    // allocated for a few KiB: with thousands of files that memory churn cost more than the bytes.
    const chunkBytes = Math.max(1, Math.min(CHUNK_BYTES, (await input.stat()).size + 1));
    let current = Buffer.allocUnsafe(chunkBytes);
    let next = Buffer.allocUnsafe(chunkBytes);
    output = await open(temporary, 'wx', 0o444);
    let sizeBytes = 0;
    reading = input.read(current, 0, chunkBytes, 0);
    for (;;) {
      const { bytesRead } = await reading;
      reading = undefined;
      if (bytesRead === 0) break;
      signal.throwIfAborted();
      const chunk = current.subarray(0, bytesRead);
      const position = sizeBytes;
      sizeBytes += bytesRead;
      [current, next] = [next, current];
      reading = input.read(current, 0, chunkBytes, sizeBytes);
      hash.update(chunk);
      await writeSkippingZeros(output, chunk, position);
      onBytes?.(bytesRead);
    }
    // Sets the size, trailing holes included.
    await output.truncate(sizeBytes);
    if (isDurable) await output.sync();
    return { sha256: hash.digest('hex'), sizeBytes };
  } finally {
    await reading?.catch(() => undefined);
    await output?.close();
    await input.close();
  }
}

/**
 * Whether the bytes hold a whole block of zeros, which copyHashing leaves as a hole: a copy made in one
 * write would fill it (a sparse file would not stay sparse), so such a file is left to copyHashing. (A
 * shorter run of zeros at the end is written either way by a one-write copy: less than one block.)
 */
export function hasZeroBlock(bytes: Buffer): boolean {
  for (let offset = 0; offset + HOLE_BYTES <= bytes.length; offset += HOLE_BYTES) {
    if (bytes.subarray(offset, offset + HOLE_BYTES).equals(ZEROS)) return true;
  }
  return false;
}

/** Writes the chunk at `position`, except its all-zero blocks. */
async function writeSkippingZeros(output: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let runStart = -1;
  for (let offset = 0; offset < chunk.length; offset += HOLE_BYTES) {
    const block = chunk.subarray(offset, offset + HOLE_BYTES);
    const isZero = block.equals(block.length === HOLE_BYTES ? ZEROS : ZEROS.subarray(0, block.length));
    if (!isZero && runStart === -1) runStart = offset;
    if (isZero && runStart !== -1) {
      await writeAll(output, chunk.subarray(runStart, offset), position + runStart);
      runStart = -1;
    }
  }
  if (runStart !== -1) await writeAll(output, chunk.subarray(runStart), position + runStart);
}

async function writeAll(output: FileHandle, data: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await output.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}

/** Moves a finished temporary file into place, read-only. */
export async function publish(temporary: string, target: string): Promise<void> {
  await chmod(temporary, 0o444);
  await mkdir(path.dirname(target), { recursive: true });
  await rename(temporary, target);
}
