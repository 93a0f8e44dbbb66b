import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { InvocationQueue, type QueueLocation } from '../../src/adapters/bullmq/invocation-queue.js';
import { type Deployment, Labels, isSameDeployment, ownerLabels } from '../../src/domain/container-labels.js';
import { InvocationStatus, statusName } from '../../src/domain/invocation-status.js';
import { type DaemonProcess, TestQueue, shellAction } from '../support/daemon-harness.js';
import { docker, eventually, removeTempDirs } from '../support/harness.js';
import { BASE_IMAGE } from '../support/paths.js';
import { PrivateRedis } from '../support/private-redis.js';

const tag = `${process.pid}${Date.now().toString(36)}`;

/** The deployment a daemon on `location` labels its containers and workspaces with. */
async function deploymentFor(location: QueueLocation): Promise<Deployment> {
  const queue = new InvocationQueue(location);
  try {
    return await queue.deployment();
  } finally {
    await queue.close();
  }
}

/** The defaults every deployment starts with: the reviewer's two Compose projects both kept them. */
const defaults = { queue: 'action-worker-invocations', keyPrefix: 'action-worker' };

describe('the deployment a daemon cleans up for is its Redis server, not how the URL is spelled', () => {
  const servers: PrivateRedis[] = [];
  const containers: string[] = [];

  afterAll(async () => {
    for (const id of containers) {
      await docker
        .getContainer(id)
        .remove({ force: true })
        .catch(() => undefined);
    }
    for (const server of servers) await server.stop();
    await removeTempDirs();
  });

  it('never removes the live container and workspace of a deployment on another Redis server spelled alike', async () => {
    // Deployment B: its own Redis server, reached as redis://127.0.0.1:<port>, default queue and prefix.
    const serverB = await PrivateRedis.create();
    servers.push(serverB);
    const url = serverB.url;
    const deploymentB = await deploymentFor({ url, ...defaults });

    // B runs invocation iv_…b on another host (another Compose project): its job is locked in B's Redis.
    const invocationId = `iv_${tag}b`;
    const redisB = new Redis(url);
    try {
      const jobKey = `${defaults.keyPrefix}:${defaults.queue}:${invocationId}`;
      await redisB.set(`${jobKey}:lock`, 'a-worker-of-b', 'PX', 600_000);
      await redisB.hset(jobKey, 'ats', '1');
    } finally {
      await redisB.quit();
    }
    const owner = {
      host: `b-host-${tag}`,
      pid: 7,
      workerId: `b-worker-${tag}`,
      pidNamespace: 'pid:[1]',
      deployment: deploymentB,
    };
    const container = await docker.createContainer({
      name: `action-worker-${invocationId}-1`,
      Image: BASE_IMAGE,
      Cmd: ['sleep', '300'],
      Labels: {
        [Labels.managed]: 'true',
        [Labels.invocationId]: invocationId,
        [Labels.attempt]: '1',
        [Labels.workerId]: owner.workerId,
        ...ownerLabels(owner),
      },
      HostConfig: { NetworkMode: 'none' },
    });
    containers.push(container.id);
    await container.start();

    // Deployment A: another Redis server, which A reaches by the very same URL (in the reviewer's scenario,
    // another Compose project's network; here, the same loopback port once B's server is away).
    await serverB.stop();
    const serverA = await PrivateRedis.create(serverB.port);
    servers.push(serverA);
    const queueA = await TestQueue.create({
      ACTION_WORKER_REDIS_URL: url,
      ACTION_WORKER_QUEUE: defaults.queue,
      ACTION_WORKER_KEY_PREFIX: defaults.keyPrefix,
    });
    try {
      // Both share the engine and the workspace directory (the reviewer's fixed /var/lib/action-worker).
      const workspaceDir = queueA.env.ACTION_WORKER_WORKSPACE_DIR ?? '';
      const workspace = path.join(workspaceDir, `${invocationId}-1`);
      await mkdir(path.join(workspace, 'output'), { recursive: true });
      await writeFile(`${workspace}.owner.json`, JSON.stringify({ ...owner, invocationId, attempt: 1 }));

      const daemonA = queueA.startDaemon();
      // Logged once the start-up reconciliation is over.
      await daemonA.waitForLog('daemon.started', () => true, 90_000);

      expect((await docker.getContainer(container.id).inspect()).State.Running, daemonA.dump()).toBe(true);
      expect(await readdir(workspaceDir)).toEqual(
        expect.arrayContaining([path.basename(workspace), `${path.basename(workspace)}.owner.json`]),
      );
      const removed = daemonA.lines.filter((line) => line.msg === 'reconcile.removed_leftovers');
      expect(JSON.stringify(removed)).not.toContain(invocationId);
      const kept = await daemonA.waitForLog('reconcile.kept_foreign');
      expect(JSON.stringify(kept.kept)).toContain(`action-worker-${invocationId}-1`);
      expect(JSON.stringify(kept.kept)).toContain(workspace);
      const deploymentA = await deploymentFor(queueA.location());
      expect(isSameDeployment(deploymentA, deploymentB)).toBe(false);
    } finally {
      await queueA.cleanup();
    }
  });

  it("keeps two running daemons on two Redis servers off each other's live containers on one engine", async () => {
    const serverA = await PrivateRedis.create();
    const serverB = await PrivateRedis.create();
    servers.push(serverA, serverB);
    // Same defaults, same engine, same workspace and secrets directories; only the Redis server differs.
    const fast = { ...defaults, ACTION_WORKER_RECONCILE_INTERVAL: '1s' };
    const queueA = await TestQueue.create({
      ACTION_WORKER_REDIS_URL: serverA.url,
      ACTION_WORKER_QUEUE: fast.queue,
      ACTION_WORKER_KEY_PREFIX: fast.keyPrefix,
      ACTION_WORKER_RECONCILE_INTERVAL: fast.ACTION_WORKER_RECONCILE_INTERVAL,
    });
    const queueB = await TestQueue.create({
      ...queueA.env,
      ACTION_WORKER_REDIS_URL: serverB.url,
    });
    try {
      const action = await shellAction('neighbour', 'echo started; sleep 8; echo done');
      const byInvocation = async (invocationId: string): Promise<string> =>
        await eventually(async () => {
          const [found] = await docker.listContainers({
            filters: { label: [`${Labels.invocationId}=${invocationId}`], status: ['running'] },
          });
          return found?.Id;
        }, 60_000);

      const daemonB = queueB.startDaemon();
      await daemonB.waitForLog('daemon.started', () => true, 90_000);
      const invocationB = await queueB.invoke([action]);
      await queueB.waitStatus(invocationB, InvocationStatus.Processing);
      const containerB = await byInvocation(invocationB);

      // A starts while B's action runs: its start-up sweep sees B's container first.
      const daemonA = queueA.startDaemon();
      await daemonA.waitForLog('daemon.started', () => true, 90_000);
      const invocationA = await queueA.invoke([action]);
      await queueA.waitStatus(invocationA, InvocationStatus.Processing);
      const containerA = await byInvocation(invocationA);

      const keptBy = async (daemon: DaemonProcess, name: string) =>
        await daemon.waitForLog('reconcile.kept_foreign', (line) => JSON.stringify(line.kept).includes(name));
      await keptBy(daemonA, `action-worker-${invocationB}-1`);
      await keptBy(daemonB, `action-worker-${invocationA}-1`);

      for (const [queue, invocationId] of [
        [queueA, invocationA],
        [queueB, invocationB],
      ] as const) {
        const record = await queue.waitFinished(invocationId, 90_000);
        expect(record.status.map((entry) => statusName(entry.status))).toEqual([
          'Queued',
          'Scheduled',
          'Downloading',
          'Processing',
          'Uploading',
          'Completed',
        ]);
        expect(record.attempt).toBe(1);
      }
      for (const [daemon, other, containerId] of [
        [daemonA, invocationB, containerB],
        [daemonB, invocationA, containerA],
      ] as const) {
        const removed = daemon.lines.filter((line) => line.msg === 'reconcile.removed_leftovers');
        expect(JSON.stringify(removed), daemon.dump()).not.toContain(other);
        expect(JSON.stringify(removed)).not.toContain(containerId);
      }
      const started = (daemon: DaemonProcess) =>
        daemon.lines.find((line) => line.msg === 'daemon.started')?.deploymentId;
      expect(started(daemonA)).toMatch(/^[0-9a-f]{32}$/);
      expect(started(daemonB)).toMatch(/^[0-9a-f]{32}$/);
      expect(started(daemonA)).not.toBe(started(daemonB));
    } finally {
      await queueA.cleanup();
      await queueB.cleanup();
    }
  });

  it('is one for every host of a deployment whatever their URL spelling, survives a restart, and holds no credentials', async () => {
    const server = await PrivateRedis.create();
    servers.push(server);
    const admin = new Redis(server.url);
    try {
      await admin.call('ACL', 'SETUSER', 'tester', 'on', '>s3cret-pass', '~*', '&*', '+@all');
    } finally {
      await admin.quit();
    }
    const plain = { url: `redis://127.0.0.1:${server.port}`, ...defaults };
    const first = await deploymentFor(plain);
    const spelledOtherwise = await deploymentFor({
      ...plain,
      url: `redis://tester:s3cret-pass@127.0.0.1:${server.port}/0`,
    });
    expect(spelledOtherwise).toEqual(first);
    expect(JSON.stringify(first)).not.toContain('s3cret');
    expect(JSON.stringify(first)).not.toContain('tester');
    expect(first.id).toMatch(/^[0-9a-f]{32}$/);
    expect(isSameDeployment(first, await deploymentFor({ ...plain, queue: 'another-queue' }))).toBe(false);
    expect(isSameDeployment(first, await deploymentFor({ ...plain, keyPrefix: 'another-prefix' }))).toBe(
      false,
    );

    await server.stop();
    await server.start();
    expect(await deploymentFor(plain)).toEqual(first);
  });
});
