import { Writable } from 'node:stream';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { StaticSecretStore } from '../../src/adapters/local/static-secret-store.js';
import { PLACEHOLDER_API_KEY, WorkerSettings } from '../../src/config/worker-settings.js';
import { ActionConfig } from '../../src/domain/action-config.js';
import { DEFAULT_COMPUTE_REQUIREMENTS } from '../../src/domain/compute-requirements.js';
import { EMPTY_CONTAINER_PARAMETERS } from '../../src/domain/container-parameters.js';
import { InfrastructureError } from '../../src/domain/errors.js';
import { InvocationStatus, statusName } from '../../src/domain/invocation-status.js';
import type { ContainerSpec } from '../../src/ports/container-runtime.js';
import type { InvocationCredentials } from '../../src/ports/invocation-credentials.js';
import type { OutputTarget } from '../../src/ports/output-target.js';
import { executeInvocation } from '../../src/stages/execute-invocation.js';
import {
  type InvocationPlan,
  type PipelineDeps,
  pipelineSettings,
} from '../../src/stages/invocation-plan.js';
import { StoreInputResolver } from '../../src/stages/store-input-resolver.js';
import { StoreOutputTarget } from '../../src/stages/store-output-target.js';
import { type FakeBehaviour, FakeContainerRuntime } from '../support/fake-container-runtime.js';
import { removeTempDirs, tempDir, tmpfsTempDir } from '../support/temp-dirs.js';

afterAll(removeTempDirs);

const IMAGE = 'fake/action:1';
const OUTPUT_FILE = '/roboto/ws/output/result.txt';

interface Pipeline {
  runtime: FakeContainerRuntime;
  deps: PipelineDeps;
  plan: InvocationPlan;
  controller: AbortController;
  force: AbortController;
  store: LocalDataStore;
  datasetId: string;
  /** The logger's lines, parsed. */
  logs: { msg: string; level: number }[];
}

/**
 * The whole pipeline of one attempt over the fake runtime and a local store in a temp dir: no Docker, no
 * Redis. `cancelAt`: the status whose recording aborts the attempt's signal.
 */
async function pipeline(
  behaviour: FakeBehaviour,
  options: {
    cancelAt?: InvocationStatus;
    timeoutMs?: number;
    outputs?: (target: OutputTarget) => OutputTarget;
    /** The API key the worker hands the action, masked like a secret. */
    apiKey?: string;
    credentials?: PipelineDeps['credentials'];
  } = {},
): Promise<Pipeline> {
  const dir = await tempDir('execute');
  const settings = WorkerSettings.parse({
    storeDir: path.join(dir, 'store'),
    cache: { dir: path.join(dir, 'cache') },
    secretsTmpfsDir: await tmpfsTempDir('execute-secrets'),
    logs: { dir: path.join(dir, 'logs') },
    workspaceDir: path.join(dir, 'ws'),
    container: { stopGraceMs: 300 },
    ...(options.apiKey === undefined ? {} : { roboto: { apiKey: options.apiKey, invocationTokens: false } }),
  });
  const store = new LocalDataStore(settings.storeDir);
  const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
  const runtime = new FakeContainerRuntime([IMAGE]);
  runtime.scriptNext(behaviour);
  const controller = new AbortController();
  const force = new AbortController();
  const logs: Pipeline['logs'] = [];
  const logger = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n'))
          if (line) logs.push(JSON.parse(line) as Pipeline['logs'][number]);
        callback();
      },
    }),
  );
  const plan: InvocationPlan = {
    invocationId: `iv_${Math.random().toString(36).slice(2, 10)}`,
    attempt: 1,
    orgId: 'og_1',
    action: ActionConfig.parse({ name: 'fake-action' }),
    image: { kind: 'reference', reference: IMAGE },
    parameterValues: {},
    input: null,
    dataSourceId: datasetId,
    uploadDestinationId: datasetId,
    computeRequirements: DEFAULT_COMPUTE_REQUIREMENTS,
    containerParameters: EMPTY_CONTAINER_PARAMETERS,
    timeoutMs: options.timeoutMs ?? 60_000,
    isDryRun: false,
    logLevel: 'INFO',
  };
  const target = new StoreOutputTarget(store, { invocationId: plan.invocationId, attempt: 1 }, 'test');
  const deps: PipelineDeps = {
    runtime,
    inputs: new StoreInputResolver(store, logger),
    outputs: options.outputs ? options.outputs(target) : target,
    secrets: new StaticSecretStore(new Map()),
    status: {
      record: (status) => {
        if (status === options.cancelAt) controller.abort();
        return Promise.resolve();
      },
    },
    logger,
    settings: pipelineSettings(settings, {
      workerId: 'w_test',
      owner: { host: 'h', pid: process.pid, workerId: 'w_test' },
      environmentLabel: 'TEST',
      keepWorkspace: false,
      logFile: null,
    }),
    onOutput: () => Promise.resolve(),
    forceSignal: force.signal,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  };
  return { runtime, deps, plan, controller, force, store, datasetId, logs };
}

