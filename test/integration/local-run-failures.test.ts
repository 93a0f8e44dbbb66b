import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { managedContainers, removeTempDirs, runCli, tempDir } from '../support/harness.js';
import { fixturesDir } from '../support/paths.js';

const exitAction = path.join(fixturesDir, 'exit-code');

describe('action-worker run: when the action fails', () => {
  afterAll(removeTempDirs);

  it('reports Failed with the exit code, exits 1 and collects no outputs or changesets', async () => {
    const output = path.join(await tempDir('out'), 'o');
    const cli = await runCli(['run', exitAction, '--param', 'code=3', '--output', output]);
    expect(cli.exitCode).toBe(1);
    expect(cli.stderr).toContain('action-worker: Failed (action exited with code 3)');
    expect(cli.stderr).toContain('exiting with 3');
    expect(cli.stderr).not.toContain('Uploading');
    // Nothing but the action's own log, which is kept whatever the outcome.
    expect(await readdir(output, { recursive: true })).toEqual([
      '.metadata',
      path.join('.metadata', 'action.log'),
    ]);
    expect(await readFile(path.join(output, '.metadata', 'action.log'), 'utf8')).toMatch(
      /Z stderr {2}exiting with 3\n$/,
    );
  });
});

describe('action-worker run: bad input is refused before any container starts', () => {
  afterAll(removeTempDirs);

  async function expectRefused(
    args: string[],
    message: string | RegExp,
    env: NodeJS.ProcessEnv = {},
  ): Promise<void> {
    const before = (await managedContainers()).length;
    const cli = await runCli(['run', ...args], { env });
    expect(cli.exitCode).toBe(64);
    expect(cli.stderr).toMatch(message);
    // One message, no status lines: nothing was started.
    expect(cli.stderr).not.toContain('Scheduled');
    expect((await managedContainers()).length).toBe(before);
  }

  it('refuses an image that is not present when the pull policy is never', async () => {
    await expectRefused(
      ['--image', 'action-worker/no-such-image:latest'],
      /image "action-worker\/no-such-image:latest" is not present on this Docker engine \(pull policy: never\)/,
      { ACTION_WORKER_PULL_POLICY: 'never' },
    );
  });

  it('refuses an action that can never fit on this host', async () => {
    const dir = await tempDir('too-big');
    await writeFile(
      path.join(dir, 'action.json'),
      JSON.stringify({ name: 'too-big', compute_requirements: { vCPU: 4096, memory: 8192 } }),
    );
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM action-worker/busybox:latest\n');
    await expectRefused(
      [dir],
      /needs 4 vCPU \(this host offers 2\) and 8192 MiB of memory \(this host offers 1024 MiB\)/,
      {
        ACTION_WORKER_CAPACITY_VCPU: '2048',
        ACTION_WORKER_CAPACITY_MEMORY_MIB: '1024',
      },
    );
  });

  it('refuses an invalid action.json, naming the field', async () => {
    const dir = await tempDir('bad-action');
    await writeFile(
      path.join(dir, 'action.json'),
      JSON.stringify({ name: 'bad', compute_requirements: { vCPU: 512, memory: 9999 } }),
    );
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM action-worker/busybox:latest\n');
    await expectRefused([dir], /compute_requirements\.memory: 9999 MiB is not allowed with vCPU 512/);
  });

  it('refuses a directory with no action.json', async () => {
    await expectRefused([await tempDir('empty-action')], /no action.json in/);
  });

  it('refuses a missing required parameter', async () => {
    await expectRefused(
      [path.join(fixturesDir, 'contract-probe'), '--secret', 'api_key=literal:x'],
      /missing required parameter\(s\) of action "contract-probe": threshold/,
    );
  });

  it('refuses an undeclared parameter', async () => {
    await expectRefused(
      [exitAction, '--param', 'nope=1'],
      /parameter\(s\) not defined in action "exit-code": nope/,
    );
  });

  it('refuses an unknown --secret source and an unset variable', async () => {
    await expectRefused([exitAction, '--secret', 'code=vault:kv/x'], /unknown source "vault:"/);
    await expectRefused(
      [exitAction, '--secret', 'code=env:AW_TEST_UNSET_VARIABLE'],
      /environment variable "AW_TEST_UNSET_VARIABLE" is not set/,
    );
    await expectRefused(
      [exitAction, '--secret', 'code=file:/no/such/file'],
      /cannot read "\/no\/such\/file"/,
    );
  });

  it('refuses a missing input folder', async () => {
    await expectRefused(
      [exitAction, '--input', '/no/such/folder'],
      /input folder "\/no\/such\/folder" does not exist/,
    );
  });

  it('refuses a non-empty output folder, so nothing stored is overwritten', async () => {
    const output = await tempDir('full-output');
    await mkdir(path.join(output, 'keep'));
    await expectRefused([exitAction, '--output', output], /is not empty/);
  });

  it('refuses a malformed flag value', async () => {
    await expectRefused([exitAction, '--timeout', 'soon'], /--timeout "soon" is not a duration/);
    await expectRefused([exitAction, '--param', 'novalue'], /--param "novalue" must look like NAME=VALUE/);
  });
});
