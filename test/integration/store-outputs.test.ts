import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { DockerContainerRuntime } from '../../src/adapters/docker/docker-container-runtime.js';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { StaticSecretStore } from '../../src/adapters/local/static-secret-store.js';
import { WorkerSettings } from '../../src/config/worker-settings.js';
import { ActionConfig } from '../../src/domain/action-config.js';
import { effectiveComputeRequirements } from '../../src/domain/compute-requirements.js';
import { mergeContainerParameters } from '../../src/domain/container-parameters.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { createLogger } from '../../src/observability/logger.js';
import { executeInvocation } from '../../src/stages/execute-invocation.js';
import {
  type InvocationPlan,
  type PipelineDeps,
  pipelineSettings,
} from '../../src/stages/invocation-plan.js';
import { StoreInputResolver } from '../../src/stages/store-input-resolver.js';
import { StoreOutputTarget } from '../../src/stages/store-output-target.js';
import { removeTempDirs, tempDir } from '../support/harness.js';
import { BASE_IMAGE } from '../support/paths.js';

const WRITE_OUTPUTS = [
  'echo "$ATTEMPT_MARK" > "$ROBOTO_OUTPUT_DIR/a.txt"',
  'mkdir -p "$ROBOTO_OUTPUT_DIR/sub" && echo b > "$ROBOTO_OUTPUT_DIR/sub/b.txt"',
  `printf '%s\\n' '{"relative_path":"a.txt","update":{"description":"from the action","metadata_changeset":{"put_tags":["made"]}}}' > "$ROBOTO_FILE_METADATA_CHANGESET_FILE"`,
  `echo '{"put_tags":["processed"]}' > "$ROBOTO_DATASET_METADATA_CHANGESET_FILE"`,
].join(' && ');

async function attempt(
  store: LocalDataStore,
  datasetId: string,
  invocationId: string,
  attemptNumber: number,
) {
  const action = ActionConfig.parse({
    name: 'writer',
    container_parameters: {
      entry_point: ['/bin/sh', '-c'],
      command: [WRITE_OUTPUTS],
      env_vars: { ATTEMPT_MARK: `attempt ${attemptNumber}` },
    },
  });
  const plan: InvocationPlan = {
    invocationId,
    attempt: attemptNumber,
    orgId: 'og_1',
    action,
    image: { kind: 'reference', reference: BASE_IMAGE },
    parameterValues: {},
    input: null,
    dataSourceId: datasetId,
    uploadDestinationId: null,
    computeRequirements: effectiveComputeRequirements(action.compute_requirements, null),
    containerParameters: mergeContainerParameters(action.container_parameters, null),
    timeoutMs: 60_000,
    isDryRun: false,
    logLevel: 'INFO',
  };
  const settings = WorkerSettings.parse({
    workspaceDir: await tempDir('ws'),
    cache: { dir: await tempDir('cache') },
  });
  const logger = createLogger('error', { pretty: false });
  const deps: PipelineDeps = {
    runtime: new DockerContainerRuntime(),
    inputs: new StoreInputResolver(store, logger),
    outputs: new StoreOutputTarget(store, { invocationId, attempt: attemptNumber }, 'test'),
    secrets: new StaticSecretStore(new Map()),
    status: { record: () => Promise.resolve() },
    logger,
    settings: pipelineSettings(settings, {
      workerId: 'test',
      owner: { host: os.hostname(), pid: process.pid, workerId: 'test' },
      environmentLabel: 'test',
      keepWorkspace: false,
      logFile: null,
    }),
    onOutput: () => Promise.resolve(),
  };
  return executeInvocation(plan, deps, new AbortController().signal);
}

describe('outputs in the dataset store', () => {
  afterAll(removeTempDirs);

  it('leaves no duplicate when an attempt is retried, and versions writes of other invocations', async () => {
    const store = new LocalDataStore(await tempDir('store'));
    const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });

    const earlier = await attempt(store, datasetId, 'iv_earlier', 1);
    expect(earlier.status).toBe(InvocationStatus.Completed);
    const first = await attempt(store, datasetId, 'iv_retried', 1);
    const retry = await attempt(store, datasetId, 'iv_retried', 2);
    expect([first.status, retry.status]).toEqual([InvocationStatus.Completed, InvocationStatus.Completed]);

    const files = await store.listFiles(datasetId);
    // One file per path, one version per invocation: the retry replaced what attempt 1 wrote (a.txt
    // changed) or left it as it was (sub/b.txt did not).
    expect(files.map(({ record }) => [record.relative_path, record.version, record.upload_id])).toEqual([
      ['a.txt', 2, 'iv_retried-2'],
      ['sub/b.txt', 2, 'iv_retried-1'],
    ]);
    const a = files.find(({ record }) => record.relative_path === 'a.txt')!;
    expect(await readFile(await store.contentPath(a), 'utf8')).toBe('attempt 2\n');
    // The folded changeset and the dataset changeset, applied in the store.
    expect(a.record).toMatchObject({ description: 'from the action', tags: ['made'] });
    expect((await store.getDataset(datasetId))?.tags).toEqual(['processed']);
  });
});
