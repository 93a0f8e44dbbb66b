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

function ownerOf(pid: number, workerId: string, deployment?: Deployment) {
  return { host: os.hostname(), pid, workerId, pidNamespace: currentPidNamespace(), deployment };
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
      helperLabels(HelperPurpose.imageUser, 'local-test', ownerOf(await deadPid(), 'local-test')),
    );
    const live = await crashDuringResolve(
      helperLabels(HelperPurpose.imageUser, 'local-test', ownerOf(process.pid, 'local-test')),
    );
    const labels = (await docker.getContainer(dead).inspect()).Config.Labels;
    expect(labels).toMatchObject({
      [Labels.managed]: 'true',
      [Labels.helper]: HelperPurpose.imageUser,
      [Labels.ownerHost]: os.hostname(),
    });

    const report = await collectGarbage({
      runtime: new DockerContainerRuntime(),
      workspaceDir: await tempDir('helper-gc-ws'),
      isLive: isLiveLocalProcess,
    });

    expect(report.removedContainers).toContainEqual(
      expect.objectContaining({ id: dead, helper: HelperPurpose.imageUser }),
    );
    expect(report.removedContainers.map((container) => container.id)).not.toContain(live);
    expect(await exists(dead)).toBe(false);
    expect(await exists(live)).toBe(true);
  });

  it("the daemon's reconcile removes its deployment's dead helpers and keeps live and foreign ones", async () => {
    const ours: Deployment = { id: `dep-${testRun}`, keyPrefix: 'aw-test', queue: 'helper-gc' };
    const theirs: Deployment = { ...ours, id: `other-${testRun}` };
    const workerId = `daemon-${testRun}`;
    // An earlier daemon (another worker id) whose process is gone, one that still runs, another deployment.
    const dead = await crashDuringResolve(
      helperLabels(HelperPurpose.imageUser, 'earlier', ownerOf(await deadPid(), 'earlier', ours)),
    );
    const live = await crashDuringResolve(
      helperLabels(HelperPurpose.imageUser, 'sibling', ownerOf(process.ppid, 'sibling', ours)),
    );
    const foreign = await crashDuringResolve(
      helperLabels(HelperPurpose.imageUser, 'earlier', ownerOf(await deadPid(), 'earlier', theirs)),
    );
    // This daemon's own helper: it may be reading the image right now.
    const mine = await crashDuringResolve(
      helperLabels(HelperPurpose.imageUser, workerId, ownerOf(process.pid, workerId, ours)),
    );
    const fail = (): never => {
      throw new Error('a helper has no invocation: neither the store nor the queue is asked about it');
    };
    const reconciler = new Reconciler({
      runtime: new DockerContainerRuntime(),
      store: { get: fail, transition: fail } as unknown as RedisInvocationStore,
      queue: { isAttemptCurrent: fail, queue: { getJob: fail } } as unknown as InvocationQueue,
      workspaceDir: await tempDir('helper-reconcile-ws'),
      secretsDir: await tempDir('helper-reconcile-secrets'),
      temporaryDirs: [],
      logger: pino({ level: 'silent' }),
      workerId,
      deployment: ours,
      isRunningHere: () => false,
    });

    await reconciler.run('startup');

    expect(await exists(dead)).toBe(false);
    expect(await exists(live)).toBe(true);
    expect(await exists(foreign)).toBe(true);
    expect(await exists(mine)).toBe(true);
  });
});
