import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DockerContainerRuntime } from '../../src/adapters/docker/docker-container-runtime.js';
import { InfrastructureError } from '../../src/domain/errors.js';
import type { ContainerSpec } from '../../src/ports/container-runtime.js';
import { superviseContainer } from '../../src/stages/container-supervisor.js';
import { docker, removeTempDirs, tempDir } from '../support/harness.js';
import { shellCommand, testContainerSpec } from '../support/container-spec.js';
import { BASE_IMAGE } from '../support/paths.js';

const runtime = new DockerContainerRuntime();
const names: string[] = [];

async function spec(name: string): Promise<ContainerSpec> {
  names.push(name);
  const image = await runtime.inspectImage(BASE_IMAGE);
  return testContainerSpec(name, image!.id, {
    ...shellCommand('echo fresh attempt'),
    labels: { 'dev.action-worker.test': name },
    mounts: [{ hostPath: await tempDir('conflict-ws'), containerPath: '/roboto/ws', readOnly: false }],
    limits: { nanoCpus: 1e9, memoryBytes: 256 * 1024 * 1024 },
    timeoutMs: 30_000,
  });
}

async function collect(
  run: (onOutput: (s: string, c: Buffer) => Promise<void>) => Promise<unknown>,
): Promise<string> {
  let out = '';
  await run((_stream, chunk) => {
    out += chunk.toString();
    return Promise.resolve();
  });
  return out;
}

describe('container name conflicts', () => {
  afterEach(async () => {
    for (const name of names.splice(0))
      await docker
        .getContainer(name)
        .remove({ force: true })
        .catch(() => undefined);
  });
  afterAll(removeTempDirs);

  it('removes a dead leftover with the same name and runs', async () => {
    const name = `action-worker-conflict-dead-${process.pid}`;
    await docker.createContainer({ name, Image: BASE_IMAGE, Cmd: ['true'] });
    const containerSpec = await spec(name);
    const output = await collect((onOutput) =>
      superviseContainer(runtime, containerSpec, { signal: new AbortController().signal, onOutput }),
    );
    expect(output).toBe('fresh attempt\n');
  });

  it('refuses to start a second container next to a live one of the same attempt', async () => {
    const name = `action-worker-conflict-live-${process.pid}`;
    const live = await docker.createContainer({ name, Image: BASE_IMAGE, Cmd: ['sleep', '60'] });
    await live.start();
    const containerSpec = await spec(name);
    const attempt = superviseContainer(runtime, containerSpec, {
      signal: new AbortController().signal,
      onOutput: () => Promise.resolve(),
    });
    await expect(attempt).rejects.toBeInstanceOf(InfrastructureError);
    await expect(attempt).rejects.toThrow(/a live container named .* already runs this attempt/);
    expect((await live.inspect()).State.Running).toBe(true);
  });
});
