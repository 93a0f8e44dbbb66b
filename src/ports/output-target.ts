import type { MetadataChangeset } from '../domain/metadata-changeset.js';
import type { FileRecord } from '../domain/records.js';
import type { TransferObserver } from './transfer-observer.js';

export interface OutputFile {
  /** Path relative to the output directory, forward slashes; also the dataset path. */
  relativePath: string;
  hostPath: string;
  sizeBytes: number;
}

export interface FileUpdateRequest {
  /** undefined leaves the description alone; null clears it. */
  description?: string | null;
  metadataChangeset?: MetadataChangeset;
}

/** A dataset made for an invocation's outputs when they have nowhere else to go. */
export interface OutputDataset {
  datasetId: string;
  orgId: string;
  name: string;
  description: string;
}

export interface UploadOptions {
  signal: AbortSignal;
  /** Told the upload's total, then every increment of bytes stored. */
  transfers?: TransferObserver;
}

/** Where an invocation's outputs go and where their metadata is applied (spec §13 step 5). */
export interface OutputTarget {
  /** Stores the output files in the dataset; returns their records (ids used for the file changeset). */
  upload(
    datasetId: string | null,
    files: readonly OutputFile[],
    options: UploadOptions,
  ): Promise<FileRecord[]>;
  /** Creates the dataset unless it exists (an earlier attempt of the same invocation may have made it). */
  ensureDataset(dataset: OutputDataset): Promise<void>;
  updateFile(fileId: string, update: FileUpdateRequest): Promise<void>;
  updateDataset(datasetId: string, changeset: MetadataChangeset): Promise<void>;
  /**
   * Told once the output stage is done with the files it uploaded (their changesets applied): the upload
   * is then announced for trigger evaluation, when the target announces anything.
   */
  uploadCommitted?(datasetId: string, files: readonly FileRecord[]): Promise<void>;
}
