import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ActionWorkerError } from '../domain/errors.js';
import { MetadataPathError } from '../domain/metadata-changeset.js';
import { foldFileChangesetInSlices, parseDatasetChangesetInSlices } from '../domain/file-changeset.js';
import { stableId } from '../domain/ids.js';
import { UNSPECIFIED_DATA_SOURCE, type FileRecord } from '../domain/records.js';
import { OUTPUT_METADATA_DIR, type WorkspaceLayout } from '../domain/workspace-layout.js';
import type { ResolvedInput } from '../ports/input-resolver.js';
import type { OutputFile, OutputTarget } from '../ports/output-target.js';
import type { TransferObserver } from '../ports/transfer-observer.js';
import type { InvocationPlan } from './invocation-plan.js';
import { StorageExceededError } from './storage-guard.js';
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
  // One lstat per regular file (for its size), a few at a time; directories, links and the rest are told
  // apart by the directory entry itself.
  const limit = pLimit(COLLECT_CONCURRENCY);
  const walk = async (relativeDir: string): Promise<void> => {
    const entries = await readdir(path.join(outputDir, relativeDir), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const relativePaths = entries.map((entry) =>
      relativeDir === '' ? entry.name : `${relativeDir}/${entry.name}`,
    );
    const fileStats = await Promise.all(
      entries.map((entry, index) =>
        entry.isFile() && relativePaths[index] !== OUTPUT_METADATA_DIR
          ? limit(() => lstat(path.join(outputDir, relativePaths[index] ?? '')))
          : Promise.resolve(undefined),
      ),
    );
    for (const [index, entry] of entries.entries()) {
      const relativePath = relativePaths[index] ?? '';
      if (relativePath === OUTPUT_METADATA_DIR) continue;
      const hostPath = path.join(outputDir, relativePath);
      const stats = fileStats[index];
      if (entry.isSymbolicLink() || stats?.isSymbolicLink()) {
        refused.push({ relativePath, reason: 'symbolic links are not uploaded' });
      } else if (entry.name.includes('\\')) {
        // A backslash would read as a path separator in the dataset: ..\x would leave it, a\b would alias a/b.
        refused.push({ relativePath, reason: 'a name with a backslash is not uploaded' });
      } else if (entry.isDirectory()) await walk(relativePath);
      else if (stats?.isFile()) files.push({ relativePath, hostPath, sizeBytes: stats.size });
      else refused.push({ relativePath, reason: 'not a regular file' });
    }
  };
  await walk('');
  return { files, refused };
}

/**
 * The dataset outputs go to (spec §13 5.1): the explicit destination; else the one dataset every input
 * file came from; else the data source dataset; else none (then applyOutputs makes a new one).
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
  /** Whether the upload dataset was created for these outputs (there was nowhere else for them). */
  isNewDataset: boolean;
  fileChangesetApplied: boolean;
  datasetChangesetApplied: boolean;
}

export interface OutputOptions {
  /**
   * Masks the secrets in text the action wrote (paths, changeset keys) before it reaches a log or the
   * record. Default: nothing to mask.
   */
  mask?: (text: string) => string;
  /** The invocation's storage: outputs whose apparent sizes add up to more are refused. null: no limit. */
  storageLimitBytes?: number | null;
  /** Told the upload's total, then every increment of bytes stored. */
  transfers?: TransferObserver;
}

/** Output files stat-ed at once while collecting them. */
const COLLECT_CONCURRENCY = 16;

/** Paths named in a per-invocation summary log line, at most; the count says how many there were. */
const SUMMARY_PATHS = 5;

/**
 * Uploads the outputs, then folds and applies the file changeset and applies the dataset changeset.
 * Outputs with no dataset to go to (no destination, no single input dataset, no data source) go to a new
 * dataset, one per invocation, rather than being dropped.
 */
