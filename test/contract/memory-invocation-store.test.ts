import { MemoryInvocationStore } from '../support/memory-invocation-store.js';
import { describeInvocationStoreContract } from './invocation-store.contract.js';

// One store is every host's: the records live in the instance.
const store = new MemoryInvocationStore();
describeInvocationStoreContract('MemoryInvocationStore', () => store);
