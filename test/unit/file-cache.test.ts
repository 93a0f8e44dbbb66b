import { createHash } from 'node:crypto';
import { chmod, readFile, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import type { FileRecord } from '../../src/domain/records.js';
import { FileCache } from '../../src/stages/file-cache.js';

const signal = new AbortController().signal;

async function source(dir: string, name: string, content: string) {
  const sourcePath = path.join(dir, name);
  await writeFile(sourcePath, content);
  const sha256 = createHash('sha256').update(content).digest('hex');
  const record = {
    file_id: `fl_${name}`,
    relative_path: name,
    size: Buffer.byteLength(content),
  } as FileRecord;
  return { record, sourcePath, sha256 };
}

describe('FileCache', () => {
  afterAll(removeTempDirs);

  it('stores a verified, read-only copy once and reuses it', async () => {
    const dir = await tempDir('cache-test');
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
    const file = await source(dir, 'a', 'alpha');
    const entry = await cache.materialize(file, signal);
    expect(await readFile(entry, 'utf8')).toBe('alpha');
    expect((await stat(entry)).mode & 0o777).toBe(0o444);
    expect(path.basename(entry)).toBe(file.sha256);
    expect(await cache.materialize(file, signal)).toBe(entry);
    expect((await stat(entry)).ino).toBe((await stat(await cache.materialize(file, signal))).ino);
  });

  it('replaces an entry that an action rewrote in place through its hard link', async () => {
    const dir = await tempDir('cache-test');
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
    const file = await source(dir, 'c', 'charlie');
    const entry = await cache.materialize(file, signal);
    // What a root action can do to an input it was given: make it writable and change it, same size.
    await chmod(entry, 0o644);
    await writeFile(entry, 'CHARLIE');
    const again = await cache.materialize(file, signal);
    expect(await readFile(again, 'utf8')).toBe('charlie');
  });

  it('refuses a source whose bytes do not match its record', async () => {
    const dir = await tempDir('cache-test');
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
    const file = await source(dir, 'b', 'bravo');
    await expect(cache.materialize({ ...file, sha256: '0'.repeat(64) }, signal)).rejects.toThrow(
      /does not match its record/,
    );
    await expect(
      cache.materialize({ ...file, record: { ...file.record, size: 99 } }, signal),
    ).rejects.toThrow(/5 bytes, sha256 .*; expected 99 bytes/);
  });

  it('evicts the least recently used entries beyond its budget', async () => {
    const dir = await tempDir('cache-test');
    const cache = new FileCache(path.join(dir, 'cache'), 10);
    const old = await cache.materialize(await source(dir, 'old', 'xxxxxx'), signal);
    const recent = await cache.materialize(await source(dir, 'new', 'yyyyyy'), signal);
    await utimes(old, new Date(2000, 0, 1), new Date(2000, 0, 1));
    expect(await cache.evict()).toEqual({ removedBytes: 6 });
    const remaining = (await readdir(path.join(dir, 'cache'), { recursive: true })).filter(
      (name) => path.basename(name).length === 64,
    );
    expect(remaining.map((name) => path.basename(name))).toEqual([path.basename(recent)]);
  });
});
