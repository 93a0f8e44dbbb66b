import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Temporary directories of the current test file, removed by {@link removeTempDirs}. */
const tempDirs: string[] = [];

export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `aw-test-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

/** A temporary directory on a tmpfs (/dev/shm), where secrets.json is kept; removed like the others. */
export async function tmpfsTempDir(prefix: string): Promise<string> {
  const parent = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = await mkdtemp(path.join(parent, `aw-test-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}
