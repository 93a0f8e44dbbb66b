import path from 'node:path';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { ActionConfig } from '../../src/domain/action-config.js';
import { DEFAULT_COMPUTE_REQUIREMENTS } from '../../src/domain/compute-requirements.js';
import { EMPTY_CONTAINER_PARAMETERS } from '../../src/domain/container-parameters.js';
import { UNSPECIFIED_DATA_SOURCE } from '../../src/domain/records.js';
import type { WorkspaceLayout } from '../../src/domain/workspace-layout.js';
import type { InvocationPlan } from '../../src/stages/invocation-plan.js';
import { createWorkspace } from '../../src/stages/workspace.js';
import { tempDir } from './temp-dirs.js';

export interface OutputFixture {
  dir: string;
  layout: WorkspaceLayout;
  store: LocalDataStore;
  /** A dataset of the store; the plan's upload destination unless `uploadTo` is 'none'. */
  datasetId: string;
  plan: InvocationPlan;
}

/**
 * A workspace, a store with one dataset and the plan of an invocation without inputs, for unit tests of the
 * output stage. `uploadTo: 'none'`: an invocation with no destination for its outputs.
 */
export async function outputFixture(
  invocationId: string,
  uploadTo: 'dataset' | 'none' = 'dataset',
): Promise<OutputFixture> {
  const dir = await tempDir('output-stage');
  const layout = await createWorkspace(path.join(dir, 'ws'), invocationId, 1, {
    host: 'h',
    pid: 1,
    workerId: 'w',
  });
  const store = new LocalDataStore(path.join(dir, 'store'));
  const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
  const plan: InvocationPlan = {
    invocationId,
    attempt: 1,
    orgId: 'og_1',
    action: ActionConfig.parse({ name: 'a' }),
    image: { kind: 'reference', reference: 'x' },
    parameterValues: {},
    input: null,
    dataSourceId: uploadTo === 'dataset' ? datasetId : UNSPECIFIED_DATA_SOURCE,
    uploadDestinationId: uploadTo === 'dataset' ? datasetId : null,
    computeRequirements: DEFAULT_COMPUTE_REQUIREMENTS,
    containerParameters: EMPTY_CONTAINER_PARAMETERS,
    timeoutMs: 60_000,
    isDryRun: false,
    logLevel: 'INFO',
  };
  return { dir, layout, store, datasetId, plan };
}
