import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/domain/records.js';
import { FileCache } from '../../src/stages/file-cache.js';
import { placeInputs } from '../../src/stages/setup.js';
import { createWorkspace } from '../../src/stages/workspace.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const signal = new AbortController().signal;

describe('placeInputs', () => {
  afterAll(removeTempDirs);

  it.each(['link', 'copy'] as const)(
    'checks the cache again when an entry vanishes under it (%s), in the check or in the placing',
    async (staging) => {
      const dir = await tempDir('place-inputs');
      const layout = await createWorkspace(path.join(dir, 'ws'), 'iv_retry', 1, {
        host: 'h',
        pid: 1,
        workerId: 'w',
      });
      const source = path.join(dir, 'source');
      await writeFile(source, 'bytes');
      const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
      // Another invocation evicts or replaces the entry: first while this one checks it, then between
      // its check and its link.
      const vanished = () => Object.assign(new Error('ENOENT: gone'), { code: 'ENOENT' });
      const materialize = cache.materialize.bind(cache);
      let uses = 0;
      cache.materialize = async (...args) => {
        uses += 1;
        if (uses === 1) throw vanished();
        if (uses === 2) return path.join(dir, 'cache', 'no-such-entry');
        return materialize(...args);
      };
      await placeInputs(
        {
          files: [
            {
              record: { association_id: 'ds_1', file_id: 'fl_1', relative_path: 'a.txt', size: 5 } as never,
              sourcePath: source,
            },
          ],
          topics: [],
        },
        layout,
        layout,
        true,
        cache,
        staging,
        new AbortController().signal,
      );
      expect(await readFile(path.join(layout.inputDir, 'a.txt'), 'utf8')).toBe('bytes');
      expect(uses).toBe(3);
    },
  );
});

describe('placeInputs with many inputs', () => {
  afterAll(removeTempDirs);

  async function setUp(count: number, relative: (index: number) => string) {
    const dir = await tempDir('place-many');
    const layout = await createWorkspace(path.join(dir, 'ws'), 'iv_many', 1, {
      host: 'h',
      pid: 1,
      workerId: 'w',
    });
    await mkdir(path.join(dir, 'src'));
    const files = await Promise.all(
      Array.from({ length: count }, async (_, index) => {
        const sourcePath = path.join(dir, 'src', `f${index}`);
        const content = `content ${index}`;
        await writeFile(sourcePath, content);
        return {
          record: {
            association_id: 'ds_1',
            file_id: `fl_${index}`,
            relative_path: relative(index),
            size: Buffer.byteLength(content),
          } as FileRecord,
          sourcePath,
          sha256: createHash('sha256').update(content).digest('hex'),
        };
      }),
    );
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
    const place = (staging: 'link' | 'copy' = 'link') =>
      placeInputs({ files, topics: [] }, layout, layout, true, cache, staging, signal);
    return { dir, layout, files, cache, place };
  }

  it('stages every input in nested folders, and lists them in the manifest in the order given', async () => {
    const { layout, files, place } = await setUp(
      300,
      (index) => `run-${index % 7}/topic-${index % 3}/f${index}.bin`,
    );
    const manifest = await place();
    expect(manifest.files.map(([record, where]) => [record.file_id, where])).toEqual(
      files.map((file) => [file.record.file_id, path.posix.join(layout.inputDir, file.record.relative_path)]),
    );
    for (const [index, file] of files.entries()) {
      const placed = path.join(layout.inputDir, ...file.record.relative_path.split('/'));
      expect(await readFile(placed, 'utf8')).toBe(`content ${index}`);
    }
    const written = JSON.parse(await readFile(layout.inputsManifest, 'utf8')) as typeof manifest;
    expect(written.files.length).toBe(300);
  });

  it.each([
    ['a file, then a file below it', ['a', 'a/b/c'], 'input files a and a/b/c cannot both be placed'],
    [
      'a file, then a folder holding it',
      ['a/b/c', 'x', 'a'],
      'input files a/b/c and a cannot both be placed',
    ],
    ['the same path twice', ['x/y', 'x/y'], 'two input files would both be placed at input/x/y'],
  ])('refuses %s before staging anything', async (_, paths, message) => {
    const { layout, place } = await setUp(paths.length, (index) => paths[index]!);
    await expect(place()).rejects.toMatchObject({
      code: 'E_INVALID_INPUT',
      message: expect.stringContaining(message),
    });
    expect(await readdir(layout.inputDir)).toEqual([]);
  });

  it('evicts after a staging that copied into the cache, and does not walk the cache after a warm one', async () => {
    const { layout, place, cache } = await setUp(20, (index) => `d${index % 4}/f${index}`);
    let evictions = 0;
    const evict = cache.evict.bind(cache);
    cache.evict = () => {
      evictions += 1;
      return evict();
    };
    await place();
    expect(evictions).toBe(1);
    await rm(layout.inputDir, { recursive: true });
    await mkdir(layout.inputDir);
    await place();
    expect(cache.stats).toEqual({ hits: 20, copies: 20 });
    expect(evictions).toBe(1);
  });

  it('stages a warm input by a hard link to its entry (link), or a private copy (copy)', async () => {
    const { dir, layout, files, cache, place } = await setUp(12, (index) => `d${index % 3}/f${index}`);
    await place();
    for (const staging of ['link', 'copy'] as const) {
      await rm(layout.inputDir, { recursive: true });
      await mkdir(layout.inputDir);
      await place(staging);
      for (const file of files) {
        const staged = await stat(path.join(layout.inputDir, ...file.record.relative_path.split('/')));
        const entry = await stat(path.join(dir, 'cache', file.sha256.slice(0, 2), file.sha256));
        expect(staged.ino === entry.ino).toBe(staging === 'link');
      }
    }
    expect(cache.stats).toEqual({ hits: 24, copies: 12 });
  });

  it('stages again an input whose entry was evicted between its check and its link', async () => {
    const { dir, layout, files, cache, place } = await setUp(6, (index) => `f${index}`);
    await place();
    await rm(layout.inputDir, { recursive: true });
    await mkdir(layout.inputDir);
    const findIntact = cache.findIntact.bind(cache);
    cache.findIntact = async (...args) => {
      const found = await findIntact(...args);
      // Another invocation evicts two of the entries right after they were checked.
      for (const file of files.slice(0, 2)) {
        await rm(path.join(dir, 'cache', file.sha256.slice(0, 2), file.sha256));
      }
      return found;
    };
    await place();
    for (const [index, file] of files.entries()) {
      expect(await readFile(path.join(layout.inputDir, file.record.relative_path), 'utf8')).toBe(
        `content ${index}`,
      );
    }
    expect(cache.stats.copies).toBe(8);
  });

  it('refuses a small input whose bytes do not match its record, and caches nothing of it', async () => {
    const { dir, files, cache, place } = await setUp(3, (index) => `f${index}`);
    await writeFile(files[1]!.sourcePath, 'content X');
    await expect(place()).rejects.toMatchObject({ code: 'E_IO' });
    const cached = await readdir(path.join(dir, 'cache'), { recursive: true });
    expect(cached.filter((name) => name.includes(files[1]!.sha256))).toEqual([]);
    expect(cache.stats.copies).toBe(1);
  });
});
