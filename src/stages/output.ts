import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { ActionWorkerError } from '../domain/errors.js';
import { MetadataPathError } from '../domain/metadata-changeset.js';
import { foldFileChangeset, parseDatasetChangeset } from '../domain/file-changeset.js';
import { UNSPECIFIED_DATA_SOURCE, type FileRecord } from '../domain/records.js';
import { OUTPUT_METADATA_DIR, type WorkspaceLayout } from '../domain/workspace-layout.js';
import type { ResolvedInput } from '../ports/input-resolver.js';
import type { OutputFile, OutputTarget } from '../ports/output-target.js';
import type { InvocationPlan } from './invocation-plan.js';
import { readWorkspaceFile } from './workspace.js';

export interface RefusedOutput {
  relativePath: string;
  reason: string;
}

export interface CollectedOutputs {
  files: OutputFile[];
  refused: RefusedOutput[];
}

/**
 * Lists the regular files under output/, except output/.metadata/. Nothing is followed: a symlink (to
 * anywhere) or any other non-regular entry is refused and reported, so nothing outside the output
 * directory can be collected.
 */
export async function collectOutputs(outputDir: string): Promise<CollectedOutputs> {
  const files: OutputFile[] = [];
  const refused: RefusedOutput[] = [];
  // The action may have replaced output/ itself with a link; then there is nothing to collect.
  const root = await lstat(outputDir).catch(() => undefined);
  if (!root?.isDirectory()) {
    return { files, refused: [{ relativePath: '.', reason: 'the output directory is not a directory' }] };
  }
  const walk = async (relativeDir: string): Promise<void> => {
    const entries = await readdir(path.join(outputDir, relativeDir), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const relativePath = relativeDir === '' ? entry.name : `${relativeDir}/${entry.name}`;
      if (relativePath === OUTPUT_METADATA_DIR) continue;
      const hostPath = path.join(outputDir, relativePath);
      const stats = await lstat(hostPath);
      if (stats.isSymbolicLink()) refused.push({ relativePath, reason: 'symbolic links are not uploaded' });
      else if (entry.name.includes('\\')) {
        // A backslash would read as a path separator in the dataset: ..\x would leave it, a\b would alias a/b.
        refused.push({ relativePath, reason: 'a name with a backslash is not uploaded' });
      } else if (stats.isDirectory()) await walk(relativePath);
      else if (stats.isFile()) files.push({ relativePath, hostPath, sizeBytes: stats.size });
      else refused.push({ relativePath, reason: 'not a regular file' });
    }
  };
  await walk('');
  return { files, refused };
}

/**
 * The dataset outputs go to (spec §13 5.1): the explicit destination; else the one dataset every input
 * file came from; else the data source dataset; else none.
 */
export function chooseUploadDataset(plan: InvocationPlan, inputs: ResolvedInput): string | null {
  if (plan.uploadDestinationId) return plan.uploadDestinationId;
  const inputDatasets = new Set(inputs.files.map((file) => file.record.association_id));
  if (inputDatasets.size === 1) return [...inputDatasets][0] ?? null;
  if (inputDatasets.size > 1) return null;
  return dataSourceDataset(plan);
}

/** The data source, when the invocation has one. */
function dataSourceDataset(plan: InvocationPlan): string | null {
  return plan.dataSourceId === UNSPECIFIED_DATA_SOURCE ? null : plan.dataSourceId;
}

export interface OutputResult {
  uploaded: FileRecord[];
  refused: RefusedOutput[];
  uploadDatasetId: string | null;
  fileChangesetApplied: boolean;
  datasetChangesetApplied: boolean;
}

/** Uploads the outputs, then folds and applies the file changeset and applies the dataset changeset. */
export async function applyOutputs(
  plan: InvocationPlan,
  hostLayout: WorkspaceLayout,
  inputs: ResolvedInput,
  target: OutputTarget,
  logger: Logger,
  signal: AbortSignal,
): Promise<OutputResult> {
  const collected = await collectOutputs(hostLayout.outputDir);
  for (const refused of collected.refused) logger.warn(refused, 'output.refused');
  const uploadDatasetId = chooseUploadDataset(plan, inputs);
  const uploaded = await target.upload(uploadDatasetId, collected.files, signal);
  logger.info({ count: uploaded.length, datasetId: uploadDatasetId }, 'output.uploaded');

  let fileChangesetApplied = false;
  const fold = foldFileChangeset(await readChangesetFile(hostLayout, hostLayout.fileChangesetFile, logger));
  if (!fold.ok) {
    logger.error({ line: fold.lineNumber, reason: fold.reason }, 'output.file_changeset.malformed');
  } else {
    const byPath = new Map(uploaded.map((record) => [record.relative_path, record]));
    for (const [relativePath, update] of fold.updates) {
      const record = byPath.get(relativePath);
      if (record === undefined) {
        logger.info({ relativePath }, 'output.file_changeset.no_such_output');
        continue;
      }
      signal.throwIfAborted();
      await applyOrSkip(logger, { relativePath }, () => target.updateFile(record.file_id, update));
    }
    fileChangesetApplied = fold.updates.size > 0;
  }

  let datasetChangesetApplied = false;
  const datasetChangeset = parseDatasetChangeset(
    await readChangesetFile(hostLayout, hostLayout.datasetChangesetFile, logger),
  );
  if (!datasetChangeset.ok) {
    // Policy (spec §4.5): a malformed dataset changeset is logged and skipped; the invocation still completes.
    logger.error({ reason: datasetChangeset.reason }, 'output.dataset_changeset.malformed');
  } else if (datasetChangeset.changeset !== null) {
    const datasetId = uploadDatasetId ?? dataSourceDataset(plan);
    if (datasetId === null) {
      logger.warn('output.dataset_changeset.no_dataset');
    } else {
      const { changeset } = datasetChangeset;
      datasetChangesetApplied = await applyOrSkip(logger, { datasetId }, () =>
        target.updateDataset(datasetId, changeset),
      );
    }
  }
  return {
    uploaded,
    refused: collected.refused,
    uploadDatasetId,
    fileChangesetApplied,
    datasetChangesetApplied,
  };
}

/** A changeset file that is a symlink is refused like a malformed one: logged, not applied. */
async function readChangesetFile(layout: WorkspaceLayout, file: string, logger: Logger): Promise<string> {
  try {
    return await readWorkspaceFile(layout, file);
  } catch (error) {
    if (!(error instanceof ActionWorkerError)) throw error;
    logger.error({ file: path.basename(file), reason: error.message }, 'output.changeset.refused');
    return '';
  }
}

/**
 * Applies one changeset. One that cannot apply (a field path through a string, a forbidden key) is the
 * action's mistake: logged and skipped, like a malformed changeset, without failing a run whose outputs
 * are already stored.
 */
async function applyOrSkip(
  logger: Logger,
  target: Record<string, string>,
  apply: () => Promise<void>,
): Promise<boolean> {
  try {
    await apply();
    return true;
  } catch (error) {
    if (!(error instanceof MetadataPathError)) throw error;
    logger.error({ ...target, reason: error.message }, 'output.changeset.not_applicable');
    return false;
  }
}
