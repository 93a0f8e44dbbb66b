import type { NewUploadTransaction, UploadTransaction } from '../domain/upload-transaction.js';

/**
 * API upload transactions (spec §11.2), shared by every `serve` replica: any replica may take a
 * transaction's bytes, progress or completion. A transaction is kept until its `expires` (completed or not)
 * and is then gone as if it never was.
 */
export interface UploadTransactionStore {
  /**
   * Keeps a new transaction, pending, with nothing reported, until its `expires`; undefined (nothing kept)
   * when its org has `maxPendingPerOrg` transactions not completed and not expired already. The count and
   * the creation are one step, so racing begins cannot pass the limit together.
   */
  create(
    transaction: NewUploadTransaction,
    limits?: { maxPendingPerOrg?: number },
  ): Promise<UploadTransaction | undefined>;
  /** How many of the org's transactions are neither completed nor expired. */
  countPending(orgId: string): Promise<number>;
  /** The transaction, or undefined when there is none (never was, or expired). */
  get(transactionId: string): Promise<UploadTransaction | undefined>;
  /**
   * Adds paths to those reported as arrived (a path reported again is kept once); the transaction after,
   * or undefined when there is none.
   */
  addReported(transactionId: string, paths: readonly string[]): Promise<UploadTransaction | undefined>;
  /**
   * Marks a pending transaction completing (a completed one stays completed) and keeps it at least until
   * `keepUntil` (ISO 8601), so that it cannot expire while its files are stored. The transaction after, or
   * undefined when there is none.
   */
  markCompleting(transactionId: string, keepUntil: string): Promise<UploadTransaction | undefined>;
  /**
   * Marks the transaction completed with the files it stored, at `completed` (ISO 8601); marking it again
   * keeps the first completion. The transaction after, or undefined when there is none.
   */
  markCompleted(
    transactionId: string,
    fileIds: readonly string[],
    completed: string,
  ): Promise<UploadTransaction | undefined>;
}
