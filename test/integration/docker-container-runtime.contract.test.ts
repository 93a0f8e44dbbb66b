import { afterAll } from 'vitest';
import { DockerContainerRuntime } from '../../src/adapters/docker/docker-container-runtime.js';
import type { ContainerSpec } from '../../src/ports/container-runtime.js';
import {
  type ContractProgram,
  describeContainerRuntimeContract,
} from '../contract/container-runtime.contract.js';
import { docker } from '../support/harness.js';
import { shellCommand, testContainerSpec } from '../support/container-spec.js';
import { BASE_IMAGE } from '../support/paths.js';

const MIB = 1024 * 1024;
const runtime = new DockerContainerRuntime();
const names: string[] = [];

/** The program as a shell script for the busybox image (values through the environment, never quoted). */
function script(program: ContractProgram): { script: string; env: string[]; memoryBytes: number } {
  switch (program.kind) {
    case 'writes':
      return {
        script: 'printf "%s" "$OUT"; printf "%s" "$ERR" >&2; exit "$CODE"',
        env: [`OUT=${program.stdout}`, `ERR=${program.stderr}`, `CODE=${program.exitCode}`],
        memoryBytes: 64 * MIB,
      };
    case 'runs-until-signalled':
      // An ignored signal stays ignored across exec; the init process forwards SIGTERM to the shell's child.
      return {
        script: `${program.ignoresTerm ? "trap '' TERM; " : ''}printf "%s" "$READY"; exec sleep 600`,
        env: [`READY=${program.ready}`],
        memoryBytes: 64 * MIB,
      };
    case 'exceeds-memory':
      // tail keeps the current line in memory, and /dev/zero never ends one.
      return { script: 'echo filling memory; tail -n 1 /dev/zero', env: [], memoryBytes: 32 * MIB };
  }
}

afterAll(async () => {
  for (const name of names.splice(0))
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
});

describeContainerRuntimeContract('DockerContainerRuntime', () =>
  Promise.resolve({
    runtime,
    missingImage: 'action-worker/contract-missing:never-built',
    patienceMs: 30_000,
    containerFor: (program): Promise<ContainerSpec> => {
      const name = `action-worker-contract-${process.pid}-${names.length}-${Date.now()}`;
      names.push(name);
      const { script: command, env, memoryBytes } = script(program);
      return Promise.resolve(
        testContainerSpec(name, BASE_IMAGE, {
          ...shellCommand(command),
          env,
          labels: { 'dev.action-worker.test': 'container-runtime-contract' },
          limits: { memoryBytes },
        }),
      );
    },
  }),
);
