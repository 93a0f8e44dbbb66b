import { chown, mkdir, open, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../domain/errors.js';
import type { WorkspaceLayout } from '../domain/workspace-layout.js';
import { ensurePrivateDir } from '../util/private-dir.js';
import { OWNER_FILE_SUFFIX, type WorkspaceOwner, pathInsideWorkspace } from './workspace.js';

/** statfs(2) f_type of the filesystems that live in memory only. */
const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

/**
 * Where an attempt's secrets.json is kept on the host: `<tmpfsDir>/<invocation>-<attempt>/secrets.json`,
 * with `<invocation>-<attempt>.owner.json` beside it for the leftover sweep (as for workspaces). Never on
 * the workspace's disk: the action sees it through a read-only bind mount of this one file at
 * `.roboto/secrets.json` (ROBOTO_ACTION_RUNTIME_CONFIG_DIR/secrets.json, where the SDK reads it), and a
 * `kill -9` of the worker leaves it in memory only, until `gc` or the daemon's sweep removes it (or the
 * machine restarts).
 */
export interface SecretsFileLocation {
  dir: string;
  file: string;
  ownerFile: string;
}

export function secretsFileLocation(tmpfsDir: string, layout: WorkspaceLayout): SecretsFileLocation {
  const dir = path.join(tmpfsDir, path.basename(layout.root));
  return { dir, file: path.join(dir, 'secrets.json'), ownerFile: `${dir}${OWNER_FILE_SUFFIX}` };
}

/** Fails unless `dir` is on a tmpfs (or ramfs): a secret must never reach a disk. */
export async function assertOnTmpfs(dir: string): Promise<void> {
  const { type } = await statfs(dir);
  if (type !== TMPFS_MAGIC && type !== RAMFS_MAGIC) {
    throw new UsageError(
      `secrets.json must be kept on a tmpfs, and ${dir} is not on one: set secretsTmpfsDir ` +
        '(ACTION_WORKER_SECRETS_TMPFS_DIR) to a directory on a tmpfs, such as one under /dev/shm, at the ' +
        "same path on the Docker engine's side",
    );
  }
}

/**
 * Writes secrets.json (mode 0600) on the tmpfs, and an empty placeholder at the workspace's
 * `.roboto/secrets.json` for the bind mount to cover. Returns the tmpfs file.
 */
export async function writeSecretsFile(
  tmpfsDir: string,
  layout: WorkspaceLayout,
  owner: WorkspaceOwner & { invocationId: string; attempt: number },
  content: string,
): Promise<string> {
  await ensurePrivateDir(tmpfsDir, 'the secrets directory');
  await assertOnTmpfs(tmpfsDir);
  const location = secretsFileLocation(tmpfsDir, layout);
  // A leftover of the same attempt (a crash) is stale by definition: start clean.
  await rm(location.dir, { recursive: true, force: true });
  await writeFile(location.ownerFile, JSON.stringify(owner), { mode: 0o600 });
  await mkdir(location.dir, { mode: 0o700 });
  // 'wx': never write through a file someone else put there; the mode applies on creation.
  const handle = await open(location.file, 'wx', 0o600);
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
  await (await open(layout.secretsFile, 'wx', 0o600)).close();
  return location.file;
}

/** Hands the tmpfs secrets.json to the uid:gid the action runs as (it stays 0600). */
export async function chownSecretsFile(
  tmpfsDir: string,
  layout: WorkspaceLayout,
  uid: number,
  gid: number,
): Promise<void> {
  await chown(secretsFileLocation(tmpfsDir, layout).file, uid, gid);
}

/**
 * Deletes secrets.json from the tmpfs and the placeholder from the workspace, wherever the run left
 * things; never follows a link out of the workspace.
 */
export async function deleteSecretsFile(tmpfsDir: string, layout: WorkspaceLayout): Promise<void> {
  const location = secretsFileLocation(tmpfsDir, layout);
  await rm(location.dir, { recursive: true, force: true });
  await rm(location.ownerFile, { force: true });
  const placeholder = await pathInsideWorkspace(layout, layout.secretsFile);
  if (placeholder !== undefined) await rm(placeholder, { force: true });
}
