import type { MetadataChangeset } from '../domain/metadata-changeset.js';
import type { FileRecord } from '../domain/records.js';
import type { DataStore } from '../ports/data-store.js';
import type { TriggerEventSink } from '../ports/trigger-events.js';
import { UsageError } from '../domain/errors.js';
import type {
  FileUpdateRequest,
  OutputDataset,
  OutputFile,
  OutputTarget,
  UploadOptions,
} from '../ports/output-target.js';

/**
 * Outputs into a DataStore dataset, keyed by invocation and attempt so that a retried attempt leaves no
 * duplicates. No destination dataset means no upload (spec §13 5.1).
 */
export class StoreOutputTarget implements OutputTarget {
  constructor(
    private readonly store: DataStore,
    private readonly writeKey: { invocationId: string; attempt: number },
    private readonly origination: string,
    /** Where stored outputs are announced for trigger evaluation (issue 13); none: not announced. */
    private readonly events?: TriggerEventSink,
  ) {}

  /**
   * One file_upload event per stored output set: the transaction is the attempt (`<invocation>:<attempt>`),
   * the source the invocation (a trigger's own outputs never fire it again). A retried attempt stores the
   * same files again and announces its own transaction; evaluation is idempotent per trigger and data.
   */
  async uploadCommitted(datasetId: string, files: readonly FileRecord[]): Promise<void> {
    const first = files[0];
    if (this.events === undefined || first === undefined) return;
    const transactionId = `${this.writeKey.invocationId}:${this.writeKey.attempt}`;
    await this.events.emit({
      event_id: transactionId,
      org_id: first.org_id,
      dataset_id: datasetId,
      cause: 'file_upload',
      transaction_id: transactionId,
      file_ids: files.map((file) => file.file_id),
      source_invocation_id: this.writeKey.invocationId,
      occurred: new Date().toISOString(),
    });
  }

  async upload(
    datasetId: string | null,
    files: readonly OutputFile[],
    { signal, transfers }: UploadOptions,
  ): Promise<FileRecord[]> {
    if (datasetId === null || files.length === 0) return [];
    return this.store.putFiles(
      datasetId,
      // The whole list at once (the store batches it), with the sizes the output walk found.
      files.map((file) => ({
        relativePath: file.relativePath,
        sourcePath: file.hostPath,
        sizeBytes: file.sizeBytes,
      })),
      {
        writeKey: this.writeKey,
        origination: this.origination,
        signal,
        transfers,
      },
    );
  }

  /**
   * The dataset, created unless an earlier attempt made it. An existing one must be the invocation's own
   * org's: another org's dataset that happens to carry the id never receives the outputs.
   */
  async ensureDataset(dataset: OutputDataset): Promise<void> {
    let existing = await this.store.getDataset(dataset.datasetId);
    if (existing === undefined) {
      try {
        await this.store.createDataset(dataset);
        return;
      } catch (error) {
        // Created meanwhile by another attempt: what matters is that it exists, and whose it is.
        existing = await this.store.getDataset(dataset.datasetId);
        if (!(error instanceof UsageError) || existing === undefined) throw error;
      }
    }
    if (existing.org_id !== dataset.orgId) {
      throw new UsageError(
        `dataset ${dataset.datasetId} belongs to org ${existing.org_id}, not ${dataset.orgId}: the outputs are not stored in it`,
        'E_OUTPUT_REFUSED',
      );
    }
  }

  async updateFile(fileId: string, update: FileUpdateRequest): Promise<void> {
    await this.store.updateFile(fileId, update);
  }

  /** Applies the action's dataset changeset; a change of tags or metadata is announced (once per attempt). */
  async updateDataset(datasetId: string, changeset: MetadataChangeset): Promise<void> {
    const before = this.events === undefined ? undefined : await this.store.getDataset(datasetId);
    const after = await this.store.updateDataset(datasetId, changeset);
    if (this.events === undefined || before === undefined) return;
    if (JSON.stringify([before.tags, before.metadata]) === JSON.stringify([after.tags, after.metadata]))
      return;
    await this.events.emit({
      event_id: `${this.writeKey.invocationId}:${this.writeKey.attempt}:dataset-metadata`,
      org_id: after.org_id,
      dataset_id: datasetId,
      cause: 'dataset_metadata_update',
      transaction_id: null,
      file_ids: [],
      source_invocation_id: this.writeKey.invocationId,
      occurred: new Date().toISOString(),
    });
  }
}
