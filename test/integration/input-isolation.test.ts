import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { importFolder } from '../../src/app/dataset-transfer.js';
import { makeAction, removeTempDirs, runInProcess, tempDir } from '../support/harness.js';

const ORIGINAL = 'original bytes of the input\n';

// What an action that wants a setuid-root binary on the host does with an input it was given: chmod it
// 4755, overwrite it with a binary, append to it, set its times back; and it reports what worked.
const ATTACK = [
  'f="$ROBOTO_INPUT_DIR/tool.bin"',
  'o="$ROBOTO_OUTPUT_DIR"',
  'id -u > "$o/uid.txt"',
  'if chmod 4755 "$f" 2>/dev/null; then echo ok; else echo denied; fi > "$o/chmod.txt"',
  'if cp /bin/busybox "$f" 2>/dev/null; then echo ok; else echo denied; fi > "$o/write.txt"',
  'if { echo tampered >> "$f"; } 2>/dev/null; then echo ok; else echo denied; fi > "$o/append.txt"',
  'if touch -d "2000-01-01 00:00:00" "$f" 2>/dev/null; then echo ok; else echo denied; fi > "$o/utime.txt"',
  'stat -c "%a" "$f" > "$o/mode.txt"',
  'true',
].join('; ');

// Reads the input as it is given.
const READ = 'cat "$ROBOTO_INPUT_DIR/tool.bin" > "$ROBOTO_OUTPUT_DIR/seen.txt"';

// What some public actions do: rename an input in place, then move it to the outputs.
const MOVE = [
  'set -e',
  'mv "$ROBOTO_INPUT_DIR/sub/tool.bin" "$ROBOTO_INPUT_DIR/sub/renamed.bin"',
  'mv "$ROBOTO_INPUT_DIR/sub/renamed.bin" "$ROBOTO_OUTPUT_DIR/moved.bin"',
  'rm "$ROBOTO_INPUT_DIR/other.txt"',
].join('; ');

async function dataset(store: LocalDataStore, files: Record<string, string>) {
  const dir = await tempDir('data');
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  return importFolder(store, dir, { orgId: 'og_1', signal: new AbortController().signal });
}

async function action(name: string, script: string): Promise<string> {
  return makeAction(
    name,
    { container_parameters: { entry_point: ['/bin/sh', '-c'], command: [script] } },
    [],
  );
}

/** The cache entry a stored file is staged from. */
async function cacheEntry(store: LocalDataStore, cacheDir: string, fileId: string): Promise<string> {
  const stored = await store.getFile(fileId);
  return path.join(cacheDir, stored!.sha256.slice(0, 2), stored!.sha256);
}

