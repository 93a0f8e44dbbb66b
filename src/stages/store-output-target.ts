import type { MetadataChangeset } from '../domain/metadata-changeset.js';
import type { FileRecord } from '../domain/records.js';
import type { ChangeAnnouncement, DataStore } from '../ports/data-store.js';
import type { ChangeNotifier } from '../ports/trigger-events.js';
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
    /**
     * Told after each change this target announces (issue 13): with it, the outputs and the changesets'
     * changes are announced for trigger evaluation through the store's outbox; without it, nothing is.
     */
    private readonly changes?: ChangeNotifier,
  ) {}

  /** What the attempt's announcements share: its lineage (a trigger's own outputs never fire it again). */
  private announcement(eventId: string): ChangeAnnouncement | undefined {
    if (this.changes === undefined) return undefined;
    return { eventId, sourceInvocationId: this.writeKey.invocationId };
  }

  /**
   * One file_upload event per stored output set, once its changesets are applied: the transaction is the
   * attempt (`<invocation>:<attempt>`). It goes into the store's outbox, so it survives this process; a
   * crash before it is a lost attempt, whose retry stores the same files again and announces them.
   */
  async uploadCommitted(datasetId: string, files: readonly FileRecord[]): Promise<void> {
    const transactionId = `${this.writeKey.invocationId}:${this.writeKey.attempt}`;
    const announce = this.announcement(transactionId);
    if (announce === undefined || files.length === 0) return;
    await this.store.announceUpload(
      datasetId,
      files.map((file) => file.file_id),
      { ...announce, transactionId },
    );
    this.changes?.changed();
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

  /** Applies a file changeset; a change of the file's tags or metadata is announced (once per attempt). */
  async updateFile(fileId: string, update: FileUpdateRequest): Promise<void> {
    const announce = this.announcement(
      `${this.writeKey.invocationId}:${this.writeKey.attempt}:file-metadata:${fileId}`,
    );
    await this.store.updateFile(fileId, update, announce);
    if (announce !== undefined) this.changes?.changed();
  }

  /** Applies the action's dataset changeset; a change of tags or metadata is announced (once per attempt). */
  async updateDataset(datasetId: string, changeset: MetadataChangeset): Promise<void> {
    const announce = this.announcement(
      `${this.writeKey.invocationId}:${this.writeKey.attempt}:dataset-metadata`,
    );
    await this.store.updateDataset(datasetId, changeset, {}, announce);
    if (announce !== undefined) this.changes?.changed();
  }
}
