import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, link, mkdir, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
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

  it('hits again after the entry was hard-linked into a workspace and the workspace removed', async () => {
    // link() and unlink() move the entry's ctime: the old inode+ctime seal missed every time after that.
    const dir = await tempDir('cache-test');
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
    const file = await source(dir, 'w', 'warm');
    const entry = await cache.materialize(file, signal);
    const { ino } = await stat(entry);
    await mkdir(path.join(dir, 'ws'));
    await link(entry, path.join(dir, 'ws', 'w'));
    expect(await cache.materialize(file, signal)).toBe(entry);
    await rm(path.join(dir, 'ws'), { recursive: true });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await cache.materialize(file, signal)).toBe(entry);
    expect((await stat(entry)).ino).toBe(ino);
    expect(cache.stats).toEqual({ hits: 2, copies: 1 });
  });

  it('replaces an entry that was rewritten in place, even with its size and mode kept', async () => {
    const dir = await tempDir('cache-test');
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
    const file = await source(dir, 'c', 'charlie');
    const entry = await cache.materialize(file, signal);
    await chmod(entry, 0o644);
    await writeFile(entry, 'CHARLIE');
    await chmod(entry, 0o444);
    const again = await cache.materialize(file, signal);
    expect(await readFile(again, 'utf8')).toBe('charlie');
    expect(cache.stats).toEqual({ hits: 0, copies: 2 });
  });

  /** What a writer who owns the entry (or has FOWNER) can do: rewrite it in place, size, mode and times kept. */
  async function rewriteKeepingTimes(dir: string, entry: string, content: string) {
    const times = path.join(dir, 'times');
    await writeFile(times, '');
    execFileSync('touch', ['-r', entry, times]);
    const before = await stat(entry, { bigint: true });
    await chmod(entry, 0o644);
    await writeFile(entry, content);
    await chmod(entry, 0o444);
    execFileSync('touch', ['-r', times, entry]);
    const after = await stat(entry, { bigint: true });
    // Everything the O(1) check looks at is as it was: only the bytes differ.
    expect([after.ino, after.size, after.mode, after.uid, after.gid, after.mtimeNs]).toEqual([
      before.ino,
      before.size,
      before.mode,
      before.uid,
      before.gid,
      before.mtimeNs,
    ]);
  }

  it('finds an entry rewritten in place with its size, mode and mtime kept, when it re-hashes the entry', async () => {
    const dir = await tempDir('cache-test');
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3, { rehashAfterMs: 0 });
    const file = await source(dir, 'd', 'delta');
    const entry = await cache.materialize(file, signal);
    await rewriteKeepingTimes(dir, entry, 'DELTA');
    expect(await readFile(await cache.materialize(file, signal), 'utf8')).toBe('delta');
    expect(cache.stats).toEqual({ hits: 0, copies: 2 });
  });

  it('re-hashes an entry at most once per interval, and keeps using it when its bytes are intact', async () => {
    const dir = await tempDir('cache-test');
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3, { rehashAfterMs: 0 });
    const file = await source(dir, 'e', 'echo');
    const entry = await cache.materialize(file, signal);
    const { ino } = await stat(entry);
    expect(await cache.materialize(file, signal)).toBe(entry);
    expect((await stat(entry)).ino).toBe(ino);
    expect(cache.stats).toEqual({ hits: 1, copies: 1 });

    // Between re-hashes (a day by default) a use is O(1): a rewrite that keeps size, mode and mtime goes
    // unseen until the next one. That is what the first layer prevents: such writers never get a link.
    const daily = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
    await rewriteKeepingTimes(dir, entry, 'ECHO');
    expect(await readFile(await daily.materialize(file, signal), 'utf8')).toBe('ECHO');
    expect(daily.stats).toEqual({ hits: 1, copies: 0 });
  });

  it.each([
    ['empty', ''],
    ['cut short', '{"ino":12'],
    ['not a seal', 'null'],
  ])('copies an entry again when its seal is %s, instead of failing', async (_what, seal) => {
    // A crash (or a reader) in the middle of writing a seal left it like this.
    const dir = await tempDir('cache-test');
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
    const file = await source(dir, 's', 'sealed');
    const entry = await cache.materialize(file, signal);
    await writeFile(`${entry}.seal`, seal);
    expect(await readFile(await cache.materialize(file, signal), 'utf8')).toBe('sealed');
    expect(await readFile(await cache.materialize(file, signal), 'utf8')).toBe('sealed');
    expect(cache.stats).toEqual({ hits: 1, copies: 2 });
  });

  it(
    'serves concurrent cold uses of one input without failing any of them',
    { timeout: 60_000 },
    async () => {
      // Uses that check the entry while another is publishing it must never find it gone or half-sealed.
      // A race, so many rounds (each a fresh cache), with the uses started a varying number of ticks apart.
      const dir = await tempDir('cache-test');
      const content = 'race'.repeat(1024);
      const file = await source(dir, 'r', content);
      const deadline = Date.now() + 10_000;
      for (let round = 0; round < 300 && Date.now() < deadline; round += 1) {
        const cache = new FileCache(path.join(dir, `cache-${round}`), 1024 ** 3);
        const uses = Array.from({ length: 8 }, async (_, index) => {
          for (let tick = 0; tick < index * (round % 7); tick += 1) {
            await new Promise((resolve) => setImmediate(resolve));
          }
          return readFile(await cache.materialize(file, signal), 'utf8');
        });
        const results = await Promise.allSettled(uses);
        expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
        expect(results.map((result) => (result.status === 'fulfilled' ? result.value : ''))).toEqual(
          Array(8).fill(content),
        );
        await rm(path.join(dir, `cache-${round}`), { recursive: true });
      }
    },
  );

  it.each([
    ['setuid', 0o4755],
    ['setgid', 0o2444],
    ['executable', 0o555],
    ['writable', 0o644],
  ])('never hands out an entry made %s: it is copied again', async (_what, mode) => {
    const dir = await tempDir('cache-test');
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
    const file = await source(dir, 'm', 'mode');
    const entry = await cache.materialize(file, signal);
    await chmod(entry, mode);
    const again = await cache.materialize(file, signal);
    expect((await stat(again)).mode & 0o7777).toBe(0o444);
    expect(cache.stats.copies).toBe(2);
  });

  it.runIf(process.getuid?.() === 0)('never hands out an entry someone else owns', async () => {
    const dir = await tempDir('cache-test');
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
    const file = await source(dir, 'o', 'owned');
    const entry = await cache.materialize(file, signal);
    await chown(entry, 65532, 65532);
    const again = await cache.materialize(file, signal);
    expect((await stat(again)).uid).toBe(0);
    expect(cache.stats.copies).toBe(2);
  });

  it('keeps its directory private (0700), and refuses one that belongs to someone else', async () => {
    const dir = await tempDir('cache-test');
    const cacheDir = path.join(dir, 'cache');
    await mkdir(cacheDir, { mode: 0o777 });
    await chmod(cacheDir, 0o777);
    await new FileCache(cacheDir, 1024 ** 3).materialize(await source(dir, 'p', 'private'), signal);
    expect((await stat(cacheDir)).mode & 0o777).toBe(0o700);
    if (process.getuid?.() === 0) {
      const theirs = path.join(dir, 'theirs');
      await mkdir(theirs);
      await chown(theirs, 65532, 65532);
      await expect(
        new FileCache(theirs, 1024 ** 3).materialize(await source(dir, 'q', 'x'), signal),
      ).rejects.toThrow(/belongs to uid 65532, not to this worker/);
      await expect(
        new FileCache(path.join(theirs, 'cache'), 1024 ** 3).materialize(await source(dir, 'r', 'x'), signal),
      ).rejects.toThrow(/which belongs to uid 65532: that user could replace it/);
    }
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
    // The last use is recorded on the seal (the entry itself is never touched).
    await utimes(`${old}.seal`, new Date(2000, 0, 1), new Date(2000, 0, 1));
    expect(await cache.evict()).toEqual({ removedBytes: 6 });
    const remaining = (await readdir(path.join(dir, 'cache'), { recursive: true })).filter(
      (name) => path.basename(name).length === 64,
    );
    expect(remaining.map((name) => path.basename(name))).toEqual([path.basename(recent)]);
  });
});
