import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BlobStore, SMALL_BLOB_BYTES } from '../../src/adapters/local/blob-store.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const signal = new AbortController().signal;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function setUp() {
  const dir = await tempDir('blob-store');
  const blobs = new BlobStore(path.join(dir, 'blobs'), path.join(dir, 'tmp'));
  const write = async (name: string, bytes: Buffer) => {
    const sourcePath = path.join(dir, 'src', name);
    await mkdir(path.dirname(sourcePath), { recursive: true });
    await writeFile(sourcePath, bytes);
    return { sourcePath };
  };
  return { dir, blobs, write };
}

/** Puts a blob at the content's path as a crash would leave it: published, but its bytes cut short. */
async function damage(blobs: BlobStore, bytes: Buffer, kept: Buffer): Promise<string> {
  const target = blobs.pathOf(sha256(bytes));
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, kept, { mode: 0o444 });
  return target;
}

describe('BlobStore.putMany', () => {
  afterAll(removeTempDirs);

  it('stores small and big files, read-only, and returns their blobs in the order given', async () => {
    const { dir, blobs, write } = await setUp();
    const contents = [
      randomBytes(10),
      Buffer.alloc(0),
      randomBytes(SMALL_BLOB_BYTES + 12_345),
      randomBytes(SMALL_BLOB_BYTES),
    ];
    const sources = await Promise.all(
      contents.map((bytes, index) => write(`d${index % 2}/f${index}`, bytes)),
    );
    const moved: number[] = [];
    const stored = await blobs.putMany(sources, { signal, onBytes: (bytes) => moved.push(bytes) });
    expect(stored.map((blob) => blob.sha256)).toEqual(contents.map(sha256));
    expect(stored.map((blob) => blob.sizeBytes)).toEqual(contents.map((bytes) => bytes.length));
    for (const [index, blob] of stored.entries()) {
      expect(blob.path).toBe(blobs.pathOf(blob.sha256));
      expect((await readFile(blob.path)).equals(contents[index]!)).toBe(true);
      expect((await stat(blob.path)).mode & 0o777).toBe(0o444);
    }
    expect(moved.reduce((sum, bytes) => sum + bytes, 0)).toBe(contents.reduce((sum, b) => sum + b.length, 0));
    // Nothing is left behind in the temporary directory.
    expect(await readdir(path.join(dir, 'tmp'))).toEqual([]);
  });

  it('keeps one blob for the same content, within a batch and across batches', async () => {
    const { blobs, write } = await setUp();
    const bytes = randomBytes(1000);
    const sources = [await write('a', bytes), await write('b', bytes)];
    const [first, second] = await blobs.putMany(sources, { signal });
    expect(first!.path).toBe(second!.path);
    const { ino } = await stat(first!.path);
    const again = await blobs.put(sources[0]!.sourcePath, signal);
    expect(again).toEqual(first);
    // An intact blob is left alone: never replaced under a reader.
    expect((await stat(again.path)).ino).toBe(ino);
  });

  it.each([
    ['small', 4096],
    ['big', SMALL_BLOB_BYTES + 4096],
  ])(
    'repairs a %s blob a crash left truncated at its path when the same content is put again',
    async (_, size) => {
      const { blobs, write } = await setUp();
      const bytes = randomBytes(size);
      const target = await damage(blobs, bytes, bytes.subarray(0, size / 2));
      const [blob] = await blobs.putMany([await write('x', bytes)], { signal });
      expect(blob!.path).toBe(target);
      expect((await readFile(target)).equals(bytes)).toBe(true);
      expect((await stat(target)).mode & 0o777).toBe(0o444);
    },
  );

  it('repairs an empty blob (bytes that never reached the disk) and a small one of the right size but wrong bytes', async () => {
    const { blobs, write } = await setUp();
    const empty = randomBytes(3000);
    await damage(blobs, empty, Buffer.alloc(0));
    const garbled = randomBytes(3000);
    await damage(blobs, garbled, Buffer.alloc(3000));
    const stored = await blobs.putMany([await write('e', empty), await write('g', garbled)], { signal });
    expect((await readFile(stored[0]!.path)).equals(empty)).toBe(true);
    expect((await readFile(stored[1]!.path)).equals(garbled)).toBe(true);
  });

  it('replaces a blob someone made writable', async () => {
    const { blobs, write } = await setUp();
    const bytes = randomBytes(SMALL_BLOB_BYTES + 1);
    const target = await damage(blobs, bytes, bytes);
    await chmod(target, 0o644);
    const { ino } = await stat(target);
    await blobs.putMany([await write('w', bytes)], { signal });
    const after = await stat(target);
    expect(after.ino).not.toBe(ino);
    expect(after.mode & 0o777).toBe(0o444);
  });

  it('fails the batch on a missing source, and leaves no temporary file', async () => {
    const { dir, blobs, write } = await setUp();
    const good = await write('ok', randomBytes(100));
    await expect(
      blobs.putMany([good, { sourcePath: path.join(dir, 'src', 'missing') }], { signal, concurrency: 1 }),
    ).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(path.join(dir, 'tmp'))).toEqual([]);
  });

  it('still makes the batch durable where `sync -f` cannot run (an fsync of each blob instead)', async () => {
    const { dir, blobs, write } = await setUp();
    const bytes = randomBytes(500);
    const source = await write('s', bytes);
    const savedPath = process.env.PATH;
    // No `sync` on the PATH: the spawn fails and the fallback flushes each blob and its directory.
    process.env.PATH = path.join(dir, 'no-such-bin');
    try {
      const [blob] = await blobs.putMany([source], { signal });
      expect((await readFile(blob!.path)).equals(bytes)).toBe(true);
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it('keeps whole blocks of zeros of a small file as holes, as for a big one', async () => {
    const { blobs, write } = await setUp();
    // 256 KiB: data, then 128 KiB of zeros (two whole 64 KiB blocks), then data.
    const bytes = Buffer.concat([randomBytes(64 * 1024), Buffer.alloc(128 * 1024), randomBytes(64 * 1024)]);
    const [blob] = await blobs.putMany([await write('sparse', bytes)], { signal });
    expect((await readFile(blob!.path)).equals(bytes)).toBe(true);
    expect((await stat(blob!.path)).blocks * 512).toBeLessThanOrEqual(128 * 1024 + 8192);
  });
});
