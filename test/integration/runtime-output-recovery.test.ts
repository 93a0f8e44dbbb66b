import { afterAll, describe, expect, it } from 'vitest';
import { DockerContainerRuntime } from '../../src/adapters/docker/docker-container-runtime.js';
import type { ContainerAttachment, ContainerSpec } from '../../src/ports/container-runtime.js';
import { superviseContainer } from '../../src/stages/container-supervisor.js';
import { docker } from '../support/harness.js';
import { BASE_IMAGE } from '../support/paths.js';

/** The real engine, but an attach that gets nothing: as when dockerd answers before connecting the streams. */
class AttachMissingEverything extends DockerContainerRuntime {
  override attachContainer(): Promise<ContainerAttachment> {
    return Promise.resolve({ done: Promise.resolve(), close: () => undefined });
  }
}

const name = `action-worker-output-recovery-${process.pid}-${Date.now()}`;

describe('output an attach missed', () => {
  afterAll(async () => {
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
  });

  it("is recovered from the engine's log of the container before it is removed", async () => {
    const spec: ContainerSpec = {
      name,
      image: BASE_IMAGE,
      env: [],
      entrypoint: ['/bin/sh', '-c'],
      command: ['echo to stdout; echo to stderr >&2; exit 4'],
      workdir: null,
      user: null,
      labels: { 'dev.action-worker.test': 'output-recovery' },
      mounts: [],
      limits: { nanoCpus: 500_000_000, memoryBytes: 64 * 1024 * 1024, pidsLimit: 64, storageBytes: null },
      security: { capAdd: [], readOnlyRootfs: false, tmpfs: {}, networkMode: 'none' },
      timeoutMs: 60_000,
      stopGraceMs: 1_000,
      stopSignal: 'SIGTERM',
    };
    const output = { stdout: '', stderr: '' };
    const exit = await superviseContainer(new AttachMissingEverything(), spec, {
      signal: new AbortController().signal,
      onOutput: (stream, chunk) => {
        output[stream] += chunk.toString();
        return Promise.resolve();
      },
    });
    expect(exit).toEqual({ kind: 'exited', exitCode: 4 });
    expect(output).toEqual({ stdout: 'to stdout\n', stderr: 'to stderr\n' });
    expect(await new DockerContainerRuntime().inspectContainer(name)).toBeUndefined();
  });
});
