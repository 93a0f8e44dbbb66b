import { constants } from 'node:fs';
import { lchown, lstat, mkdir, open, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Owner } from '../domain/container-labels.js';
import { UsageError } from '../domain/errors.js';
import { type WorkspaceLayout, workspaceLayout } from '../domain/workspace-layout.js';
import { ensurePrivateDir } from '../util/private-dir.js';

/** Who created a workspace; kept beside it (not in it: the action can write there) for the leftover sweep. */
export type WorkspaceOwner = Owner;

export const OWNER_FILE_SUFFIX = '.owner.json';

/**
 * Creates a fresh per-invocation workspace with the directories and empty files the SDK expects before
 * the container starts (spec §2.2): input/, output/.metadata/ with the empty dataset changeset file,
 * .roboto/ with an empty file changeset file.
 */
export async function createWorkspace(
  parentDir: string,
  invocationId: string,
  attempt: number,
  owner: WorkspaceOwner,
): Promise<WorkspaceLayout> {
  // The id becomes a directory name, later removed recursively: nothing but a plain name will do.
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(invocationId) || !Number.isInteger(attempt) || attempt < 0) {
    throw new UsageError(
      `invocation id "${invocationId}" (attempt ${attempt}) cannot name a workspace`,
      'E_USAGE',
    );
  }
  const root = path.join(parentDir, `${invocationId}-${attempt}`);
  // A leftover of the same attempt (a crash) is stale by definition: start clean.
  await rm(root, { recursive: true, force: true });
  // 0700: the action reaches its workspace through the bind mount only; no other local user may reach
  // what an action wrote there (a root action's setuid file, say) on the host.
  await ensurePrivateDir(parentDir, 'the workspace directory');
  await writeFile(`${root}${OWNER_FILE_SUFFIX}`, JSON.stringify({ ...owner, invocationId, attempt }));
  const layout = workspaceLayout(root);
  await mkdir(root, { mode: 0o755 });
  for (const dir of [
    layout.inputDir,
    layout.outputDir,
    layout.runtimeConfigDir,
    layout.datasetChangesetDir,
  ]) {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  }
  await touch(layout.datasetChangesetFile);
  await touch(layout.fileChangesetFile);
  return layout;
}

async function touch(file: string): Promise<void> {
  const handle = await open(file, 'a', 0o644);
  await handle.close();
}

export async function removeWorkspace(layout: WorkspaceLayout): Promise<void> {
  await rm(layout.root, { recursive: true, force: true });
  await rm(`${layout.root}${OWNER_FILE_SUFFIX}`, { force: true });
}

/**
 * Hands the workspace to the uid:gid the action runs as, when that is not the worker: the directories the
 * action writes (output/ and .roboto/ with everything in them) and the input directories, so the action
 * can rename, move and delete its inputs. The input files themselves stay the worker's (read-only hard
 * links to cache entries, which the action must not be able to chmod or write).
 */
export async function chownWorkspace(layout: WorkspaceLayout, uid: number, gid: number): Promise<void> {
  const walk = async (target: string, directoriesOnly: boolean): Promise<void> => {
    const stats = await lstat(target);
    if (!stats.isDirectory()) {
      if (!directoriesOnly) await lchown(target, uid, gid);
      return;
    }
    await lchown(target, uid, gid);
    for (const entry of await readdir(target)) await walk(path.join(target, entry), directoriesOnly);
  };
  await lchown(layout.root, uid, gid);
  await walk(layout.inputDir, true);
  // The manifest is the worker's, like the inputs: the action reads it.
  for (const target of [layout.outputDir, layout.runtimeConfigDir]) await walk(target, false);
}

/**
 * The action owns its workspace while it runs and may have replaced any part of it with a symlink. Before
 * the worker reads or deletes a file there, the file's directory must still resolve inside the workspace.
 * Returns undefined when it does not (or does not exist).
 */
export async function pathInsideWorkspace(
  layout: WorkspaceLayout,
  file: string,
): Promise<string | undefined> {
  try {
    const root = await realpath(layout.root);
    const dir = await realpath(path.dirname(file));
    if (dir !== root && !dir.startsWith(root + path.sep)) return undefined;
    return path.join(dir, path.basename(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Reads a workspace file the action may have written, refusing symlinks and paths leaving the workspace. */
export async function readWorkspaceFile(
  layout: WorkspaceLayout,
  file: string,
  /** The action writes the file: a huge one must not exhaust the worker's memory. */
  maxBytes = 64 * 1024 * 1024,
): Promise<string> {
  const safe = await pathInsideWorkspace(layout, file);
  if (safe === undefined) return '';
  let handle;
  try {
    handle = await open(safe, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return '';
    if (code === 'ELOOP')
      throw new UsageError(`${path.basename(file)} is a symbolic link; it is not read`, 'E_OUTPUT_REFUSED');
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return '';
    if (stats.size > maxBytes) {
      throw new UsageError(
        `${path.basename(file)} holds ${stats.size} bytes, over the ${maxBytes}-byte limit; it is not read`,
        'E_INVALID_CHANGESET',
      );
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
