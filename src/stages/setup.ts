import { copyFile, link, mkdir, open, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
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
import type { ResolvedInput } from '../ports/input-resolver.js';
import type { SecretStore } from '../ports/secret-store.js';
import type { FileCache } from './file-cache.js';
import type { InvocationPlan } from './invocation-plan.js';

export interface PreparedParameters {
  merged: MergedParameters;
  /** Resolved secret values, for masking. Never logged. */
  secretValues: string[];
}

/**
 * Merges parameters with their defaults, resolves secret parameters, and writes the parameters file
 * (URIs intact) and, when any parameter is a secret, secrets.json keyed by parameter name, mode 0600.
 */
export async function prepareParameters(
  plan: InvocationPlan,
  layout: WorkspaceLayout,
  secrets: SecretStore,
): Promise<PreparedParameters> {
  validateParameters(plan.action.parameters, plan.parameterValues, plan.action.name);
  const merged = mergeParameters(plan.action.parameters, plan.parameterValues);
  const resolved = new Map<string, string>();
  for (const [name, value] of merged) {
    const uri = value === null ? undefined : parseSecretUri(value);
    if (uri === undefined || value === null) continue;
    const secret = await secrets.resolve(uri.name, uri.orgId ?? plan.orgId);
    if (secret === undefined) {
      throw new UsageError(
        `Failed to retrieve secret ${value} for parameter "${name}", because it does not exist.`,
        'E_SECRET_NOT_FOUND',
      );
    }
    resolved.set(name, secret);
  }
  if (resolved.size > 0) {
    // 'wx': never write through a file someone else put there; the mode applies on creation.
    const handle = await open(layout.secretsFile, 'wx', 0o600);
    try {
      await handle.writeFile(pyJsonDumps(resolved));
    } finally {
      await handle.close();
    }
  }
  await writeFile(layout.parametersFile, pyJsonDumps(merged));
  return { merged, secretValues: [...resolved.values()] };
}

/** How an input file is placed: one dataset → input/<path>; several → input/<dataset>/<path> (spec §6.3). */
export function inputTargetPath(record: FileRecord, isMultiDataset: boolean): string {
  const relative = safeRelativePath(record.relative_path, `input file ${record.file_id}`);
  return isMultiDataset ? path.posix.join(safeSegment(record.association_id), relative) : relative;
}

/**
 * Places the resolved inputs in the workspace (hard link, or a copy across filesystems, size checked)
 * unless `downloadInputs` is false, and writes the inputs manifest with container paths.
 */
export async function placeInputs(
  resolved: ResolvedInput,
  hostLayout: WorkspaceLayout,
  containerLayout: WorkspaceLayout,
  downloadInputs: boolean,
  cache: FileCache,
  signal: AbortSignal,
  onBytes?: (bytes: number, totalBytes: number) => void,
): Promise<ActionInputRecord> {
  const totalBytes = downloadInputs ? resolved.files.reduce((sum, file) => sum + file.record.size, 0) : 0;
  const datasets = new Set(resolved.files.map((file) => file.record.association_id));
  const isMultiDataset = datasets.size > 1;
  const manifestName = path.posix.relative(containerLayout.inputDir, containerLayout.inputsManifest);
  const files: [FileRecord, string | null][] = [];
  const placed = new Set<string>();
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
    const clash = [...placed].find(
      (other) => other.startsWith(`${relative}/`) || relative.startsWith(`${other}/`),
    );
    if (clash !== undefined) {
      throw new UsageError(
        `input files ${clash} and ${relative} cannot both be placed: one is a directory of the other`,
        'E_INVALID_INPUT',
      );
    }
    placed.add(relative);
    const entry = await cache.materialize(file, signal, (bytes) => onBytes?.(bytes, totalBytes));
    await placeFile(entry, file.record.size, path.join(hostLayout.inputDir, ...relative.split('/')));
    files.push([file.record, path.posix.join(containerLayout.inputDir, relative)]);
  }
  if (downloadInputs && resolved.files.length > 0) await cache.evict();
  const manifest: ActionInputRecord = { files, topics: resolved.topics };
  await writeFile(hostLayout.inputsManifest, JSON.stringify(manifest));
  return manifest;
}

/** Hard-links a verified cache entry into the workspace, or copies it across filesystems. */
async function placeFile(entry: string, sizeBytes: number, target: string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  try {
    await link(entry, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw error;
    await copyFile(entry, target);
    const { size } = await stat(target);
    if (size !== sizeBytes)
      throw new Error(`copying ${entry} to ${target} gave ${size} bytes, not ${sizeBytes}`);
  }
}

function safeSegment(segment: string): string {
  if (segment === '' || segment.includes('/') || segment === '.' || segment === '..') {
    throw new UsageError(`dataset id "${segment}" cannot be used as a directory name`, 'E_INVALID_INPUT');
  }
  return segment;
}
