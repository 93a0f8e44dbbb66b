import { DEFAULT_CAPABILITIES } from '../config/worker-settings.js';
import { containerLabels, containerName, ownerLabels } from '../domain/container-labels.js';
import { UsageError } from '../domain/errors.js';
import { assertImageReference } from '../domain/image-reference.js';
import { CONTAINER_WORKSPACE_ROOT, type WorkspaceLayout } from '../domain/workspace-layout.js';
import type { ContainerExit, ContainerSpec, ImageInfo } from '../ports/container-runtime.js';
import type { ActionLog } from './action-log.js';
import type { InvocationPlan, PipelineDeps } from './invocation-plan.js';
import { type StorageExceededError, watchWorkspaceSize } from './storage-guard.js';
import { chownWorkspace } from './workspace.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/**
 * Makes the image available: builds a local action directory, or applies the pull policy to a reference
 * (`never`: it must be present; `if-not-present`: pulled when missing; `always`: pulled every time).
 */
export async function prepareImage(
  plan: InvocationPlan,
  deps: PipelineDeps,
  signal: AbortSignal,
): Promise<ImageInfo> {
  const { image } = plan;
  if (image.kind === 'build') {
    deps.logger.info({ contextDir: image.contextDir, tag: image.tag }, 'image.build.started');
    const info = await deps.runtime.buildImage({
      contextDir: image.contextDir,
      dockerfile: image.dockerfile,
      tag: image.tag,
      signal,
      onProgress: (line) => {
        deps.logger.debug({ line }, 'image.build.progress');
      },
    });
    deps.logger.info({ imageId: info.id, tag: image.tag }, 'image.build.finished');
    return info;
  }
  // Every entry checks it already; checked again here, before the first engine call, whatever the entry.
  assertImageReference(image.reference, 'image');
  const { pullPolicy } = deps.settings.images;
  const present = pullPolicy === 'always' ? undefined : await deps.runtime.inspectImage(image.reference);
  if (present !== undefined) return present;
  if (pullPolicy === 'never') {
    throw new UsageError(
      `image "${image.reference}" is not present on this Docker engine (pull policy: never)`,
      'E_IMAGE_NOT_FOUND',
    );
  }
  deps.logger.info({ reference: image.reference, pullPolicy }, 'image.pull.started');
  const info = await deps.runtime.pullImage({
    reference: image.reference,
    signal,
    timeoutMs: deps.settings.images.pullTimeoutMs,
    noProgressTimeoutMs: deps.settings.images.pullNoProgressTimeoutMs,
    onProgress: (status) => {
      deps.logger.debug({ status }, 'image.pull.progress');
    },
  });
  deps.logger.info({ imageId: info.id, digest: info.repoDigests[0] }, 'image.pull.finished');
  return info;
}

/**
 * The uid:gid the action runs as, with the workspace handed to it when that is not the worker: `worker`
 * (the default) is the worker's own; `image` is the image's USER resolved inside the image; or a number.
 */
export async function prepareContainerUser(
  deps: PipelineDeps,
  image: ImageInfo,
  layout: WorkspaceLayout,
): Promise<string | null> {
  const workerUid = process.getuid?.();
  const workerGid = process.getgid?.();
  const setting = deps.settings.container.user;
  if (setting === 'worker') return workerUid === undefined ? null : `${workerUid}:${workerGid ?? workerUid}`;
  const target =
    setting === 'image'
      ? await deps.runtime.resolveImageUser(image.id, image.user)
      : { uid: Number(setting.split(':')[0]), gid: Number(setting.split(':')[1] ?? 0) };
  if (target.uid !== workerUid) {
    if (workerUid !== 0) {
      throw new UsageError(
        `the action would run as uid ${target.uid}, but only a worker running as root can hand it the workspace; ` +
          'run the worker as that user or set the container user to "worker"',
      );
    }
    await chownWorkspace(layout, target.uid, target.gid);
  }
  return `${target.uid}:${target.gid}`;
}

/** The container for one attempt: contract environment, workspace mount, limits, hardening, labels. */
export function buildContainerSpec(
  plan: InvocationPlan,
  deps: Pick<PipelineDeps, 'settings'>,
  hostLayout: WorkspaceLayout,
  env: string[],
  image: ImageInfo,
  user: string | null,
): ContainerSpec {
  const { containerParameters: params, computeRequirements: compute } = plan;
  const { container } = deps.settings;
  return {
    name: containerName(plan.invocationId, plan.attempt),
    image: image.id,
    env,
    // Docker semantics: an empty entry_point clears the image's ENTRYPOINT, which the API spells [""].
    entrypoint:
      params.entry_point === null ? null : params.entry_point.length === 0 ? [''] : params.entry_point,
    command: params.command,
    workdir: params.workdir,
    user,
    labels: {
      ...containerLabels({
        workerId: deps.settings.workerId,
        invocationId: plan.invocationId,
        attempt: plan.attempt,
        actionName: plan.action.name,
      }),
      ...ownerLabels(deps.settings.owner),
    },
    mounts: [{ hostPath: hostLayout.root, containerPath: CONTAINER_WORKSPACE_ROOT, readOnly: false }],
    limits: {
      nanoCpus: Math.round((compute.vCPU / 1024) * 1e9),
      memoryBytes: compute.memory * MIB,
      pidsLimit: container.pidsLimit,
      storageBytes: container.storageQuota === 'auto' ? compute.storage * GIB : null,
    },
    security: {
      capAdd: [...new Set([...DEFAULT_CAPABILITIES, ...container.capAdd])],
      readOnlyRootfs: container.readOnlyRootfs,
      tmpfs: container.readOnlyRootfs
        ? { '/tmp': `rw,nosuid,nodev,size=${container.tmpfsSizeMiB}m,mode=1777` }
        : {},
      networkMode: container.networkMode,
    },
    timeoutMs: plan.timeoutMs,
    stopGraceMs: container.stopGraceMs,
    stopSignal: image.stopSignal ?? 'SIGTERM',
  };
}

/**
 * Runs the container with its output going through the action log (masking, live, capped, file), while the
 * workspace is watched against the storage requirement. A container stopped for using too much storage
 * comes back as `stopped` with a StorageExceededError as the reason.
 */
export async function runContainer(
  spec: ContainerSpec,
  deps: PipelineDeps,
  layout: WorkspaceLayout,
  log: ActionLog,
  signal: AbortSignal,
): Promise<ContainerExit> {
  const guard = new AbortController();
  const stopWatching =
    spec.limits.storageBytes === null
      ? () => undefined
      : watchWorkspaceSize(
          layout.root,
          spec.limits.storageBytes,
          deps.settings.container.storageCheckIntervalMs,
          (error: StorageExceededError) => {
            deps.logger.warn(
              { usedBytes: error.usedBytes, limitBytes: error.limitBytes },
              'run.storage_exceeded',
            );
            guard.abort(error);
          },
        );
  try {
    return await deps.runtime.runContainer(spec, {
      signal: AbortSignal.any([signal, guard.signal]),
      ...(deps.forceSignal ? { forceSignal: deps.forceSignal } : {}),
      onOutput: (stream, chunk) => log.write(stream, chunk),
      onStarted: (containerId) => {
        deps.logger.info({ containerId, containerName: spec.name }, 'container.started');
      },
    });
  } finally {
    stopWatching();
  }
}
