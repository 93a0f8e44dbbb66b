import type { NewUploadTransaction, UploadTransaction } from '../../src/domain/upload-transaction.js';
import type { UploadTransactionStore } from '../../src/ports/upload-transaction-store.js';

/** The UploadTransactionStore of unit tests: transactions live in the instance, until their `expires`. */
export class MemoryUploadTransactionStore implements UploadTransactionStore {
  private readonly transactions = new Map<string, UploadTransaction>();

  constructor(private readonly now: () => number = Date.now) {}

  private live(transactionId: string): UploadTransaction | undefined {
    const found = this.transactions.get(transactionId);
    if (found !== undefined && Date.parse(found.expires) <= this.now()) {
      this.transactions.delete(transactionId);
      return undefined;
    }
    return found;
  }

  private pendingOf(orgId: string): number {
    return [...this.transactions.keys()].filter((id) => {
      const found = this.live(id);
      return found !== undefined && found.org_id === orgId && found.status !== 'completed';
    }).length;
  }

  countPending(orgId: string): Promise<number> {
    return Promise.resolve(this.pendingOf(orgId));
  }

  create(
    transaction: NewUploadTransaction,
    limits: { maxPendingPerOrg?: number } = {},
  ): Promise<UploadTransaction | undefined> {
    if (this.live(transaction.transaction_id) !== undefined) {
      return Promise.reject(new Error(`upload transaction ${transaction.transaction_id} exists already`));
    }
    const max = limits.maxPendingPerOrg;
    if (max !== undefined && this.pendingOf(transaction.org_id) >= max) return Promise.resolve(undefined);
    const made: UploadTransaction = {
      ...structuredClone(transaction),
      status: 'pending',
      reported: [],
      file_ids: [],
      completed: null,
    };
    this.transactions.set(made.transaction_id, made);
    return Promise.resolve(structuredClone(made));
  }

  get(transactionId: string): Promise<UploadTransaction | undefined> {
    const found = this.live(transactionId);
    return Promise.resolve(found === undefined ? undefined : structuredClone(found));
  }

  addReported(transactionId: string, paths: readonly string[]): Promise<UploadTransaction | undefined> {
    const found = this.live(transactionId);
    if (found !== undefined) found.reported = [...new Set([...found.reported, ...paths])].sort();
    return this.get(transactionId);
  }

  markCompleting(transactionId: string, keepUntil: string): Promise<UploadTransaction | undefined> {
    const found = this.live(transactionId);
    if (found !== undefined && found.status !== 'completed') {
      found.status = 'completing';
      if (Date.parse(keepUntil) > Date.parse(found.expires)) found.expires = keepUntil;
    }
    return this.get(transactionId);
  }

  markCompleted(
    transactionId: string,
    fileIds: readonly string[],
    completed: string,
  ): Promise<UploadTransaction | undefined> {
    const found = this.live(transactionId);
    if (found !== undefined && found.status !== 'completed') {
      found.status = 'completed';
      found.file_ids = [...fileIds];
      found.completed = completed;
    }
    return this.get(transactionId);
  }
}
