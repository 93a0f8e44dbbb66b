import os from 'node:os';
import type Docker from 'dockerode';
import { execa } from 'execa';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { InvocationQueue } from '../../src/adapters/bullmq/invocation-queue.js';
import { DockerContainerRuntime } from '../../src/adapters/docker/docker-container-runtime.js';
import type { RedisInvocationStore } from '../../src/adapters/redis/redis-invocation-store.js';
import { Reconciler } from '../../src/app/daemon/reconciler.js';
import { collectGarbage, currentPidNamespace, isLiveLocalProcess } from '../../src/app/garbage-collector.js';
import { type Deployment, HelperPurpose, Labels, helperLabels } from '../../src/domain/container-labels.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { docker, removeTempDirs, tempDir } from '../support/harness.js';
import { BASE_IMAGE } from '../support/paths.js';

/** The pid of a process that has certainly exited. */
async function deadPid(): Promise<number> {
  const child = await execa('sh', ['-c', 'echo $$']);
  return Number(child.stdout);
}

/** A test-only marker, so cleanup finds exactly this file's helpers. */
const TEST_LABEL = 'dev.action-worker.test.helper-gc';
const testRun = `${process.pid}-${Date.now()}`;

/** A helper's labels, as the pipeline gives them, for attempt 1 of `invocationId` run by `owner`. */
function labelsFor(
  invocationId: string,
  owner: { pid: number; workerId: string; pidNamespace?: string; deployment?: Deployment },
): Record<string, string> {
  return helperLabels(
    HelperPurpose.imageUser,
    { workerId: owner.workerId, invocationId, attempt: 1, actionName: 'helper-gc' },
    { host: os.hostname(), pidNamespace: currentPidNamespace(), ...owner },
  );
}

/**
 * Resolves the image's user the way the pipeline does, through the real adapter, but on an engine client
 * whose removal of the helper fails: the worker "crashes" between creating the helper and removing it, so
 * the helper is left behind exactly as the code created it.
 */
async function crashDuringResolve(labels: Record<string, string>): Promise<string> {
  const engine = new (docker.constructor as typeof Docker)();
  const create = engine.createContainer.bind(engine);
  const created: string[] = [];
  engine.createContainer = (async (options: Docker.ContainerCreateOptions) => {
    const container = await create({ ...options, Labels: { ...options.Labels, [TEST_LABEL]: testRun } });
    created.push(container.id);
    container.remove = () => Promise.reject(new Error('the worker died before removing its helper'));
    return container;
  }) as typeof engine.createContainer;
  const image = await docker.getImage(BASE_IMAGE).inspect();
  await expect(
    new DockerContainerRuntime({ docker: engine }).resolveImageUser(image.Id, 'nobody', labels),
  ).rejects.toThrow();
  expect(created).toHaveLength(1);
  return created[0]!;
}

async function exists(id: string): Promise<boolean> {
  return await docker
    .getContainer(id)
    .inspect()
    .then(() => true)
    .catch((error: unknown) => {
      if ((error as { statusCode?: number }).statusCode === 404) return false;
      throw error;
    });
}

