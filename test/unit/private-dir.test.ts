import { chmod, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensurePrivateDir } from '../../src/util/private-dir.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

describe('ensurePrivateDir', () => {
  afterAll(removeTempDirs);

  it.each([
    ['others', 0o777],
    ['others (no read)', 0o703],
    ['its group', 0o770],
  ])(
    'refuses a directory inside a parent writable by %s without the sticky bit: anyone could swap it',
    async (_who, mode) => {
      const dir = await tempDir('private-dir');
      const shared = path.join(dir, 'shared');
      await mkdir(shared);
      await chmod(shared, mode);
      await expect(ensurePrivateDir(path.join(shared, 'cache'), 'the input cache')).rejects.toThrow(
        /is inside .*shared, which others can write to without the sticky bit/,
      );
      // Also a parent further up.
      await mkdir(path.join(shared, 'deeper'), { mode: 0o755 });
      await expect(ensurePrivateDir(path.join(shared, 'deeper', 'cache'), 'the input cache')).rejects.toThrow(
        /is inside .*shared, which others can write to without the sticky bit/,
      );
    },
  );

  it('accepts a parent writable by everyone with the sticky bit (like /tmp): only owners rename there', async () => {
    const dir = await tempDir('private-dir');
    const sticky = path.join(dir, 'sticky');
    await mkdir(sticky);
    await chmod(sticky, 0o1777);
    await ensurePrivateDir(path.join(sticky, 'cache'), 'the input cache');
    expect((await stat(path.join(sticky, 'cache'))).mode & 0o777).toBe(0o700);
  });
});
