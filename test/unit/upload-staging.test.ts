import { readdirSync, readlinkSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { UploadStaging } from '../../src/api/upload-staging.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

afterAll(async () => {
  await removeTempDirs();
});

/** This process's open descriptors on anything under `dir`. */
function openUnder(dir: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [target] : [];
    } catch {
      return [];
    }
  });
}

describe('UploadStaging.write', () => {
  it('refuses a body that is not a stream before opening anything, leaking no descriptor', async () => {
    const staging = new UploadStaging(await tempDir('upload-staging'));
    for (const body of [{ a: 1 }, 'text', Buffer.from('abc')]) {
      await expect(staging.write('ut_000000000000', 0, body as unknown as Readable, 3)).rejects.toThrow(
        'byte stream',
      );
    }
    expect(openUnder(staging.dir)).toEqual([]);
    expect(await readdir(path.join(staging.dir, 'ut_000000000000')).catch(() => [])).toEqual([]);
  });

  it('stages a stream of the declared size and closes its file', async () => {
    const staging = new UploadStaging(await tempDir('upload-staging'));
    const body = new PassThrough();
    body.end(Buffer.from('abc'));
    await staging.write('ut_000000000000', 0, body, 3);
    expect(await staging.sizeOf('ut_000000000000', 0)).toBe(3);
    expect(openUnder(staging.dir)).toEqual([]);
  });
});