async function removeOurHelpers(): Promise<void> {
  const left = await docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=${testRun}`] } });
  for (const container of left) {
    await docker
      .getContainer(container.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}

describe("the helper container that resolves the image's user", () => {
  afterEach(removeOurHelpers);
  afterAll(removeTempDirs);

  it('carries the labels, and gc removes a leftover whose owner is dead and keeps one whose owner lives', async () => {
    const dead = await crashDuringResolve(
      labelsFor(`iv_hgcdead${testRun}`, { pid: await deadPid(), workerId: 'local-test' }),
    );
    const live = await crashDuringResolve(
      labelsFor(`iv_hgclive${testRun}`, { pid: process.pid, workerId: 'local-test' }),
    );
    const labels = (await docker.getContainer(dead).inspect()).Config.Labels;
    expect(labels).toMatchObject({
      [Labels.managed]: 'true',
      [Labels.helper]: HelperPurpose.imageUser,
      [Labels.invocationId]: `iv_hgcdead${testRun}`,
      [Labels.ownerHost]: os.hostname(),
    });

    const report = await collectGarbage({
      runtime: new DockerContainerRuntime(),
      workspaceDir: await tempDir('helper-gc-ws'),
      isLive: isLiveLocalProcess,
    });

    expect(report.removedContainers).toContainEqual(
      expect.objectContaining({
        id: dead,
        invocationId: `iv_hgcdead${testRun}`,
        helper: HelperPurpose.imageUser,
      }),
    );
    expect(report.removedContainers.map((container) => container.id)).not.toContain(live);
    expect(await exists(dead)).toBe(false);
    expect(await exists(live)).toBe(true);
  });

  it("the daemon's reconcile removes its deployment's dead helpers and keeps live and foreign ones", async () => {
    const ours: Deployment = { id: `dep-${testRun}`, keyPrefix: 'aw-test', queue: 'helper-gc' };
    const theirs: Deployment = { ...ours, id: `other-${testRun}` };
    const workerId = `daemon-${testRun}`;
    const otherNamespace = 'pid:[1]';
    const iv = (name: string) => `iv_h${name}${testRun}`;
    const helpers = {
      // An earlier daemon on this host (another worker id) whose process is gone.
      dead: labelsFor(iv('dead'), { pid: await deadPid(), workerId: 'earlier', deployment: ours }),
      // Another daemon on this host that still runs.
      live: labelsFor(iv('live'), { pid: process.ppid, workerId: 'sibling', deployment: ours }),
      // Another deployment's, dead or not: never ours to judge.
      foreign: labelsFor(iv('foreign'), { pid: await deadPid(), workerId: 'earlier', deployment: theirs }),
      // This daemon's own, for an attempt it runs (it may be reading the image right now), and for one it
      // no longer runs.
      mine: labelsFor(iv('mine'), { pid: process.pid, workerId, deployment: ours }),
      mineDone: labelsFor(iv('minedone'), { pid: process.pid, workerId, deployment: ours }),
      // A daemon in a pid namespace we cannot see (a restarted container): judged by its job's lock.
      hiddenCurrent: labelsFor(iv('hiddencur'), {
        pid: 7,
        workerId: 'hidden',
        pidNamespace: otherNamespace,
        deployment: ours,
      }),
      hiddenGone: labelsFor(iv('hiddengone'), {
        pid: 7,
        workerId: 'hidden',
        pidNamespace: otherNamespace,
        deployment: ours,
      }),
    };
    const ids: Record<string, string> = {};
    for (const [name, labels] of Object.entries(helpers)) ids[name] = await crashDuringResolve(labels);

    const settled: string[] = [];
    const reconciler = new Reconciler({
      runtime: new DockerContainerRuntime(),
      // Each removed helper's invocation: still Processing, its job gone, so it is failed, not left hanging.
      store: {
        get: () => Promise.resolve({ is_finished: false, last_status: InvocationStatus.Processing }),
        transition: (invocationId: string) => {
          settled.push(invocationId);
          return Promise.resolve();
        },
      } as unknown as RedisInvocationStore,
      queue: {
        isAttemptCurrent: (invocationId: string) => Promise.resolve(invocationId === iv('hiddencur')),
        // Its job is gone from the queue.
        isJobGone: () => Promise.resolve(true),
      } as unknown as InvocationQueue,
      workspaceDir: await tempDir('helper-reconcile-ws'),
      secretsDir: await tempDir('helper-reconcile-secrets'),
      temporaryDirs: [],
      logger: pino({ level: 'silent' }),
      workerId,
      deployment: ours,
      isRunningHere: (invocationId) => invocationId === iv('mine'),
    });

    await reconciler.run('startup');

    const left: Record<string, boolean> = {};
    for (const [name, id] of Object.entries(ids)) left[name] = await exists(id);
    expect(left).toEqual({
      dead: false,
      live: true,
      foreign: true,
      mine: true,
      mineDone: false,
      hiddenCurrent: true,
      hiddenGone: false,
    });
    expect(settled.sort()).toEqual([iv('dead'), iv('hiddengone'), iv('minedone')].sort());
  });
});
