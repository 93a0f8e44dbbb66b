import { afterAll, describe, expect, it } from 'vitest';
import { DockerContainerRuntime } from '../../src/adapters/docker/docker-container-runtime.js';
import type { ContainerAttachment } from '../../src/ports/container-runtime.js';
import { superviseContainer } from '../../src/stages/container-supervisor.js';
import { docker } from '../support/harness.js';
import { shellCommand, testContainerSpec } from '../support/container-spec.js';
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
    const spec = testContainerSpec(name, BASE_IMAGE, {
      ...shellCommand('echo to stdout; echo to stderr >&2; exit 4'),
      labels: { 'dev.action-worker.test': 'output-recovery' },
    });
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
