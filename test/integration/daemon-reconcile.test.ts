import { mkdir, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { currentPidNamespace } from '../../src/app/garbage-collector.js';
import { type Deployment, Labels, ownerLabels } from '../../src/domain/container-labels.js';
import { useTestQueue } from '../support/daemon-harness.js';
import { docker } from '../support/harness.js';
import { BASE_IMAGE } from '../support/paths.js';

/** The pid of a process that has certainly exited. */
async function deadPid(): Promise<number> {
  const child = await execa('sh', ['-c', 'echo $$']);
  return Number(child.stdout);
}

const tag = `${process.pid}${Date.now().toString(36)}`;
const created: string[] = [];

interface Leftover {
  invocationId: string;
  attempt: number;
  host: string;
  pid: number;
  deployment?: Deployment;
}

/** A running busybox `sleep` container labelled as an action container of `owner`. */
async function leftoverContainer(owner: Leftover): Promise<string> {
  const labels = {
    [Labels.managed]: 'true',
    [Labels.invocationId]: owner.invocationId,
    [Labels.attempt]: String(owner.attempt),
    [Labels.workerId]: `someone-${tag}`,
    ...ownerLabels({
      host: owner.host,
      pid: owner.pid,
      workerId: `someone-${tag}`,
      pidNamespace: owner.host === os.hostname() ? currentPidNamespace() : 'pid:[1]',
      deployment: owner.deployment,
    }),
  };
  const container = await docker.createContainer({
    name: `action-worker-${owner.invocationId}-${owner.attempt}`,
    Image: BASE_IMAGE,
    Cmd: ['sleep', '300'],
    Labels: labels,
    HostConfig: { NetworkMode: 'none' },
  });
  created.push(container.id);
  await container.start();
  return container.id;
}

async function leftoverWorkspace(workspaceDir: string, owner: Leftover): Promise<string> {
  const workspace = path.join(workspaceDir, `${owner.invocationId}-${owner.attempt}`);
  await mkdir(path.join(workspace, 'output'), { recursive: true });
  await writeFile(
    `${workspace}.owner.json`,
    JSON.stringify({ ...owner, workerId: `someone-${tag}`, pidNamespace: currentPidNamespace() }),
  );
  return workspace;
}

async function isRunning(id: string): Promise<boolean> {
  return (await docker.getContainer(id).inspect()).State.Running;
}

describe('a daemon reconciling leftovers on an engine it shares', () => {
  const queue = useTestQueue();

  afterAll(async () => {
    for (const id of created) {
      await docker
        .getContainer(id)
        .remove({ force: true })
        .catch(() => undefined);
    }
  });

  it('removes only provably dead leftovers of its own deployment, and keeps and reports every other one', async () => {
    // What the daemon will read too: the id this Redis server holds for the test's prefix and queue.
    const ours = await queue().queue().deployment();
    const otherQueue: Deployment = { ...ours, queue: `${ours.queue}-other` };
    const otherPrefix: Deployment = { ...ours, keyPrefix: `${ours.keyPrefix}-other` };
    const otherRedis: Deployment = { ...ours, id: 'ffffffffffffffffffffffffffffffff' };
    const gone = await deadPid();
    const elsewhere = `another-host-${tag}`;
    const here = os.hostname();
    const id = (name: string): string => `iv_${tag}${name}`;

    // Another deployment's live container "on another host", whose job is not in our queue at all.
    const foreignElsewhere = await leftoverContainer({
      invocationId: id('fa'),
      attempt: 1,
      host: elsewhere,
      pid: 7,
      deployment: otherQueue,
    });
    // Another deployment (same queue name, other key prefix) on this host, its process gone.
    const foreignHere = await leftoverContainer({
      invocationId: id('fb'),
      attempt: 1,
      host: here,
      pid: gone,
      deployment: otherPrefix,
    });
    // Same key prefix and queue, but another Redis server's deployment id.
    const foreignRedis = await leftoverContainer({
      invocationId: id('fc'),
      attempt: 1,
      host: elsewhere,
      pid: 7,
      deployment: otherRedis,
    });
    // No deployment labels at all (a local run elsewhere, an older version, a CI runner).
    const unlabelled = await leftoverContainer({
      invocationId: id('fd'),
      attempt: 1,
      host: elsewhere,
      pid: 7,
    });
    // Ours, on another host, its job still locked at this attempt: alive.
    const oursLive = await leftoverContainer({
      invocationId: id('ol'),
      attempt: 1,
      host: elsewhere,
      pid: 7,
      deployment: ours,
    });
    // Ours, on another host, its job locked but by a later attempt: superseded.
    const oursSuperseded = await leftoverContainer({
      invocationId: id('os'),
      attempt: 1,
      host: elsewhere,
      pid: 7,
      deployment: ours,
    });
    // Ours, on another host, its job not locked: dead.
    const oursDeadElsewhere = await leftoverContainer({
      invocationId: id('od'),
      attempt: 1,
      host: elsewhere,
      pid: 7,
      deployment: ours,
    });
    // Ours, on this host, its process gone: dead.
    const oursDeadHere = await leftoverContainer({
      invocationId: id('oh'),
      attempt: 1,
      host: here,
      pid: gone,
      deployment: ours,
    });

    const workspaceDir = queue().env.ACTION_WORKER_WORKSPACE_DIR ?? '';
    const foreignWorkspace = await leftoverWorkspace(workspaceDir, {
      invocationId: id('fw'),
      attempt: 1,
      host: here,
      pid: gone,
      deployment: otherQueue,
    });
    const legacyWorkspace = await leftoverWorkspace(workspaceDir, {
      invocationId: id('lw'),
      attempt: 1,
      host: here,
      pid: gone,
    });
    const deadWorkspace = await leftoverWorkspace(workspaceDir, {
      invocationId: id('dw'),
      attempt: 1,
      host: here,
      pid: gone,
      deployment: ours,
    });

    const { url, keyPrefix, queue: queueName } = queue().location();
    const redis = new Redis(url);
    try {
      for (const [name, attemptsStarted] of [
        ['ol', 1],
        ['os', 2],
      ] as const) {
        const jobKey = `${keyPrefix}:${queueName}:${id(name)}`;
        await redis.set(`${jobKey}:lock`, 'a-worker-elsewhere', 'PX', 120_000);
        await redis.hset(jobKey, 'ats', String(attemptsStarted));
      }
    } finally {
      await redis.quit();
    }

    const daemon = queue().startDaemon();
    const removed = await daemon.waitForLog('reconcile.removed_leftovers', () => true, 60_000);
    const kept = await daemon.waitForLog('reconcile.kept_foreign', () => true, 60_000);

    const removedIds = (removed.containers as { id: string }[]).map((container) => container.id).sort();
    expect(removedIds, daemon.dump()).toEqual([oursDeadElsewhere, oursDeadHere, oursSuperseded].sort());
    expect(removed.workspaces).toEqual([deadWorkspace]);
    for (const alive of [foreignElsewhere, foreignHere, foreignRedis, unlabelled, oursLive]) {
      expect(await isRunning(alive)).toBe(true);
    }
    for (const dead of removedIds) {
      await expect(docker.getContainer(dead).inspect()).rejects.toMatchObject({ statusCode: 404 });
    }

    const reported = JSON.stringify(kept.kept);
    for (const name of ['fa', 'fb', 'fc', 'fd']) expect(reported).toContain(`action-worker-${id(name)}-1`);
    expect(reported).toContain(foreignWorkspace);
    expect(reported).toContain(legacyWorkspace);
    expect(reported).not.toContain(id('ol'));
    const left = await readdir(workspaceDir);
    expect(left).toEqual(
      expect.arrayContaining([path.basename(foreignWorkspace), path.basename(legacyWorkspace)]),
    );
    expect(left).not.toContain(path.basename(deadWorkspace));
  });
});
