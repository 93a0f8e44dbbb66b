import { randomBytes } from 'node:crypto';
import { link, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { contentAddressedPath } from '../../util/content-address.js';
import { copyHashing } from '../../util/hashing-copy.js';

export interface StoredBlob {
  sha256: string;
  sizeBytes: number;
  path: string;
}

/** Immutable, content-addressed file contents: `<root>/<first two hex digits>/<sha256>`, read-only. */
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
