import { lstat, readFile, readdir, statfs } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { Labels } from '../../src/domain/container-labels.js';
import {
  docker,
  eventually,
  makeAction,
  removeTempDirs,
  runCli,
  tempDir,
  tmpfsTempDir,
} from '../support/harness.js';
import { cliPath, projectRoot } from '../support/paths.js';

const SECRET = 'sk-never-on-disk-4242';
const TMPFS_MAGIC = 0x01021994;

/** Every regular file under `dir` whose bytes contain `needle`. */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await readdir(dir, { recursive: true })) {
    const file = path.join(dir, name);
    const stats = await lstat(file).catch(() => undefined);
    if (!stats?.isFile()) continue;
    if ((await readFile(file)).includes(needle)) found.push(file);
  }
  return found;
}

describe('secrets.json', () => {
  let pid: number | undefined;
  afterAll(async () => {
    if (pid !== undefined) {
      for (const info of await docker.listContainers({
        all: true,
        filters: { label: [`${Labels.ownerPid}=${pid}`] },
      })) {
        await docker
          .getContainer(info.Id)
          .remove({ force: true })
          .catch(() => undefined);
      }
    }
    await removeTempDirs();
  });

  it.runIf(process.platform === 'linux')(
    'lives on a tmpfs, never in the workspace, so a kill -9 of run leaves no secret on the disk; gc removes it from the tmpfs',
    async () => {
      const actionDir = await makeAction(
        'waits',
        {
          parameters: [{ name: 'token' }],
          container_parameters: {
            entry_point: ['/bin/sh', '-c'],
            // Reads its secret the way the SDK does, says so, then waits to be killed.
            command: [
              'grep -q "\\"token\\"" "$ROBOTO_ACTION_RUNTIME_CONFIG_DIR/secrets.json" && echo read > "$ROBOTO_OUTPUT_DIR/read.txt"; sleep 300',
            ],
          },
        },
        [],
      );
      const env = {
        ACTION_WORKER_WORKSPACE_DIR: await tempDir('kill-ws'),
        // No API of its own on the bridge gateway: tests keep to loopback.
        ACTION_WORKER_LOCAL_API: 'false',
        ACTION_WORKER_STORE_DIR: await tempDir('kill-store'),
        ACTION_WORKER_CACHE_DIR: await tempDir('kill-cache'),
        ACTION_WORKER_LOG_DIR: await tempDir('kill-logs'),
        ACTION_WORKER_SECRETS_TMPFS_DIR: await tmpfsTempDir('kill-secrets'),
      };
      expect((await statfs(env.ACTION_WORKER_SECRETS_TMPFS_DIR)).type).toBe(TMPFS_MAGIC);
      const run = execa('node', [cliPath, 'run', actionDir, '--secret', `token=literal:${SECRET}`], {
        cwd: projectRoot,
        env,
        reject: false,
      });
      pid = run.pid;
      await eventually(
        async () => {
          const [container] = await docker.listContainers({
            filters: { label: [`${Labels.ownerPid}=${pid}`], status: ['running'] },
          });
          if (container === undefined) return undefined;
          const workspaces = await readdir(env.ACTION_WORKER_WORKSPACE_DIR);
          const workspace = workspaces.find((name) => !name.endsWith('.owner.json'));
          if (workspace === undefined) return undefined;
          const read = path.join(env.ACTION_WORKER_WORKSPACE_DIR, workspace, 'output', 'read.txt');
          return (await lstat(read).catch(() => undefined)) ? true : undefined;
        },
        60_000,
        'the action to read its secret',
      );
      // While it runs: the secret is on the tmpfs; the workspace holds only an empty placeholder.
      const [held] = await filesContaining(env.ACTION_WORKER_SECRETS_TMPFS_DIR, SECRET);
      expect(held).toMatch(/\/iv_[a-z0-9]+-1\/secrets\.json$/);
      expect((await lstat(held!)).mode & 0o777).toBe(0o600);
      expect(await filesContaining(env.ACTION_WORKER_WORKSPACE_DIR, SECRET)).toEqual([]);

      run.kill('SIGKILL');
      await run;
      // The worker is gone without cleaning up: the container and the workspace stay behind, the secret
      // with them only in memory.
      expect(await readdir(env.ACTION_WORKER_WORKSPACE_DIR)).toHaveLength(2);
      expect(await filesContaining(env.ACTION_WORKER_WORKSPACE_DIR, SECRET)).toEqual([]);

      const gc = await runCli(['gc'], { env });
      expect(gc.exitCode, gc.all).toBe(0);
      expect(gc.stdout).toMatch(/removed secrets .*\/iv_[a-z0-9]+-1\n/);
      expect(await readdir(env.ACTION_WORKER_SECRETS_TMPFS_DIR)).toEqual([]);
      expect(await readdir(env.ACTION_WORKER_WORKSPACE_DIR)).toEqual([]);
    },
  );
});
