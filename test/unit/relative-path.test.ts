import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { safeRelativePath } from '../../src/domain/relative-path.js';
import { FileCache } from '../../src/stages/file-cache.js';
import { inputTargetPath, placeInputs } from '../../src/stages/setup.js';
import { createWorkspace } from '../../src/stages/workspace.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

describe('dataset-relative paths', () => {
  afterAll(removeTempDirs);

  it('keeps a backslash as an ordinary character of a file name, never a separator', () => {
    expect(safeRelativePath('dir\\file.txt', 'f')).toBe('dir\\file.txt');
    expect(safeRelativePath('a/b\\c', 'f')).toBe('a/b\\c');
    // ..\x is a file named "..\x" in the dataset's top directory, not a way out of it.
    expect(safeRelativePath('..\\escape.txt', 'f')).toBe('..\\escape.txt');
    expect(
      inputTargetPath({ relative_path: 'x\\y.bin', file_id: 'fl_1', association_id: 'ds_1' } as never, true),
    ).toBe('ds_1/x\\y.bin');
  });

  it.each(['', '/abs', '..', '../up', 'a/../../up', '.', 'nul\0'])('refuses %j', (relative) => {
    expect(() => safeRelativePath(relative, 'input file fl_1')).toThrow(/unsafe relative path/);
  });

  it('places an input named with a backslash as one file of that name', async () => {
    const dir = await tempDir('backslash');
    const layout = await createWorkspace(path.join(dir, 'ws'), 'iv_bs', 1, {
      host: 'h',
      pid: 1,
      workerId: 'w',
    });
    const source = path.join(dir, 'source');
    await writeFile(source, 'bytes');
    await placeInputs(
      {
        files: [
          {
            record: { association_id: 'ds_1', file_id: 'fl_1', relative_path: 'a\\b.txt', size: 5 } as never,
            sourcePath: source,
          },
        ],
        topics: [],
      },
      layout,
      layout,
      true,
      new FileCache(path.join(dir, 'cache'), 1024 ** 3),
      'copy',
      new AbortController().signal,
    );
    expect((await readdir(layout.inputDir)).sort()).toEqual(['a\\b.txt', 'action_inputs_manifest.json']);
    expect(await readFile(path.join(layout.inputDir, 'a\\b.txt'), 'utf8')).toBe('bytes');
  });
});
