import { constants, linkSync, mkdirSync } from 'node:fs';
import { copyFile, link, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { UsageError } from '../domain/errors.js';
import { safeRelativePath } from '../domain/relative-path.js';
import {
  type MergedParameters,
  mergeParameters,
  parseSecretUri,
  validateParameters,
} from '../domain/parameters.js';
import { pyJsonDumps } from '../domain/python-str.js';
import type { ActionInputRecord, FileRecord } from '../domain/records.js';
import type { WorkspaceLayout } from '../domain/workspace-layout.js';
import type { ResolvedFile, ResolvedInput } from '../ports/input-resolver.js';
import type { SecretStore } from '../ports/secret-store.js';
import type { TransferObserver } from '../ports/transfer-observer.js';
import type { FileCache } from './file-cache.js';
import type { InvocationPlan } from './invocation-plan.js';
import { TimeSlice } from '../util/time-slice.js';
import { writeSecretsFile } from './secrets-file.js';
import type { WorkspaceOwner } from './workspace.js';

export interface PreparedParameters {
  merged: MergedParameters;
  /** Resolved secret values, for masking. Never logged. */
  secretValues: string[];
  /** The host file (on a tmpfs) holding secrets.json, when any parameter is a secret. */
  secretsFile: string | null;
}

/**
 * Merges parameters with their defaults, resolves secret parameters, and writes the parameters file
 * (URIs intact) and, when any parameter is a secret, secrets.json keyed by parameter name, mode 0600, on
 * the secrets tmpfs (see secrets-file.ts), never in the workspace.
 */
export async function prepareParameters(
  plan: InvocationPlan,
  layout: WorkspaceLayout,
  secrets: SecretStore,
  secretsTarget: { tmpfsDir: string; owner: WorkspaceOwner },
): Promise<PreparedParameters> {
  validateParameters(plan.action.parameters, plan.parameterValues, plan.action.name);
  const merged = mergeParameters(plan.action.parameters, plan.parameterValues);
  const resolved = new Map<string, string>();
  for (const [name, value] of merged) {
    const uri = value === null ? undefined : parseSecretUri(value);
    if (uri === undefined || value === null) continue;
    // An invocation reads its own org's secrets only: `@og_other` (which anyone invoking may write) is
    // answered as a secret that does not exist, without asking the store.
    const secret =
      uri.orgId === null || uri.orgId === plan.orgId
        ? await secrets.resolve(uri.name, plan.orgId)
        : undefined;
    if (secret === undefined) {
      throw new UsageError(
        `Failed to retrieve secret ${value} for parameter "${name}", because it does not exist.`,
        'E_SECRET_NOT_FOUND',
      );
    }
    resolved.set(name, secret);
  }
  const secretsFile =
    resolved.size === 0
      ? null
      : await writeSecretsFile(
          secretsTarget.tmpfsDir,
          layout,
          { ...secretsTarget.owner, invocationId: plan.invocationId, attempt: plan.attempt },
          pyJsonDumps(resolved),
        );
  await writeFile(layout.parametersFile, pyJsonDumps(merged));
  return { merged, secretValues: [...resolved.values()], secretsFile };
}

/** How an input file is placed: one dataset → input/<path>; several → input/<dataset>/<path> (spec §6.3). */
export function inputTargetPath(record: FileRecord, isMultiDataset: boolean): string {
  const relative = safeRelativePath(record.relative_path, `input file ${record.file_id}`);
  return isMultiDataset ? path.posix.join(safeSegment(record.association_id), relative) : relative;
}

/**
 * How inputs reach the workspace: `link`, a hard link to the verified cache entry (O(1), and safe only
 * when the action's user can change neither the bytes nor the mode of a file it does not own), or `copy`,
 * a private copy (a reflink where the filesystem can, else bytes).
 */
export type InputStaging = 'link' | 'copy';

/**
 * Places the resolved inputs in the workspace (hard link to, or copy of, a verified cache entry, as
 * `staging` says; a copy across filesystems, size checked) unless `downloadInputs` is false, and writes
 * the inputs manifest with container paths.
 */
export async function placeInputs(
  resolved: ResolvedInput,
  hostLayout: WorkspaceLayout,
  containerLayout: WorkspaceLayout,
  downloadInputs: boolean,
  cache: FileCache,
  staging: InputStaging,
  signal: AbortSignal,
  transfers?: TransferObserver,
): Promise<ActionInputRecord> {
  if (downloadInputs) {
    transfers?.planned?.(
      'download',
      resolved.files.reduce((sum, file) => sum + file.record.size, 0),
    );
  }
  const onBytes = transfers
    ? (bytes: number) => {
        transfers.moved('download', bytes);
      }
    : undefined;
  const datasets = new Set(resolved.files.map((file) => file.record.association_id));
  const isMultiDataset = datasets.size > 1;
  const manifestName = path.posix.relative(containerLayout.inputDir, containerLayout.inputsManifest);
  const files: [FileRecord, string | null][] = [];
  // Every target is checked before anything is staged, in O(files × depth): the files placed so far, and
  // for each directory above them the first file placed under it.
  const placed = new Set<string>();
  const firstUnder = new Map<string, string>();
  const targets: string[] = [];
  for (const file of resolved.files) {
    signal.throwIfAborted();
    if (!downloadInputs) {
      files.push([file.record, null]);
      continue;
    }
    const relative = inputTargetPath(file.record, isMultiDataset);
    if (relative === manifestName) {
      throw new UsageError(`input file "${relative}" would overwrite the inputs manifest`, 'E_INVALID_INPUT');
    }
    if (placed.has(relative)) {
      throw new UsageError(`two input files would both be placed at input/${relative}`, 'E_INVALID_INPUT');
    }
    const parents = parentDirs(relative);
    const clash = firstUnder.get(relative) ?? parents.find((parent) => placed.has(parent));
    if (clash !== undefined) {
      throw new UsageError(
        `input files ${clash} and ${relative} cannot both be placed: one is a directory of the other`,
        'E_INVALID_INPUT',
      );
    }
    placed.add(relative);
    for (const parent of parents) if (!firstUnder.has(parent)) firstUnder.set(parent, relative);
    targets.push(path.join(hostLayout.inputDir, ...relative.split('/')));
    files.push([file.record, path.posix.join(containerLayout.inputDir, relative)]);
  }
  if (downloadInputs) {
    const copiesBefore = cache.stats.copies;
    await stageAll(cache, resolved.files, targets, staging, signal, onBytes);
    // Only a staging that copied something into the cache can have taken it over its budget: a warm one
    // does not walk the whole cache (another process that grows it evicts for itself).
    if (cache.stats.copies > copiesBefore) await cache.evict();
  }
  const manifest: ActionInputRecord = { files, topics: resolved.topics };
  await writeFile(hostLayout.inputsManifest, JSON.stringify(manifest));
  return manifest;
}

/** The directories above a relative path, nearest the root first: `a/b/c` → `a`, `a/b`. */
function parentDirs(relative: string): string[] {
  const parents: string[] = [];
  for (let slash = relative.indexOf('/'); slash !== -1; slash = relative.indexOf('/', slash + 1)) {
    parents.push(relative.slice(0, slash));
  }
  return parents;
}

/**
 * Inputs staged at once. Measured on the 2-core development machine (bench/small-files.ts, 15,000 inputs
 * of ~20 KiB): a warm staging is a few cheap calls per file, which libuv's four threads run side by side.
 */
const STAGING_CONCURRENCY = 8;

/** How long synchronous staging work may hold the event loop before it lets timers and I/O in. */
const SLICE_MS = 5;

/**
 * Stages every file at its target. A warm staging is a few cheap calls per file: the cache checks every
 * entry (findIntact), and the hits are hard-linked, synchronously a slice of time at a time (sending each
 * call to the thread pool and back cost several times the call itself); a cold one copies each small
 * input into the cache the same way (copyInSync). Whatever remains — big inputs, private copies, links
 * that fail — is staged a few at a time. Each workspace directory is made once. The first failure stops
 * the staging: files not started are left alone, and it is thrown once those under way have finished.
 */
async function stageAll(
  cache: FileCache,
  files: readonly ResolvedFile[],
  targets: readonly string[],
  staging: InputStaging,
  signal: AbortSignal,
  onBytes?: (bytes: number) => void,
): Promise<void> {
  const found = await cache.findIntact(files, signal, onBytes);
  const dirs = new Set<string>();
  const remaining: number[] = [];
  const slice = new TimeSlice(SLICE_MS);
  for (const [index, file] of files.entries()) {
    await slice.yieldIfDue();
    signal.throwIfAborted();
    const target = targets[index] ?? '';
    const dir = path.dirname(target);
    if (!dirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      dirs.add(dir);
    }
    // A miss is copied in here when it is small: its bytes are counted then, and never again.
    found[index] ??= copiedInSync(cache, file, onBytes);
    const entry = found[index];
    if (entry === undefined || staging !== 'link' || !linkedSync(entry, target)) remaining.push(index);
  }
  const limit = pLimit(STAGING_CONCURRENCY);
  let failed = false;
  const settled = await Promise.allSettled(
    remaining.map((index) =>
      limit(async () => {
        if (failed) return;
        try {
          signal.throwIfAborted();
          const file = files[index];
          const target = targets[index];
          if (file === undefined || target === undefined) return;
          const entry = found[index];
          if (entry !== undefined) {
            try {
              await placeFile(entry, file.record.size, target, staging);
              return;
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
              // Evicted since it was checked: staged like a miss (its bytes were counted already).
              await stageFile(cache, file, target, staging, signal);
              return;
            }
          }
          await stageFile(cache, file, target, staging, signal, onBytes);
        } catch (error) {
          failed = true;
          throw error;
        }
      }),
    ),
  );
  const failure = settled.find((result) => result.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
}

/** The small input copied into the cache; undefined when it is not small or a directory went missing. */
function copiedInSync(
  cache: FileCache,
  file: ResolvedFile,
  onBytes?: (bytes: number) => void,
): string | undefined {
  try {
    return cache.copyInSync(file, onBytes);
  } catch (error) {
    // A cache directory removed under it: materialize makes it again.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Hard-links a checked cache entry at `target`; false when it cannot (gone meanwhile, another
 * filesystem, no permission, too many links): then the file is staged the slow way.
 */
function linkedSync(entry: string, target: string): boolean {
  try {
    linkSync(entry, target);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK') return false;
    throw error;
  }
}

/** How often an input is checked and placed again when its cache entry vanishes under it. */
const STAGE_ATTEMPTS = 3;

/**
 * Materializes the input in the cache and places it. Another invocation may evict the entry while this
 * one checks it or before it links it (ENOENT): then both steps run again.
 */
async function stageFile(
  cache: FileCache,
  file: ResolvedFile,
  target: string,
  staging: InputStaging,
  signal: AbortSignal,
  onBytes?: (bytes: number) => void,
): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      // Progress is counted once: a repeated attempt's bytes are not new work for the caller.
      const entry = await cache.materialize(file, signal, attempt === 1 ? onBytes : undefined);
      await placeFile(entry, file.record.size, target, staging);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= STAGE_ATTEMPTS) throw error;
    }
  }
}

/** Hard-links a verified cache entry into the workspace, or copies it (asked to, or across filesystems). */
async function placeFile(
  entry: string,
  sizeBytes: number,
  target: string,
  staging: InputStaging,
): Promise<void> {
  if (staging === 'link') {
    try {
      await link(entry, target);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw error;
    }
  }
  // A reflink (copy-on-write: O(1) on btrfs, XFS, …) where the filesystem can, else a byte copy. Either
  // way a new inode: nothing the action does to it reaches the cache. COPYFILE_EXCL: never through a
  // file someone else put there.
  await copyFile(entry, target, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
  const { size } = await stat(target);
  if (size !== sizeBytes)
    throw new Error(`copying ${entry} to ${target} gave ${size} bytes, not ${sizeBytes}`);
}

function safeSegment(segment: string): string {
  if (segment === '' || segment.includes('/') || segment === '.' || segment === '..') {
    throw new UsageError(`dataset id "${segment}" cannot be used as a directory name`, 'E_INVALID_INPUT');
  }
  return segment;
}
