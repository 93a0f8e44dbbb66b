import type { ContainerSpec } from '../../src/ports/container-runtime.js';

const MIB = 1024 * 1024;

/** What a test container spec may set besides its name and image; `limits` merges into the defaults. */
export type ContainerSpecOverrides = Partial<Omit<ContainerSpec, 'name' | 'image' | 'limits'>> & {
  limits?: Partial<ContainerSpec['limits']>;
};

/**
 * A container spec for tests that drive the runtime or the supervisor directly: the image's own
 * entrypoint and user, no mounts, no network, half a vCPU, 64 MiB, a minute to run and a 1 s stop grace,
 * unless `overrides` say otherwise.
 */
export function testContainerSpec(
  name: string,
  image: string,
  { limits, ...overrides }: ContainerSpecOverrides = {},
): ContainerSpec {
  return {
    name,
    image,
    env: [],
    entrypoint: null,
    command: null,
    workdir: null,
    user: null,
    labels: {},
    mounts: [],
    security: { capAdd: [], readOnlyRootfs: false, tmpfs: {}, networkMode: 'none' },
    timeoutMs: 60_000,
    stopGraceMs: 1_000,
    stopSignal: 'SIGTERM',
    ...overrides,
    limits: { nanoCpus: 500_000_000, memoryBytes: 64 * MIB, pidsLimit: 64, storageBytes: null, ...limits },
  };
}

/** A shell script as the container's whole command (`/bin/sh -c SCRIPT`). */
export function shellCommand(script: string): Pick<ContainerSpec, 'entrypoint' | 'command'> {
  return { entrypoint: ['/bin/sh', '-c'], command: [script] };
}
