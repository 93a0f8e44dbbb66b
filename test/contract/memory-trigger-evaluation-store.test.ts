import { MemoryTriggerEvaluationStore } from '../support/memory-trigger-evaluation-store.js';
import { describeTriggerEvaluationStoreContract } from './trigger-evaluation-store.contract.js';

// One store is every connection's: the evaluations live in the instance.
const store = new MemoryTriggerEvaluationStore();
describeTriggerEvaluationStoreContract('MemoryTriggerEvaluationStore', () => store);
