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

  /** The output set's upload transaction: the attempt. */
  private get transactionId(): string {
    return `${this.writeKey.invocationId}:${this.writeKey.attempt}`;
  }

  /**
   * One file_upload event per stored output set, released once its changesets are applied (a trigger's
   * condition sees the tags the action set). The transaction is the attempt (`<invocation>:<attempt>`).
   * The event was stored, held, with the files (`upload`): an attempt that dies, is cancelled or times out
   * before this point still has it handed on, once the hold runs out.
   */
  async uploadCommitted(_datasetId: string, files: readonly FileRecord[]): Promise<void> {
    if (this.changes === undefined || files.length === 0) return;
    await this.store.releaseAnnouncement(this.transactionId);
    this.changes.changed();
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
        // Held until uploadCommitted: announced with the files, released after the changesets.
        ...(this.changes === undefined
          ? {}
          : {
              announce: {
                eventId: this.transactionId,
                transactionId: this.transactionId,
                sourceInvocationId: this.writeKey.invocationId,
                hold: true,
              },
            }),
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

  /**
   * Applies a file changeset. Not announced by itself (10,000 outputs with tags would be 10,000 events): the
   * output set's one file_upload event follows the changesets, so a trigger's condition sees the tags.
   */
  async updateFile(fileId: string, update: FileUpdateRequest): Promise<void> {
    await this.store.updateFile(fileId, update);
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
