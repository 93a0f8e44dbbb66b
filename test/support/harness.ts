import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import { execa } from 'execa';
import { DockerContainerRuntime } from '../../src/adapters/docker/docker-container-runtime.js';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { type LocalRunResult, runLocal } from '../../src/app/local-run.js';
import type { LocalRunRequest } from '../../src/app/local-run-options.js';
import { WorkerSettings, type WorkerSettingsInput } from '../../src/config/worker-settings.js';
import { Labels } from '../../src/domain/container-labels.js';
import { type InvocationStatus, statusName } from '../../src/domain/invocation-status.js';
import { createLogger } from '../../src/observability/logger.js';
import { cliPath, projectRoot } from './paths.js';
import { eventually } from './poll.js';
import { removeTempDirs, tempDir, tmpfsTempDir } from './temp-dirs.js';
import { CLI_TEST_KEY_PREFIX_STEM } from './redis-stores.js';

export { eventually };

export const docker = new Docker();

export { removeTempDirs, tempDir, tmpfsTempDir };

export interface InProcessRun {
  result: LocalRunResult;
  store: LocalDataStore;
  stdout: string;
  stderr: string;
  statuses: string[];
  workspaceParent: string;
  /** Where secrets.json was kept (a tmpfs). */
  secretsDir: string;
}

/** Runs `action-worker run` in this process, capturing the action's output and the status transitions. */
export async function runInProcess(
  request: Partial<LocalRunRequest>,
  options: {
    env?: NodeJS.ProcessEnv;
    signal?: AbortSignal;
    forceSignal?: AbortSignal;
    settings?: WorkerSettingsInput;
    store?: LocalDataStore;
  } = {},
): Promise<InProcessRun> {
  const workspaceParent = await tempDir('ws');
  const settings = WorkerSettings.parse({
    storeDir: await tempDir('store'),
    cache: { dir: await tempDir('cache') },
    secretsTmpfsDir: await tmpfsTempDir('secrets'),
    ...options.settings,
    // No API of its own on the bridge gateway: tests keep to loopback (runtime-api-calls turns it on).
    roboto: { localApi: false, ...options.settings?.roboto },
    logs: { dir: await tempDir('logs'), ...options.settings?.logs },
    workspaceDir: workspaceParent,
  });
  const store = options.store ?? new LocalDataStore(settings.storeDir);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const statuses: string[] = [];
  const result = await runLocal(
    {
      datasets: [],
      files: [],
      fileIds: [],
      topics: [],
      params: [],
      secrets: [],
      keepWorkspace: false,
      dryRun: false,
      logLevel: 'info',
      ...request,
    },
    {
      runtime: new DockerContainerRuntime({ dockerConfigDir: settings.images.dockerConfigDir }),
      store,
      settings,
      logger: createLogger('error', { pretty: false }),
      env: options.env ?? {},
      cwd: await tempDir('cwd'),
    },
    {
      writeOutput: (stream, chunk) => {
        (stream === 'stdout' ? stdout : stderr).push(chunk);
        return Promise.resolve();
      },
      ...(options.forceSignal ? { forceSignal: options.forceSignal } : {}),
      onStatus: (status: InvocationStatus, detail) =>
        statuses.push(detail ? `${statusName(status)}: ${detail}` : statusName(status)),
    },
    options.signal ?? new AbortController().signal,
  );
  return {
    result,
    store,
    stdout: Buffer.concat(stdout).toString(),
    stderr: Buffer.concat(stderr).toString(),
    statuses,
    workspaceParent,
    secretsDir: settings.secretsTmpfsDir,
  };
}

/** Runs the built CLI as a user would. */
/** The key prefix of the CLI the tests run, unless a test gives its own: deleted by the global teardown. */
export const CLI_TEST_KEY_PREFIX = `${CLI_TEST_KEY_PREFIX_STEM}${process.pid}`;

export async function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  return execa('node', [cliPath, ...args], {
    cwd: options.cwd ?? projectRoot,
    env: {
      ACTION_WORKER_WORKSPACE_DIR: await tempDir('cli-ws'),
      ACTION_WORKER_STORE_DIR: await tempDir('cli-store'),
      ACTION_WORKER_CACHE_DIR: await tempDir('cli-cache'),
      ACTION_WORKER_SECRETS_TMPFS_DIR: await tmpfsTempDir('cli-secrets'),
      ACTION_WORKER_LOG_DIR: await tempDir('cli-logs'),
      // `run` serves no API of its own on the bridge gateway: tests keep to loopback.
      ACTION_WORKER_LOCAL_API: 'false',
      // What a command writes to Redis (an import's trigger event, …) under the tests' own prefix, which
      // the suite's teardown deletes, never under the default one.
      ACTION_WORKER_KEY_PREFIX: CLI_TEST_KEY_PREFIX,
      ...options.env,
    },
    extendEnv: true,
    reject: false,
    all: true,
    timeout: 120_000,
  });
}

/** Every container carrying our label, running or not. */
export async function managedContainers(): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${Labels.managed}=true`] } });
}

/** A throwaway action directory: action.json plus a Dockerfile FROM the local busybox image. */
export async function makeAction(
  name: string,
  config: Record<string, unknown>,
  dockerfileLines: string[],
  files: Record<string, string> = {},
): Promise<string> {
  const dir = await tempDir(`action-${name}`);
  await writeFile(path.join(dir, 'action.json'), JSON.stringify({ name, ...config }));
  await writeFile(
    path.join(dir, 'Dockerfile'),
    ['FROM action-worker/busybox:latest', ...dockerfileLines, ''].join('\n'),
  );
  for (const [file, content] of Object.entries(files)) await writeFile(path.join(dir, file), content);
  return dir;
}

/** Polls `probe` until it returns a value (not undefined) or the deadline passes. */

/** The running container this process started, once there is one. */
export async function ownRunningContainer(): Promise<Docker.ContainerInspectInfo> {
  const info = await eventually(
    async () => {
      const [container] = await docker.listContainers({
        filters: { label: [`${Labels.ownerPid}=${process.pid}`], status: ['running'] },
      });
      return container;
    },
    60_000,
    'a running action container',
  );
  return docker.getContainer(info.Id).inspect();
}
