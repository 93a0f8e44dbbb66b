import { MemoryTriggerStore } from '../support/memory-trigger-store.js';
import { describeTriggerStoreContract } from './trigger-store.contract.js';

// One store is every connection's: the triggers live in the instance.
const store = new MemoryTriggerStore();
describeTriggerStoreContract('MemoryTriggerStore', () => store);
