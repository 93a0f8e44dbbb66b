import { describe, expect, it } from 'vitest';
import {
  MAX_MANIFEST_ENTRIES,
  checkManifest,
  manifestIndex,
  uploadContentPath,
} from '../../src/domain/upload-transaction.js';

describe('checkManifest', () => {
  it('sorts the declared files by path and finds each by its place', () => {
    const manifest = checkManifest({ 'z.bag': 1, 'a/b.txt': 0, 'a/a b+c.yaml': 7 });
    expect(manifest).toEqual([
      { path: 'a/a b+c.yaml', size_bytes: 7 },
      { path: 'a/b.txt', size_bytes: 0 },
      { path: 'z.bag', size_bytes: 1 },
    ]);
    expect(manifest.map((entry) => manifestIndex(manifest, entry.path))).toEqual([0, 1, 2]);
    expect(manifestIndex(manifest, 'a')).toBe(-1);
    expect(manifestIndex(manifest, 'zz')).toBe(-1);
  });

  it.each([
    ['../escape', '"../escape"'],
    ['a/../../escape', '"a/../../escape"'],
    ['/etc/passwd', '"/etc/passwd"'],
    ['', '""'],
    ['.', '"."'],
    ['a/./b', '"a/./b"'],
    ['a//b', '"a//b"'],
    ['dir/', '"dir/"'],
    ['a\u0000b', 'a\\u0000b'],
  ])('refuses the path %j, naming it', (path, shown) => {
    expect(() => checkManifest({ 'ok.txt': 1, [path]: 1 })).toThrow(
      expect.objectContaining({
        code: 'E_INVALID_INPUT',
        message: expect.stringContaining(shown),
      }),
    );
  });

  it.each([[-1], [1.5], ['3'], [null], [Number.MAX_SAFE_INTEGER + 2]])('refuses the size %j', (size) => {
    expect(() => checkManifest({ 'a.bag': size })).toThrow(/size of "a.bag"/);
  });

  it('refuses an empty manifest and one beyond the bound', () => {
    expect(() => checkManifest({})).toThrow(/no file/);
    const tooMany = Object.fromEntries(
      Array.from({ length: MAX_MANIFEST_ENTRIES + 1 }, (_, index) => [`f${index}`, 0]),
    );
    expect(() => checkManifest(tooMany)).toThrow(/at most 10000/);
    expect(checkManifest(Object.fromEntries(Object.entries(tooMany).slice(1)))).toHaveLength(
      MAX_MANIFEST_ENTRIES,
    );
  });

  it('refuses a path longer than 1024 bytes', () => {
    expect(() => checkManifest({ ['é'.repeat(513)]: 1 })).toThrow(/longer than 1024 bytes/);
  });
});

describe('uploadContentPath', () => {
  it("quotes the dataset path as Python's quote(path, safe='') does, slashes included", () => {
    expect(uploadContentPath('ut_1', "dir/a b+c(1)!'*~.bag")).toBe(
      '/v1/files/upload/ut_1/content/dir%2Fa%20b%2Bc%281%29%21%27%2A~.bag',
    );
  });
});
