import { MemoryTenancyStore } from '../support/memory-tenancy-store.js';
import { describeTenancyStoreContract } from './tenancy-store.contract.js';

// One store is every connection's: the records live in the instance.
const store = new MemoryTenancyStore();
describeTenancyStoreContract(
  'MemoryTenancyStore',
  () => store,
  () => Promise.resolve(store.storedText()),
);
