import { mkdir, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { DockerContainerRuntime } from '../../src/adapters/docker/docker-container-runtime.js';
import { collectGarbage, isLiveLocalProcess } from '../../src/app/garbage-collector.js';
import { Labels } from '../../src/domain/container-labels.js';
import { docker, removeTempDirs, runCli, tempDir } from '../support/harness.js';
import { BASE_IMAGE } from '../support/paths.js';

/** The pid of a process that has certainly exited. */
async function deadPid(): Promise<number> {
  const child = await execa('sh', ['-c', 'echo $$']);
  return Number(child.stdout);
}

async function leftover(invocationId: string, pid: number, workspaceDir: string): Promise<string> {
  const container = await docker.createContainer({
    name: `action-worker-${invocationId}-1`,
    Image: BASE_IMAGE,
    Cmd: ['sleep', '300'],
    Labels: {
      [Labels.managed]: 'true',
      [Labels.invocationId]: invocationId,
      [Labels.attempt]: '1',
      [Labels.workerId]: 'test',
      [Labels.ownerHost]: os.hostname(),
      [Labels.ownerPid]: String(pid),
    },
  });
  await container.start();
  const workspace = path.join(workspaceDir, `${invocationId}-1`);
  await mkdir(path.join(workspace, 'output'), { recursive: true });
  await writeFile(
    `${workspace}.owner.json`,
    JSON.stringify({ host: os.hostname(), pid, workerId: 'test', invocationId, attempt: 1 }),
  );
  return container.id;
}

describe('the leftover sweep (gc)', () => {
  afterAll(async () => {
    for (const name of ['iv_gcdead', 'iv_gclive', 'iv_gccli']) {
      await docker
        .getContainer(`action-worker-${name}-1`)
        .remove({ force: true })
        .catch(() => undefined);
    }
    await removeTempDirs();
  });

  it('removes containers and workspaces whose owner process is gone, and keeps the live ones', async () => {
    const workspaceDir = await tempDir('gc-ws');
    const dead = await leftover('iv_gcdead', await deadPid(), workspaceDir);
    const live = await leftover('iv_gclive', process.pid, workspaceDir);

    const report = await collectGarbage({
      runtime: new DockerContainerRuntime(),
      workspaceDir,
      isLive: isLiveLocalProcess,
    });

    expect(report.removedContainers).toEqual([
      { id: dead, name: 'action-worker-iv_gcdead-1', invocationId: 'iv_gcdead' },
    ]);
    expect(report.removedWorkspaces).toEqual([path.join(workspaceDir, 'iv_gcdead-1')]);
    expect(report.kept.map((entry) => entry.what)).toEqual(
      expect.arrayContaining([
        'container action-worker-iv_gclive-1',
        `workspace ${path.join(workspaceDir, 'iv_gclive-1')}`,
      ]),
    );
    await expect(docker.getContainer(dead).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect((await docker.getContainer(live).inspect()).State.Running).toBe(true);
    expect((await readdir(workspaceDir)).sort()).toEqual(['iv_gclive-1', 'iv_gclive-1.owner.json']);
  });

  it('reports as JSON from the CLI, and removes nothing on --dry-run', async () => {
    const workspaceDir = await tempDir('gc-cli-ws');
    const id = await leftover('iv_gccli', await deadPid(), workspaceDir);
    const dry = await runCli(['gc', '--dry-run', '--json'], {
      env: { ACTION_WORKER_WORKSPACE_DIR: workspaceDir },
    });
    expect(dry.exitCode, dry.all).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ removedContainers: [{ id, invocationId: 'iv_gccli' }] });
    expect((await docker.getContainer(id).inspect()).State.Running).toBe(true);

    const real = await runCli(['gc'], { env: { ACTION_WORKER_WORKSPACE_DIR: workspaceDir } });
    expect(real.stdout).toContain('removed container action-worker-iv_gccli-1 (invocation iv_gccli)');
    expect(real.stdout).toContain(`removed workspace ${path.join(workspaceDir, 'iv_gccli-1')}`);
    await expect(docker.getContainer(id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });
});