describe('inputs an action can write', () => {
  afterAll(removeTempDirs);

  it.runIf(process.getuid?.() === 0)(
    'cannot plant a setuid binary in the host cache: the default user can neither write nor chmod its hard-linked inputs, and the next run gets the original bytes from the same entry',
    async () => {
      const store = new LocalDataStore(await tempDir('store'));
      const { dataset: ds, files } = await dataset(store, { 'tool.bin': ORIGINAL });
      const cacheDir = await tempDir('cache');
      const settings = { cache: { dir: cacheDir } };

      const attack = await runInProcess(
        {
          actionDir: await action('attack', ATTACK),
          datasets: [ds.dataset_id],
          keepWorkspace: true,
          outputDir: path.join(await tempDir('out'), 'o'),
        },
        { store, settings },
      );
      expect(attack.result.outcome.status, attack.stderr).toBe(5);
      const report = async (name: string) =>
        (await readFile(path.join(attack.result.outputDir!, name), 'utf8')).trim();
      expect(await report('uid.txt')).toBe('65532');
      expect(await report('chmod.txt')).toBe('denied');
      expect(await report('write.txt')).toBe('denied');
      expect(await report('append.txt')).toBe('denied');
      expect(await report('utime.txt')).toBe('denied');
      expect(await report('mode.txt')).toBe('444');

      // The host's cache entry: the original bytes, 0444, the worker's, no setuid bit, no execute bit.
      const entry = await cacheEntry(store, cacheDir, files[0]!.file_id);
      const before = await stat(entry);
      expect(await readFile(entry, 'utf8')).toBe(ORIGINAL);
      expect(before.mode & 0o7777).toBe(0o444);
      expect(before.uid).toBe(0);
      // It was staged by hard link: the workspace's input is the entry itself.
      const staged = await stat(path.join(attack.result.outcome.workspaceDir!, 'input', 'tool.bin'));
      expect(staged.ino).toBe(before.ino);

      const next = await runInProcess(
        {
          actionDir: await action('reader', READ),
          datasets: [ds.dataset_id],
          keepWorkspace: true,
          outputDir: path.join(await tempDir('out'), 'o'),
        },
        { store, settings },
      );
      expect(next.result.outcome.status, next.stderr).toBe(5);
      expect(await readFile(path.join(next.result.outputDir!, 'seen.txt'), 'utf8')).toBe(ORIGINAL);
      // The warm path: the same entry, not copied again (a copy is a new inode), hard-linked again.
      const after = await stat(entry);
      expect(after.ino).toBe(before.ino);
      expect(after.mtimeMs).toBe(before.mtimeMs);
      expect((await stat(path.join(next.result.outcome.workspaceDir!, 'input', 'tool.bin'))).ino).toBe(
        before.ino,
      );
      // The cache directory is the worker's alone.
      expect((await stat(cacheDir)).mode & 0o777).toBe(0o700);
    },
  );

  it.runIf(process.getuid?.() === 0)(
    'gives a root action (the explicit opt-in) a private copy: its chmod 4755 and its writes never reach the cache',
    async () => {
      const store = new LocalDataStore(await tempDir('store'));
      const { dataset: ds, files } = await dataset(store, { 'tool.bin': ORIGINAL });
      const cacheDir = await tempDir('cache');

      const attack = await runInProcess(
        {
          actionDir: await action('root-attack', ATTACK),
          datasets: [ds.dataset_id],
          keepWorkspace: true,
          outputDir: path.join(await tempDir('out'), 'o'),
        },
        { store, settings: { cache: { dir: cacheDir }, container: { user: 'root' } } },
      );
      expect(attack.result.outcome.status, attack.stderr).toBe(5);
      const report = async (name: string) =>
        (await readFile(path.join(attack.result.outputDir!, name), 'utf8')).trim();
      expect(await report('uid.txt')).toBe('0');
      // Root can do all of it, to its own copy.
      expect(await report('chmod.txt')).toBe('ok');
      expect(await report('write.txt')).toBe('ok');
      const entry = await cacheEntry(store, cacheDir, files[0]!.file_id);
      const cached = await stat(entry);
      expect(await readFile(entry, 'utf8')).toBe(ORIGINAL);
      expect(cached.mode & 0o7777).toBe(0o444);
      const staged = await stat(path.join(attack.result.outcome.workspaceDir!, 'input', 'tool.bin'));
      expect(staged.ino).not.toBe(cached.ino);

      const next = await runInProcess(
        {
          actionDir: await action('reader', READ),
          datasets: [ds.dataset_id],
          outputDir: path.join(await tempDir('out'), 'o'),
        },
        { store, settings: { cache: { dir: cacheDir } } },
      );
      expect(next.result.outcome.status, next.stderr).toBe(5);
      expect(await readFile(path.join(next.result.outputDir!, 'seen.txt'), 'utf8')).toBe(ORIGINAL);
      expect((await stat(entry)).ino).toBe(cached.ino);
    },
  );

  it('lets the default user rename, move and delete its inputs, even in subdirectories', async () => {
    const store = new LocalDataStore(await tempDir('store'));
    const { dataset: ds } = await dataset(store, { 'sub/tool.bin': ORIGINAL, 'other.txt': 'other' });
    const run = await runInProcess(
      {
        actionDir: await action('mover', MOVE),
        datasets: [ds.dataset_id],
        outputDir: path.join(await tempDir('out'), 'o'),
        uploadTo: (await store.createDataset({ orgId: 'og_1' })).dataset_id,
      },
      { store },
    );
    expect(run.result.outcome.status, run.stderr).toBe(5);
    expect(await readFile(path.join(run.result.outputDir!, 'moved.bin'), 'utf8')).toBe(ORIGINAL);
    expect((await readdir(run.result.outputDir!)).sort()).toEqual(['.metadata', 'moved.bin']);
  });
});