function statuses(history: readonly { status: InvocationStatus; detail: string | null }[]): string[] {
  return history.map(({ status, detail }) =>
    detail ? `${statusName(status)}: ${detail}` : statusName(status),
  );
}

const writesOutput: FakeBehaviour = {
  files: { [OUTPUT_FILE]: 'done\n' },
  output: [{ stream: 'stdout', text: 'working\n' }],
};

describe('executeInvocation over a fake container runtime', () => {
  it('runs an action to Completed, its output uploaded, its log kept and its container removed', async () => {
    const p = await pipeline(writesOutput);
    const outcome = await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(statuses(outcome.history)).toEqual([
      'Scheduled',
      'Downloading',
      `Processing: running ${IMAGE}`,
      'Uploading',
      'Completed: 1 output file(s) uploaded',
    ]);
    expect(outcome.exit).toEqual({ kind: 'exited', exitCode: 0 });
    expect(outcome.log).toMatch(/ stdout +working\n$/);
    expect(outcome.uploaded.map((file) => file.relative_path)).toEqual(['result.txt']);
    expect(p.runtime.methods).toEqual(['create', 'attach', 'watch', 'start', 'wait', 'inspect', 'remove']);
    expect(p.runtime.liveContainers).toEqual([]);
  });

  it("masks output recovered from the engine's log like output delivered through the attachment", async () => {
    const apiKey = 'rk_recovered_0123456789abcdef';
    const p = await pipeline(
      { ...writesOutput, output: [{ stream: 'stdout', text: `key=${apiKey}\n` }], attachMisses: true },
      { apiKey },
    );
    const outcome = await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(outcome.status).toBe(InvocationStatus.Completed);
    expect(p.runtime.methods).toContain('logs');
    expect(outcome.log).toMatch(/ stdout +key=\S+\n$/);
    expect(outcome.log).not.toContain(apiKey);
  });

  it('cancelled while downloading: Cancelled, and no container is ever created', async () => {
    const p = await pipeline(writesOutput, { cancelAt: InvocationStatus.Downloading });
    const outcome = await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(statuses(outcome.history)).toEqual(['Scheduled', 'Downloading', 'Cancelled: cancelled']);
    expect(outcome.failure).toEqual({ reason: 'cancelled', code: 'E_CANCELLED', retryable: false });
    expect(p.runtime.calls).toEqual([]);
  });

  it('cancelled as processing begins: Cancelled, and the container is never started', async () => {
    const p = await pipeline(writesOutput, { cancelAt: InvocationStatus.Processing });
    const outcome = await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(statuses(outcome.history)).toEqual([
      'Scheduled',
      'Downloading',
      `Processing: running ${IMAGE}`,
      'Cancelled: cancelled',
    ]);
    expect(p.runtime.methods).not.toContain('start');
    expect(p.runtime.liveContainers).toEqual([]);
  });

  it('cancelled while the action runs: STOPSIGNAL, Cancelled, no outputs, the container removed', async () => {
    const p = await pipeline({ ...writesOutput, runMs: Infinity });
    const running = executeInvocation(p.plan, p.deps, p.controller.signal);
    await p.runtime.started();
    p.controller.abort();
    const outcome = await running;
    expect(statuses(outcome.history)).toEqual([
      'Scheduled',
      'Downloading',
      `Processing: running ${IMAGE}`,
      'Cancelled: cancelled',
    ]);
    expect(outcome.exit).toMatchObject({ kind: 'stopped', exitCode: 143 });
    expect(outcome.uploaded).toEqual([]);
    expect(p.runtime.methods.filter((method) => method.startsWith('kill'))).toEqual(['kill SIGTERM']);
    expect(p.runtime.methods.at(-1)).toBe('remove');
    expect(p.runtime.liveContainers).toEqual([]);
  });

  it('cancelled while the action ignores SIGTERM: SIGKILL after the grace period', async () => {
    const p = await pipeline({ runMs: Infinity, ignores: ['SIGTERM'] });
    const running = executeInvocation(p.plan, p.deps, p.controller.signal);
    await p.runtime.started();
    p.controller.abort();
    const outcome = await running;
    expect(outcome.status).toBe(InvocationStatus.Cancelled);
    expect(outcome.exit).toMatchObject({ kind: 'stopped', exitCode: 137 });
    expect(p.runtime.methods.filter((method) => method.startsWith('kill'))).toEqual([
      'kill SIGTERM',
      'kill SIGKILL',
    ]);
  });

  it('cancelled and forced: SIGKILL at once, without the grace period', async () => {
    const p = await pipeline({ runMs: Infinity, ignores: ['SIGTERM'] });
    const running = executeInvocation(p.plan, p.deps, p.controller.signal);
    await p.runtime.started();
    p.force.abort();
    p.controller.abort();
    const outcome = await running;
    expect(outcome.status).toBe(InvocationStatus.Cancelled);
    expect(p.runtime.methods.filter((method) => method.startsWith('kill'))).toEqual(['kill SIGKILL']);
  });

  it('cancelled while the outputs upload: Cancelled, nothing stored', async () => {
    const p = await pipeline(writesOutput, {
      outputs: (target) => ({
        ensureDataset: (...args) => target.ensureDataset(...args),
        updateFile: (...args) => target.updateFile(...args),
        updateDataset: (...args) => target.updateDataset(...args),
        upload: (datasetId, files, options) => {
          p.controller.abort();
          return target.upload(datasetId, files, options);
        },
      }),
    });
    const outcome = await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(statuses(outcome.history)).toEqual([
      'Scheduled',
      'Downloading',
      `Processing: running ${IMAGE}`,
      'Uploading',
      'Cancelled: cancelled',
    ]);
    expect(outcome.uploaded).toEqual([]);
    expect(await p.store.listFiles(p.datasetId)).toEqual([]);
    expect(p.runtime.liveContainers).toEqual([]);
  });

  it('times out: the stop ladder runs, Failed with E_TIMEOUT, not retryable', async () => {
    const p = await pipeline({ runMs: Infinity }, { timeoutMs: 1_000 });
    const outcome = await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(statuses(outcome.history).at(-1)).toBe('Failed: timed out after 1 s');
    expect(outcome.exit).toEqual({ kind: 'timed-out', timeoutMs: 1_000, exitCode: 143 });
    expect(outcome.failure).toEqual({ reason: 'timeout', code: 'E_TIMEOUT', retryable: false });
    expect(p.runtime.liveContainers).toEqual([]);
  });

  it('killed by the OOM killer: Failed with E_OOM and the limit, not retryable', async () => {
    const p = await pipeline({ output: [{ stream: 'stdout', text: 'filling memory\n' }], oom: true });
    const outcome = await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(statuses(outcome.history).at(-1)).toBe(
      `Failed: out of memory (limit ${DEFAULT_COMPUTE_REQUIREMENTS.memory} MiB)`,
    );
    expect(outcome.exit).toMatchObject({ kind: 'oom', exitCode: 137 });
    expect(outcome.failure).toEqual({ reason: 'oom', code: 'E_OOM', retryable: false });
  });

  it('an engine that stops under the action: Failed with E_ENGINE_RESTARTED, retryable', async () => {
    const p = await pipeline({ output: [{ stream: 'stdout', text: 'begin\n' }], engineStops: true });
    const outcome = await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(outcome.status).toBe(InvocationStatus.Failed);
    expect(outcome.failure).toEqual({
      reason: 'engine_restarted',
      code: 'E_ENGINE_RESTARTED',
      retryable: true,
    });
  });

  it('a container whose removal fails: the run keeps its result, the failure is logged', async () => {
    const p = await pipeline({ ...writesOutput, failRemove: true });
    const outcome = await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(outcome.status).toBe(InvocationStatus.Completed);
    expect(outcome.uploaded).toHaveLength(1);
    expect(p.runtime.liveContainers).toHaveLength(1);
    expect(p.logs.map((line) => line.msg)).toContain('container.remove_failed');
  });

  it('an engine error creating the container: Failed, retryable, nothing left behind', async () => {
    const p = await pipeline({
      createError: new InfrastructureError('create container: engine exploded', 'E_DOCKER'),
    });
    const outcome = await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(statuses(outcome.history).at(-1)).toBe('Failed: action failed: create container: engine exploded');
    expect(outcome.failure?.retryable).toBe(true);
    expect(p.runtime.liveContainers).toEqual([]);
  });
});

