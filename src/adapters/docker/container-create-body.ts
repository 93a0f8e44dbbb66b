import { statSync } from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { UsageError } from '../../domain/errors.js';
import type { ContainerSpec } from '../../ports/container-runtime.js';

/** The Engine API body for a container spec: limits, hardening, labels. */
export function containerCreateBody(
  spec: ContainerSpec,
  useStorageOpt: boolean,
): Docker.ContainerCreateOptions {
  const body: Docker.ContainerCreateOptions = {
    name: spec.name,
    Image: spec.image,
    Env: spec.env,
    Labels: spec.labels,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    OpenStdin: false,
    StopSignal: spec.stopSignal,
    HostConfig: {
      Mounts: spec.mounts.map((mount) => ({
        Type: 'bind' as const,
        Source: mount.hostPath,
        Target: mount.containerPath,
        ReadOnly: mount.readOnly,
      })),
      NanoCpus: spec.limits.nanoCpus,
      Memory: spec.limits.memoryBytes,
      // Equal to Memory: no swap on top of the limit.
      MemorySwap: spec.limits.memoryBytes,
      PidsLimit: spec.limits.pidsLimit,
      // Under memory pressure the kernel picks the action before the worker.
      OomScoreAdj: 500,
      // An init process forwards signals and reaps zombies: a shell as PID 1 ignores SIGTERM.
      Init: true,
      Privileged: false,
      SecurityOpt: ['no-new-privileges'],
      CapDrop: ['ALL'],
      CapAdd: spec.security.capAdd,
      ReadonlyRootfs: spec.security.readOnlyRootfs,
      Tmpfs: spec.security.tmpfs,
      NetworkMode: spec.security.networkMode,
      // The worker keeps the log itself; Docker's copy stays small.
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '1' } },
      ...(useStorageOpt && spec.limits.storageBytes !== null
        ? { StorageOpt: { size: String(spec.limits.storageBytes) } }
        : {}),
    },
  };
  if (spec.entrypoint !== null) body.Entrypoint = spec.entrypoint;
  if (spec.command !== null) body.Cmd = spec.command;
  if (spec.workdir !== null) body.WorkingDir = spec.workdir;
  if (spec.user !== null) body.User = spec.user;
  return body;
}

/** The engine's socket gives root on the host: it is never mounted into an action container. */
export function assertNotEngineSocket(hostPath: string): void {
  const isSocket = (() => {
    try {
      return statSync(hostPath).isSocket();
    } catch {
      return false;
    }
  })();
  if (isSocket || path.basename(hostPath) === 'docker.sock') {
    throw new UsageError(`refusing to mount ${hostPath} into an action container: it is a socket`, 'E_USAGE');
  }
}