export async function applyOutputs(
  plan: InvocationPlan,
  hostLayout: WorkspaceLayout,
  inputs: ResolvedInput,
  target: OutputTarget,
  logger: Logger,
  signal: AbortSignal,
  options: OutputOptions = {},
): Promise<OutputResult> {
  const mask = options.mask ?? ((text: string) => text);
  const collected = await collectOutputs(hostLayout.outputDir);
  const refused = await maskRefusedInSlices(collected.refused, mask);
  if (refused.length > 0) {
    // One line however many: an action can leave a million links.
    logger.warn({ count: refused.length, refused: refused.slice(0, SUMMARY_PATHS) }, 'output.refused');
  }
  // Apparent sizes: a sparse file takes no room in the workspace but its full size in the store.
  const totalBytes = collected.files.reduce((sum, file) => sum + file.sizeBytes, 0);
  const limitBytes = options.storageLimitBytes ?? null;
  if (limitBytes !== null && totalBytes > limitBytes) {
    throw new StorageExceededError(totalBytes, limitBytes, 'the output files add up to');
  }
  let uploadDatasetId = chooseUploadDataset(plan, inputs);
  let isNewDataset = false;
  if (uploadDatasetId === null && collected.files.length > 0) {
    // The platform would skip the upload: the action's work would be lost without a word. One dataset per
    // invocation (the same for every attempt, so a retry replaces what an earlier one stored).
    uploadDatasetId = stableId('ds', 'outputs', plan.invocationId);
    await target.ensureDataset({
      datasetId: uploadDatasetId,
      orgId: plan.orgId,
      name: `${plan.action.name} outputs`,
      description: `outputs of ${plan.action.name}, invocation ${plan.invocationId}`,
    });
    isNewDataset = true;
    logger.info({ datasetId: uploadDatasetId }, 'output.dataset_created');
  }
  const uploaded = await target.upload(uploadDatasetId, collected.files, {
    signal,
    transfers: options.transfers,
  });
  logger.info({ count: uploaded.length, datasetId: uploadDatasetId }, 'output.uploaded');

  let fileChangesetApplied = false;
  const fold = await foldFileChangesetInSlices(
    await readChangesetFile(hostLayout, hostLayout.fileChangesetFile, logger),
    () => yieldToEventLoop(),
  );
  if (!fold.ok) {
    logger.error({ line: fold.lineNumber, reason: mask(fold.reason) }, 'output.file_changeset.malformed');
  } else {
    const byPath = new Map(uploaded.map((record) => [record.relative_path, record]));
    // One line per invocation for each kind of skipped entry, not one per entry: an action can name
    // hundreds of thousands of paths.
    const missing = new Summary(mask);
    const notApplicable = new Summary(mask);
    let applied = 0;
    for (const [relativePath, update] of fold.updates) {
      const record = byPath.get(relativePath);
      if (record === undefined) {
        missing.add(relativePath);
        continue;
      }
      signal.throwIfAborted();
      const error = await applyOrSkip(() => target.updateFile(record.file_id, update));
      if (error === undefined) applied += 1;
      else notApplicable.add(relativePath, error.message);
      // Applying to the local store may never wait on I/O for long runs; let timers (the lease) in.
      if ((applied + notApplicable.count) % 1000 === 0) await yieldToEventLoop();
    }
    if (missing.count > 0) {
      logger.info({ count: missing.count, paths: missing.paths }, 'output.file_changeset.no_such_output');
    }
    if (notApplicable.count > 0) {
      logger.error(
        { count: notApplicable.count, paths: notApplicable.paths, reason: notApplicable.firstReason },
        'output.changeset.not_applicable',
      );
    }
    fileChangesetApplied = fold.updates.size > 0;
  }

  let datasetChangesetApplied = false;
  const datasetChangeset = await parseDatasetChangesetInSlices(
    await readChangesetFile(hostLayout, hostLayout.datasetChangesetFile, logger),
    () => yieldToEventLoop(),
  );
  if (!datasetChangeset.ok) {
    // Policy (spec §4.5): a malformed dataset changeset is logged and skipped; the invocation still completes.
    logger.error({ reason: mask(datasetChangeset.reason) }, 'output.dataset_changeset.malformed');
  } else if (datasetChangeset.changeset !== null) {
    const datasetId = uploadDatasetId ?? dataSourceDataset(plan);
    if (datasetId === null) {
      logger.warn('output.dataset_changeset.no_dataset');
    } else {
      const { changeset } = datasetChangeset;
      const error = await applyOrSkip(() => target.updateDataset(datasetId, changeset));
      datasetChangesetApplied = error === undefined;
      if (error !== undefined) {
        logger.error({ datasetId, reason: mask(error.message) }, 'output.changeset.not_applicable');
      }
    }
  }
  // One announcement for the whole upload (one transaction), after its changesets: a trigger's condition
  // on the files' tags sees them.
  if (uploadDatasetId !== null && uploaded.length > 0)
    await target.uploadCommitted?.(uploadDatasetId, uploaded);
  return {
    uploaded,
    refused,
    uploadDatasetId,
    isNewDataset,
    fileChangesetApplied,
    datasetChangesetApplied,
  };
}

/** A count of skipped entries with the first few paths and the first reason, masked. */
class Summary {
  count = 0;
  readonly paths: string[] = [];
  firstReason: string | undefined;

  constructor(private readonly mask: (text: string) => string) {}

  add(relativePath: string, reason?: string): void {
    this.count += 1;
    if (this.paths.length < SUMMARY_PATHS) this.paths.push(this.mask(relativePath));
    if (reason !== undefined) this.firstReason ??= this.mask(reason);
  }
}

/** Refused paths masked per turn of the event loop, at most. */
const MASK_SLICE = 500;

/**
 * The refused outputs, their paths masked (they reach the terminal and the run's summary file, not only the
 * log), a slice at a time: an action can leave a million links, and masking them all in one go would block
 * the event loop that renews every invocation's lease for seconds.
 */
async function maskRefusedInSlices(
  entries: readonly RefusedOutput[],
  mask: (text: string) => string,
): Promise<RefusedOutput[]> {
  const masked: RefusedOutput[] = [];
  for (let start = 0; start < entries.length; start += MASK_SLICE) {
    if (start > 0) await yieldToEventLoop();
    for (const entry of entries.slice(start, start + MASK_SLICE)) {
      masked.push({ ...entry, relativePath: mask(entry.relativePath) });
    }
  }
  return masked;
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
 * Applies one changeset; returns why it could not apply. One that cannot apply (a field path through a
 * string, a forbidden key) is the action's mistake: logged and skipped, like a malformed changeset, without
 * failing a run whose outputs are already stored.
 */
async function applyOrSkip(apply: () => Promise<void>): Promise<MetadataPathError | undefined> {
  try {
    await apply();
    return undefined;
  } catch (error) {
    if (!(error instanceof MetadataPathError)) throw error;
    return error;
  }
}
