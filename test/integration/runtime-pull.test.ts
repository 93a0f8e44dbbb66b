import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { DockerContainerRuntime } from '../../src/adapters/docker/docker-container-runtime.js';
import { ActionWorkerError } from '../../src/domain/errors.js';
import { removeTempDirs, runCli, runInProcess, tempDir } from '../support/harness.js';
import { type RegistryMode, StubRegistry } from '../support/stub-registry.js';

const registries: StubRegistry[] = [];

async function registry(
  mode: RegistryMode,
  credentials?: string,
): Promise<{ stub: StubRegistry; host: string }> {
  const stub = new StubRegistry(mode, credentials);
  registries.push(stub);
  return { stub, host: await stub.start() };
}

async function pullError(promise: Promise<unknown>): Promise<ActionWorkerError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ActionWorkerError);
  return error as ActionWorkerError;
}

describe('image pulls', () => {
  afterEach(async () => {
    for (const stub of registries.splice(0)) await stub.stop();
  });
  afterAll(removeTempDirs);

  it('reports an unauthorized pull as not retryable, and exits 64 before anything starts', async () => {
    const { host } = await registry('unauthorized');
    const error = await pullError(runInProcess({ image: `${host}/team/private:1` }));
    expect(error).toMatchObject({ code: 'E_IMAGE_UNAUTHORIZED', retryable: false });
    expect(error.message).toMatch(/unauthorized/);

    const cli = await runCli(['run', '--image', `${host}/team/private:1`]);
    expect(cli.exitCode).toBe(64);
    expect(cli.stderr).toMatch(/pulling 127\.0\.0\.1:\d+\/team\/private:1: unauthorized/);
    expect(cli.stderr).not.toContain('Scheduled');
  });

  it('sends the credentials of the Docker config file', async () => {
    const { stub, host } = await registry('not-found', 'robot:s3cret-pass');
    const dockerConfig = await tempDir('docker-config');
    await mkdir(dockerConfig, { recursive: true });
    await writeFile(
      path.join(dockerConfig, 'config.json'),
      JSON.stringify({ auths: { [host]: { auth: Buffer.from('robot:s3cret-pass').toString('base64') } } }),
    );
    const error = await pullError(
      runInProcess(
        { image: `${host}/team/private:1` },
        { settings: { images: { dockerConfigDir: dockerConfig } } },
      ),
    );
    // Past the 401: the registry took the credentials and then had no such manifest.
    expect(error).toMatchObject({ code: 'E_IMAGE_NOT_FOUND', retryable: false });
    expect(stub.requests.some((request) => request.authorization?.startsWith('Basic '))).toBe(true);
  });

  it('reports a missing image as not found and not retryable', async () => {
    const { host } = await registry('not-found');
    const error = await pullError(runInProcess({ image: `${host}/team/missing:1` }));
    expect(error).toMatchObject({ code: 'E_IMAGE_NOT_FOUND', retryable: false });
  });

  it('abandons a pull that makes no progress, as a retryable failure', async () => {
    const { host } = await registry('hang');
    const startedAt = Date.now();
    const error = await pullError(
      runInProcess(
        { image: `${host}/team/slow:1` },
        { settings: { images: { pullNoProgressTimeoutMs: 2_000 } } },
      ),
    );
    expect(error).toMatchObject({ code: 'E_IMAGE_PULL', retryable: true });
    expect(error.message).toContain('no progress for 2 s');
    expect(Date.now() - startedAt).toBeLessThan(15_000);
  });

  it('pulls a reference once for callers that ask at the same time', async () => {
    const { host } = await registry('not-found');
    const docker = new Docker();
    const pull = vi.spyOn(docker, 'pull');
    const runtime = new DockerContainerRuntime({ docker });
    const request = { reference: `${host}/team/shared:1`, timeoutMs: 30_000, noProgressTimeoutMs: 30_000 };
    const results = await Promise.allSettled([
      runtime.pullImage({ ...request, signal: new AbortController().signal }),
      runtime.pullImage({ ...request, signal: new AbortController().signal }),
      runtime.pullImage({ ...request, signal: new AbortController().signal }),
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(pull).toHaveBeenCalledTimes(1);
  });

  it('cancels during a pull: Cancelled, exit 130', async () => {
    const { stub, host } = await registry('hang');
    const controller = new AbortController();
    const running = runInProcess({ image: `${host}/team/slow:1` }, { signal: controller.signal });
    const deadline = Date.now() + 30_000;
    while (stub.manifestRequests() === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    const error = await pullError(running);
    expect(error).toMatchObject({ code: 'E_CANCELLED' });
  });
});
