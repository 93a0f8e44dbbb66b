import { statSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, realpath, rename, stat } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import { glob } from 'tinyglobby';
import { UsageError } from '../domain/errors.js';
import { randomId, stableId } from '../domain/ids.js';
import type { JsonObject } from '../domain/metadata-changeset.js';
import type { FileRecord } from '../domain/records.js';
import { OUTPUT_METADATA_DIR } from '../domain/workspace-layout.js';
import type { DataStore, DatasetRecord, PutFile } from '../ports/data-store.js';
import type { TransferObserver } from '../ports/transfer-observer.js';
import { TimeSlice } from '../util/time-slice.js';
import { writeJsonAtomic } from '../adapters/local/atomic-file.js';

/** A file's `PutFile.sourceStat`: `${size}:${mtimeNs}:${ino}:${ctimeNs}`, from `stat(…, { bigint: true })`. */
export function sourceStatOf(stats: BigIntStats): string {
  return `${stats.size}:${stats.mtimeNs}:${stats.ino}:${stats.ctimeNs}`;
}

/** A stable dataset id for a folder, so the same folder is the same dataset import after import. */
export async function datasetIdForFolder(folder: string): Promise<string> {
  return stableId('ds', await realpath(folder));
}

/** The dataset, created if there is none yet (a concurrent creator wins the race harmlessly). */
export async function ensureDataset(
  store: DataStore,
  datasetId: string,
  create: { orgId: string; name?: string; description?: string },
): Promise<{ dataset: DatasetRecord; isNew: boolean }> {
  const existing = await store.getDataset(datasetId);
  if (existing) return { dataset: existing, isNew: false };
  try {
    return { dataset: await store.createDataset({ ...create, datasetId }), isNew: true };
  } catch (error) {
    const raced = await store.getDataset(datasetId);
    if (raced) return { dataset: raced, isNew: false };
    throw error;
  }
}

/**
 * Imports every regular file below a folder (links are not followed) into a dataset: new paths become
 * files, changed ones a new version, unchanged ones are left alone. Files gone from the folder stay in the
 * dataset.
 */
export async function importFolder(
  store: DataStore,
  folder: string,
  options: {
    datasetId?: string;
    orgId: string;
    signal: AbortSignal;
    /** Told the import's total, then every increment of bytes stored (an import is an `upload`). */
    transfers?: TransferObserver;
    /**
     * Announce the import for trigger evaluation: one file_upload event (the import's id its transaction)
     * written into the store's outbox with the import's last files, listing the files it wrote.
     */
    announce?: boolean;
  },
): Promise<{
  dataset: DatasetRecord;
  files: FileRecord[];
  isNew: boolean;
  /** The import's own id: its write key and its upload transaction. */
  importId: string;
  /** The files this import wrote (new, or a new version): those an unchanged file's record is not. */
  changed: FileRecord[];
}> {
  if (!(await stat(folder).catch(() => undefined))?.isDirectory()) {
    throw new UsageError(`input folder "${folder}" does not exist or is not a directory`, 'E_INVALID_INPUT');
  }
  const root = await realpath(folder);
  const datasetId = options.datasetId ?? (await datasetIdForFolder(root));
  const { dataset, isNew } = await ensureDataset(store, datasetId, {
    orgId: options.orgId,
    name: path.basename(root),
    description: `imported from ${root}`,
  });
  const relativePaths = (
    await glob('**/*', { cwd: root, dot: true, onlyFiles: true, followSymbolicLinks: false })
  ).sort();
  // One stat per file, kept as the file's source stat: the store recognises an unchanged file by it without
  // reading it, and takes its size from it instead of a stat of its own. Synchronous, a slice of time at a
  // time: 15,000 stats sent one by one to the thread pool took 0.7 s, made here they take a tenth of that.
  const sources: PutFile[] = [];
  const slice = new TimeSlice();
  for (const relativePath of relativePaths) {
    await slice.yieldIfDue();
    options.signal.throwIfAborted();
    const sourcePath = path.join(root, relativePath);
    const stats = statSync(sourcePath, { bigint: true });
    if (stats.isFile()) sources.push({ relativePath, sourcePath, sourceStat: sourceStatOf(stats) });
  }
  const importId = randomId('import');
  const files = await store.putFiles(datasetId, sources, {
    // Each import is its own write: a changed file gets a new version, an unchanged one is left alone.
    writeKey: { invocationId: importId, attempt: 0 },
    origination: `action-worker import of ${root}`,
    skipUnchanged: true,
    signal: options.signal,
    transfers: options.transfers,
    ...(options.announce ? { announce: { eventId: importId, transactionId: importId } } : {}),
  });
  // A record this import wrote carries its write key as the upload id (domain/stored-records.ts).
  const changed = files.filter((file) => file.upload_id === `${importId}-0`);
  return { dataset, files, isNew, importId, changed };
}

/** `.metadata/action-worker.json` beside exported files: what the store knows about them. */
export interface ExportSummary {
  invocation_id?: string;
  status?: string;
  detail?: string | null;
  image?: { reference: string; id: string; digest: string | null } | null;
  dataset: { dataset_id: string | null; tags: string[]; metadata: JsonObject };
  files: {
    relative_path: string;
    file_id: string;
    version: number;
    size: number;
    description: string | null;
    tags: string[];
    metadata: JsonObject;
  }[];
  refused?: { relative_path: string; reason: string }[];
}

export const EXPORT_SUMMARY_FILE = path.posix.join(OUTPUT_METADATA_DIR, 'action-worker.json');

/**
 * Copies files out of the store into a folder at their dataset paths (each whole: temporary name, then
 * rename) and writes what the store knows about them, and about their dataset, to
 * `.metadata/action-worker.json`. Returns that file's path.
 */
export async function exportFiles(
  store: DataStore,
  fileIds: readonly string[],
  datasetId: string | null,
  folder: string,
  extra: Omit<ExportSummary, 'dataset' | 'files'> = {},
): Promise<string> {
  const files: ExportSummary['files'] = [];
  for (const fileId of fileIds) {
    const file = await store.getFile(fileId);
    if (file === undefined) throw new UsageError(`no file with id "${fileId}"`, 'E_INVALID_INPUT');
    const target = path.join(folder, ...file.record.relative_path.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    const partial = `${target}.partial-${process.pid}`;
    await copyFile(await store.contentPath(file), partial);
    // The store's copy is read-only; the exported one is the user's, an ordinary file.
    await chmod(partial, 0o644);
    await rename(partial, target);
    const { record } = file;
    files.push({
      relative_path: record.relative_path,
      file_id: record.file_id,
      version: record.version,
      size: record.size,
      description: record.description,
      tags: record.tags,
      metadata: record.metadata,
    });
  }
  const dataset = datasetId === null ? undefined : await store.getDataset(datasetId);
  const summary: ExportSummary = {
    ...extra,
    dataset: { dataset_id: datasetId, tags: dataset?.tags ?? [], metadata: dataset?.metadata ?? {} },
    files: files.sort((a, b) => (a.relative_path < b.relative_path ? -1 : 1)),
  };
  const summaryFile = path.join(folder, ...EXPORT_SUMMARY_FILE.split('/'));
  await writeJsonAtomic(summaryFile, summary);
  return summaryFile;
}

/** Fails unless the folder is missing or empty: exports never write over existing files. */
export async function assertEmptyOrMissing(dir: string, flag: string): Promise<void> {
  const entries = await readdir(dir).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR')
      throw new UsageError(`${flag} "${dir}" is not a directory`);
    throw error;
  });
  if (entries.length > 0) throw new UsageError(`${flag} "${dir}" is not empty; files are never written over`);
}
