import { MemoryUploadTransactionStore } from '../support/memory-upload-transaction-store.js';
import { describeUploadTransactionStoreContract } from './upload-transaction-store.contract.js';

// One store is every connection's: the transactions live in the instance.
const store = new MemoryUploadTransactionStore();
describeUploadTransactionStoreContract('MemoryUploadTransactionStore', () => store);
