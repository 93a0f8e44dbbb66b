import { MemoryActionStore } from '../support/memory-action-store.js';
import { describeActionStoreContract } from './action-store.contract.js';

// One store is every connection's: the actions live in the instance.
const store = new MemoryActionStore();
describeActionStoreContract('MemoryActionStore', () => store);
