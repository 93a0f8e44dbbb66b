import { createHash } from 'node:crypto';
import { chmod, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/domain/records.js';
import { FileCache } from '../../src/stages/file-cache.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const signal = new AbortController().signal;

async function input(dir: string, name: string, content: string) {
  const sourcePath = path.join(dir, name);
  await writeFile(sourcePath, content);
  return {
    record: { file_id: `fl_${name}`, relative_path: name, size: Buffer.byteLength(content) } as FileRecord,
    sourcePath,
    sha256: createHash('sha256').update(content).digest('hex'),
  };
}

describe('FileCache.findIntact', () => {
  afterAll(removeTempDirs);

  it('finds the intact entries in order, counts them as hits, and leaves the rest to materialize', async () => {
    const dir = await tempDir('cache-batch');
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
    const intact = await input(dir, 'intact', 'one');
    const chmodded = await input(dir, 'chmodded', 'two');
    const resealed = await input(dir, 'resealed', 'three');
    const missing = await input(dir, 'missing', 'four');
    const unhashed = { ...(await input(dir, 'unhashed', 'five')), sha256: undefined };
    const entries = new Map<string, string>();
    for (const file of [intact, chmodded, resealed, unhashed]) {
      entries.set(file.record.file_id, await cache.materialize(file, signal));
    }
    await chmod(entries.get('fl_chmodded')!, 0o4444);
    // A seal that no longer describes its entry: the mtime it recorded is not the entry's.
    const seal = `${entries.get('fl_resealed')!}.seal`;
    const recorded = JSON.parse(await readFile(seal, 'utf8')) as { mtimeMs: number };
    await writeFile(seal, JSON.stringify({ ...recorded, mtimeMs: recorded.mtimeMs - 1000 }));
    const before = { ...cache.stats };
    const moved: number[] = [];
    const found = await cache.findIntact([intact, chmodded, resealed, missing, unhashed], signal, (bytes) =>
      moved.push(bytes),
    );
    expect(found).toEqual([entries.get('fl_intact'), undefined, undefined, undefined, undefined]);
    expect(cache.stats.hits - before.hits).toBe(1);
    expect(moved).toEqual([3]);
    // The use is marked on the seal, for the eviction order.
    const used = `${entries.get('fl_intact')!}.seal`;
    await utimes(used, new Date(2000, 0, 1), new Date(2000, 0, 1));
    await cache.findIntact([intact], signal);
    expect((await stat(used)).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
  });

  it('leaves an entry due a re-hash to materialize, which hashes it', async () => {
    const dir = await tempDir('cache-batch');
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3, { rehashAfterMs: 0 });
    const file = await input(dir, 'due', 'bytes');
    const entry = await cache.materialize(file, signal);
    await new Promise((resolve) => setImmediate(resolve));
    const seal = `${entry}.seal`;
    const recorded = JSON.parse(await readFile(seal, 'utf8')) as { hashedAtMs: number };
    await writeFile(seal, JSON.stringify({ ...recorded, hashedAtMs: recorded.hashedAtMs - 10 }));
    expect(await cache.findIntact([file], signal)).toEqual([undefined]);
    expect(await cache.materialize(file, signal)).toBe(entry);
    expect(cache.stats).toEqual({ hits: 1, copies: 1 });
  });
});

describe('FileCache directories', () => {
  afterAll(removeTempDirs);

  it('makes its directories again when they are removed under it, though it makes each once per instance', async () => {
    const dir = await tempDir('cache-dirs');
    const sourcePath = path.join(dir, 'source');
    await writeFile(sourcePath, 'frame');
    const file = {
      record: { file_id: 'fl_1', relative_path: 'frame.bin', size: 5 } as FileRecord,
      sourcePath,
      sha256: createHash('sha256').update('frame').digest('hex'),
    };
    const cacheDir = path.join(dir, 'cache');
    const cache = new FileCache(cacheDir, 1024 ** 3);
    await cache.materialize(file, signal);
    // Everything below the cache's own directory goes: its tmp/ and the entry's prefix directory.
    for (const name of await readdir(cacheDir)) await rm(path.join(cacheDir, name), { recursive: true });
    expect(await readFile(await cache.materialize(file, signal), 'utf8')).toBe('frame');
    expect(cache.stats).toEqual({ hits: 0, copies: 2 });
  });

  it('copies a small input with whole blocks of zeros into the cache with the holes kept', async () => {
    const dir = await tempDir('cache-batch');
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
    const bytes = Buffer.concat([Buffer.from('head'), Buffer.alloc(200 * 1024)]);
    const sourcePath = path.join(dir, 'sparse');
    await writeFile(sourcePath, bytes);
    const file = {
      record: { file_id: 'fl_s', relative_path: 'sparse', size: bytes.length } as FileRecord,
      sourcePath,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
    await cache.findIntact([file], signal);
    expect(cache.copyInSync(file)).toBeUndefined();
    const entry = await cache.materialize(file, signal);
    expect((await readFile(entry)).equals(bytes)).toBe(true);
    expect((await stat(entry)).blocks * 512).toBeLessThan(bytes.length / 2);
  });
});
