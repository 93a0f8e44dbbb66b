import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../support/harness.js';
import { TestQueue } from '../support/daemon-harness.js';
import { BASE_IMAGE } from '../support/paths.js';
import { type TrapServer, startTrapServer } from '../support/trap-server.js';
import { removeTempDirs } from '../support/temp-dirs.js';

/**
 * Crafted image references, env var names and parameter names on the command line: each is refused as bad
 * input (exit 64, one message naming it) before any engine call, and the process ends normally.
 */
describe('the CLI refuses bad references and names before any engine call', () => {
  let trap: TrapServer;
  let queue: TestQueue;

  beforeAll(async () => {
    trap = await startTrapServer();
    queue = await TestQueue.create();
  });

  afterAll(async () => {
    await trap.close();
    await queue.cleanup();
    await removeTempDirs();
  });

  async function actionDir(config: Record<string, unknown>): Promise<string> {
    const dir = await tempDir('bad-ref-action');
    await writeFile(path.join(dir, 'action.json'), JSON.stringify(config));
    return dir;
  }

  function expectRefused(cli: { exitCode?: number; stderr: string }, message: string): void {
    expect(cli.exitCode, cli.stderr).toBe(64);
    expect(cli.stderr).toContain(message);
    // One message: nothing started, nothing crashed.
    expect(cli.stderr).not.toContain('Scheduled');
    expect(cli.stderr).not.toMatch(/Unhandled|node:events|at .*\.js:\d+/);
  }

  it('run --image ../../etc/passwd exits 64 naming the reference', async () => {
    const cli = await runCli(['run', '--image', '../../etc/passwd']);
    expectRefused(cli, '--image "../../etc/passwd" is not a valid image reference');
  });

  it('run --image pointing the engine at another address exits 64, and nothing reaches that address', async () => {
    const cli = await runCli(['run', '--image', `../../127.0.0.1:${trap.port}/admin/x`]);
    expectRefused(cli, `--image "../../127.0.0.1:${trap.port}/admin/x" is not a valid image reference`);
    expect(trap.hits).toEqual([]);
  });

  it('run refuses an action.json whose image_uri is not a reference, naming the field', async () => {
    const dir = await actionDir({ name: 'act', image_uri: `../../127.0.0.1:${trap.port}/admin/x` });
    const cli = await runCli(['run', dir]);
    expectRefused(cli, 'image_uri: "../../127.0.0.1:');
    expect(trap.hits).toEqual([]);
  });

  it('invoke --image refuses the reference before anything is queued', async () => {
    const cli = await queue.cli(['invoke', '--image', `../../127.0.0.1:${trap.port}/admin/x`]);
    expectRefused(cli, 'is not a valid image reference');
    expect(await queue.queue().depth()).toMatchObject({ waiting: 0 });
  });

  it('run refuses an env var name that is not a POSIX name, naming it', async () => {
    const dir = await actionDir({
      name: 'act',
      image_uri: BASE_IMAGE,
      container_parameters: { env_vars: { 'BAD NAME': 'x' } },
    });
    const cli = await runCli(['run', dir]);
    expectRefused(cli, '"BAD NAME" is not a valid environment variable name');
  });

  it('run refuses a parameter named __proto__ instead of dropping it', async () => {
    const cli = await runCli(['run', '--image', BASE_IMAGE, '--param', '__proto__=x']);
    expectRefused(cli, '--param: "__proto__" cannot be a parameter name');
  });
});