/** Credentials that hand out one known token per attempt and note what happens to it. */
function recordingCredentials(token: string | undefined): {
  credentials: InvocationCredentials;
  events: string[];
  issued: { invocationId: string; orgId: string; attempt: number; expires: Date }[];
} {
  const events: string[] = [];
  const issued: { invocationId: string; orgId: string; attempt: number; expires: Date }[] = [];
  return {
    events,
    issued,
    credentials: {
      issue: (invocation) => {
        issued.push(invocation);
        events.push('issue');
        if (token === undefined) return Promise.resolve(undefined);
        return Promise.resolve({
          token,
          revoke: () => {
            events.push('revoke');
            return Promise.resolve();
          },
        });
      },
    },
  };
}

/** The specs the runtime was asked to create containers from. */
function recordSpecs(runtime: FakeContainerRuntime): ContainerSpec[] {
  const specs: ContainerSpec[] = [];
  const create = runtime.createContainer.bind(runtime);
  runtime.createContainer = (spec) => {
    specs.push(spec);
    return create(spec);
  };
  return specs;
}

describe('executeInvocation with per-invocation API tokens', () => {
  const TOKEN = 'awt_0123456789ab_per-invocation-token-secret-0123456789abcdefghij';

  it('hands the attempt its own token as ROBOTO_API_KEY, masks it and revokes it before the final status', async () => {
    const { credentials, events, issued } = recordingCredentials(TOKEN);
    const p = await pipeline(
      { ...writesOutput, output: [{ stream: 'stdout', text: `key=${TOKEN}\n` }] },
      { apiKey: 'static-key-shared-by-every-container', credentials },
    );
    const specs = recordSpecs(p.runtime);
    const record = p.deps.status.record.bind(p.deps.status);
    p.deps.status = {
      record: async (status, detail, failure) => {
        events.push(statusName(status));
        await record(status, detail, failure);
      },
    };
    const outcome = await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(outcome.status).toBe(InvocationStatus.Completed);
    expect(specs[0]?.env).toContain(`ROBOTO_API_KEY=${TOKEN}`);
    expect(specs[0]?.env.join('\n')).not.toContain('static-key-shared-by-every-container');
    expect(outcome.log).not.toContain(TOKEN);
    expect(outcome.log).toMatch(/key=\*\*\*/);
    expect(issued).toMatchObject([{ invocationId: p.plan.invocationId, orgId: 'og_1', attempt: 1 }]);
    // Issued once the workspace is set up, revoked as soon as the container is gone: before Uploading.
    expect(events).toEqual([
      'Scheduled',
      'Downloading',
      'issue',
      'Processing',
      'revoke',
      'Uploading',
      'Completed',
    ]);
  });

  it("points the action at the token's own endpoint when it has one (run's in-process API)", async () => {
    const { credentials } = recordingCredentials(TOKEN);
    const issue = credentials.issue.bind(credentials);
    credentials.issue = async (invocation) => ({
      ...(await issue(invocation))!,
      serviceEndpoint: 'http://127.0.0.1:41234',
    });
    const p = await pipeline(writesOutput, { credentials });
    const specs = recordSpecs(p.runtime);
    await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(specs[0]?.env).toContain('ROBOTO_SERVICE_ENDPOINT=http://127.0.0.1:41234');
  });

  it('revokes the token of an attempt cancelled while its action runs', async () => {
    const { credentials, events } = recordingCredentials(TOKEN);
    const p = await pipeline(
      { ...writesOutput, runMs: Infinity },
      { credentials, cancelAt: InvocationStatus.Processing },
    );
    const outcome = await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(outcome.status).toBe(InvocationStatus.Cancelled);
    expect(events).toEqual(['issue', 'revoke']);
  });

  it('an org the API does not know: no usable key, and never the static one', async () => {
    const { credentials } = recordingCredentials(undefined);
    const p = await pipeline(writesOutput, { apiKey: 'static-key-shared-by-every-container', credentials });
    const specs = recordSpecs(p.runtime);
    const outcome = await executeInvocation(p.plan, p.deps, p.controller.signal);
    expect(outcome.status).toBe(InvocationStatus.Completed);
    expect(specs[0]?.env).toContain(`ROBOTO_API_KEY=${PLACEHOLDER_API_KEY}`);
    expect(specs[0]?.env.join('\n')).not.toContain('static-key-shared-by-every-container');
    expect(p.logs.map((line) => line.msg)).toContain('run.credentials_unknown_org');
  });
});
