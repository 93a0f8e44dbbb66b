import { constants } from 'node:fs';
import { copyFile, mkdir, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { stableId } from '../../domain/ids.js';
import { applyChangeset, type JsonObject, type MetadataChangeset } from '../../domain/metadata-changeset.js';
import type { FileRecord } from '../../domain/records.js';
import { OUTPUT_METADATA_DIR } from '../../domain/workspace-layout.js';
import type { FileUpdateRequest, OutputFile, OutputTarget } from '../../ports/output-target.js';

/** The file the local run writes beside the outputs, documented in the README. */
export const OUTPUT_SUMMARY_FILE = path.posix.join(OUTPUT_METADATA_DIR, 'action-worker.json');

export interface OutputSummary {
  invocation_id: string;
  status: string;
  detail: string | null;
  /** The image that ran: the reference asked for, its id, and its registry digest when it has one. */
  image: { reference: string; id: string; digest: string | null } | null;
  dataset: { dataset_id: string | null; tags: string[]; metadata: JsonObject };
  files: {
    relative_path: string;
    file_id: string;
    size: number;
    description: string | null;
    tags: string[];
    metadata: JsonObject;
  }[];
  refused: { relative_path: string; reason: string }[];
}

/**
 * The local run's output target: a folder on this host. Uploading copies each output file below the
 * folder; file and dataset changesets are applied to records kept in memory and written out by
 * {@link writeSummary} as `.metadata/action-worker.json`. The outputs' own paths never collide with it,
 * because output/.metadata/ is never uploaded.
 */
export class FolderOutputTarget implements OutputTarget {
  private readonly files = new Map<string, FileRecord>();
  private dataset: { datasetId: string | null; tags: string[]; metadata: JsonObject } = {
    datasetId: null,
    tags: [],
    metadata: {},
  };

  constructor(
    private readonly folder: string,
    private readonly orgId: string,
  ) {}

  async upload(
    datasetId: string | null,
    files: readonly OutputFile[],
    signal: AbortSignal,
  ): Promise<FileRecord[]> {
    this.dataset.datasetId ??= datasetId;
    const now = new Date().toISOString();
    const user = os.userInfo().username;
    const records: FileRecord[] = [];
    for (const file of files) {
      signal.throwIfAborted();
      const target = path.join(this.folder, ...file.relativePath.split('/'));
      await mkdir(path.dirname(target), { recursive: true });
      // Copy to a temporary name, then rename: a file in the folder is always whole.
      const partial = `${target}.partial-${process.pid}`;
      await copyFile(file.hostPath, partial, constants.COPYFILE_FICLONE);
      await rename(partial, target);
      const record: FileRecord = {
        association_id: datasetId ?? '',
        created: now,
        created_by: user,
        description: null,
        device_id: null,
        file_id: stableId('fl', this.folder, file.relativePath),
        fs_type: 'file',
        ingestion_status: 'not_ingested',
        metadata: {},
        modified: now,
        modified_by: user,
        name: path.posix.basename(file.relativePath),
        org_id: this.orgId,
        origination: 'action-worker',
        parent_id: null,
        relative_path: file.relativePath,
        size: file.sizeBytes,
        status: 'available',
        storage_type: 'uploaded',
        tags: [],
        upload_id: 'NO_ID',
        uri: pathToFileURL(target).href,
        version: 1,
      };
      this.files.set(record.file_id, record);
      records.push(record);
    }
    return records;
  }

  updateFile(fileId: string, update: FileUpdateRequest): Promise<void> {
    const record = this.files.get(fileId);
    if (record === undefined) return Promise.reject(new Error(`no output file with id ${fileId}`));
    if (update.description !== undefined) record.description = update.description;
    if (update.metadataChangeset) {
      const applied = applyChangeset(record, update.metadataChangeset);
      record.tags = applied.tags;
      record.metadata = applied.metadata;
    }
    return Promise.resolve();
  }

  updateDataset(datasetId: string, changeset: MetadataChangeset): Promise<void> {
    const applied = applyChangeset(this.dataset, changeset);
    this.dataset = { datasetId, ...applied };
    return Promise.resolve();
  }

  summary(
    invocationId: string,
    outcome: {
      status: string;
      detail: string | null;
      image: OutputSummary['image'];
      refused: readonly { relativePath: string; reason: string }[];
    },
  ): OutputSummary {
    const { status, detail, image, refused } = outcome;
    return {
      invocation_id: invocationId,
      status,
      detail,
      image,
      dataset: {
        dataset_id: this.dataset.datasetId,
        tags: this.dataset.tags,
        metadata: this.dataset.metadata,
      },
      files: [...this.files.values()]
        .sort((a, b) => (a.relative_path < b.relative_path ? -1 : 1))
        .map((record) => ({
          relative_path: record.relative_path,
          file_id: record.file_id,
          size: record.size,
          description: record.description,
          tags: record.tags,
          metadata: record.metadata,
        })),
      refused: refused.map((entry) => ({ relative_path: entry.relativePath, reason: entry.reason })),
    };
  }

  /** Writes the summary atomically and returns its path. */
  async writeSummary(summary: OutputSummary): Promise<string> {
    const target = path.join(this.folder, ...OUTPUT_SUMMARY_FILE.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    const partial = `${target}.partial-${process.pid}`;
    await writeFile(partial, `${JSON.stringify(summary, null, 2)}\n`);
    await rename(partial, target);
    return target;
  }
}
