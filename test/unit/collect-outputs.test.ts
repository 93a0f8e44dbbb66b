import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { collectOutputs } from '../../src/stages/output.js';
import { StoreOutputTarget } from '../../src/stages/store-output-target.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const signal = new AbortController().signal;

describe('collecting and storing many outputs', () => {
  afterAll(removeTempDirs);

  it('walks once: regular files in path order with their sizes; links, pipes, backslashes and .metadata not', async () => {
    const dir = await tempDir('collect');
    const out = path.join(dir, 'output');
    for (let index = 0; index < 120; index += 1) {
      const folder = path.join(out, `d${index % 3}`, `e${index % 2}`);
      await mkdir(folder, { recursive: true });
      await writeFile(path.join(folder, `f${String(index).padStart(3, '0')}`), 'x'.repeat(index));
    }
    await mkdir(path.join(out, '.metadata'));
    await writeFile(path.join(out, '.metadata', 'changes.jsonl'), '{}');
    await symlink('/etc/passwd', path.join(out, 'link'));
    await writeFile(path.join(out, 'a\\b'), 'back');
    execFileSync('mkfifo', [path.join(out, 'pipe')]);
    const collected = await collectOutputs(out);
    expect(collected.files).toHaveLength(120);
    const paths = collected.files.map((file) => file.relativePath);
    expect(paths).toEqual([...paths].sort());
    for (const file of collected.files) {
      expect(file.sizeBytes).toBe(Number(path.basename(file.relativePath).slice(1)));
      expect(file.hostPath).toBe(path.join(out, file.relativePath));
    }
    expect(collected.refused).toEqual([
      { relativePath: 'a\\b', reason: 'a name with a backslash is not uploaded' },
      { relativePath: 'link', reason: 'symbolic links are not uploaded' },
      { relativePath: 'pipe', reason: 'not a regular file' },
    ]);
  });

  it('hands the store the sizes the walk found: the upload total needs no stat of each file again', async () => {
    const dir = await tempDir('collect');
    const out = path.join(dir, 'output');
    await mkdir(out);
    await writeFile(path.join(out, 'a'), 'alpha');
    await writeFile(path.join(out, 'b'), 'bravo!');
    const store = new LocalDataStore(path.join(dir, 'store'));
    const dataset = await store.createDataset({ orgId: 'og_1' });
    const target = new StoreOutputTarget(store, { invocationId: 'iv_1', attempt: 1 }, 'test');
    const planned: number[] = [];
    const collected = await collectOutputs(out);
    // The sizes as collected, made up here to show they are the ones used (a real walk's are the files').
    const files = collected.files.map((file) => ({ ...file, sizeBytes: file.sizeBytes * 100 }));
    const records = await target.upload(dataset.dataset_id, files, {
      signal,
      transfers: { planned: (_, bytes) => planned.push(bytes), moved: () => undefined },
    });
    expect(planned).toEqual([1100]);
    expect(records.map((record) => [record.relative_path, record.size])).toEqual([
      ['a', 5],
      ['b', 6],
    ]);
  });
});
