import {
  DEFAULT_CAPABILITIES,
  NON_ROOT_CAPABILITIES,
  ROOT_ONLY_CAPABILITIES,
} from '../config/worker-settings.js';
import {
  HelperPurpose,
  containerLabels,
  containerName,
  helperLabels,
  ownerLabels,
} from '../domain/container-labels.js';
import { UsageError } from '../domain/errors.js';
import { assertImageReference } from '../domain/image-reference.js';
import {
  CONTAINER_WORKSPACE_ROOT,
  type WorkspaceLayout,
  containerWorkspaceLayout,
} from '../domain/workspace-layout.js';
import type { ContainerExit, ContainerSpec, ImageInfo } from '../ports/container-runtime.js';
import type { ActionLog } from './action-log.js';
import { superviseContainer } from './container-supervisor.js';
import type { InvocationPlan, PipelineDeps, PipelineSettings } from './invocation-plan.js';
import { chownSecretsFile } from './secrets-file.js';
import type { InputStaging } from './setup.js';
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
  return ensureImage(image.reference, { ...deps, images: deps.settings.images }, signal);
}

/**
 * Applies the pull policy to a reference: `never`: it must be present; `if-not-present`: pulled when
 * missing; `always`: pulled every time. The pipeline's image stage, and the local run's pre-flight (which
 * skips `always`, so the image is pulled once), so a missing image is found out the same way by both.
 */
export async function ensureImage(
  reference: string,
  deps: Pick<PipelineDeps, 'runtime' | 'logger'> & { images: PipelineSettings['images'] },
  signal: AbortSignal,
): Promise<ImageInfo> {
  // Every entry checks it already; checked again here, before the first engine call, whatever the entry.
  assertImageReference(reference, 'image');
  const { pullPolicy } = deps.images;
  const present = pullPolicy === 'always' ? undefined : await deps.runtime.inspectImage(reference);
  if (present !== undefined) return present;
  if (pullPolicy === 'never') {
    throw new UsageError(
      `image "${reference}" is not present on this Docker engine (pull policy: never)`,
      'E_IMAGE_NOT_FOUND',
    );
  }
  deps.logger.info({ reference, pullPolicy }, 'image.pull.started');
  const info = await deps.runtime.pullImage({
    reference,
    signal,
    timeoutMs: deps.images.pullTimeoutMs,
    noProgressTimeoutMs: deps.images.pullNoProgressTimeoutMs,
    onProgress: (status) => {
      deps.logger.debug({ status }, 'image.pull.progress');
    },
  });
  deps.logger.info({ imageId: info.id, digest: info.repoDigests[0] }, 'image.pull.finished');
  return info;
}

/** Who the action runs as: a numeric uid:gid, or null for the image's own user (a worker without uids). */
export type ActionUser = { uid: number; gid: number } | null;

/**
 * Capabilities with which a process can change a file it does not own (its bytes, its mode, its owner),
 * or everything: an action holding any of them is given copies of its inputs, never hard links.
 */
const INODE_CAPABILITIES = new Set([...ROOT_ONLY_CAPABILITIES, 'SYS_ADMIN', 'ALL']);

function isRootOrUnknown(user: ActionUser): boolean {
  return user === null || user.uid === 0;
}

/**
 * Whether inputs may be hard-linked from the cache (entries owned by the worker, mode 0444): only when
 * the action's user can neither write them nor chmod them — not root (or unknown), not the worker's own
 * uid (the entries' owner), and holding none of the capabilities that override file ownership.
 */
export function inputStagingFor(
  user: ActionUser,
  workerUid: number | undefined,
  capAdd: readonly string[],
): InputStaging {
  if (user === null || workerUid === undefined) return 'copy';
  if (user.uid === 0 || user.uid === workerUid) return 'copy';
  if (capAdd.some((capability) => INODE_CAPABILITIES.has(capability.replace(/^CAP_/, '')))) return 'copy';
  return 'link';
}

/** The capability allowlist: the root-only ones (CHOWN, DAC_OVERRIDE, FOWNER, FSETID) for root only. */
export function capabilitiesFor(user: ActionUser, capAdd: readonly string[]): string[] {
  const base = isRootOrUnknown(user) ? DEFAULT_CAPABILITIES : NON_ROOT_CAPABILITIES;
  return [...new Set([...base, ...capAdd])];
}

function refuseRoot(how: string): never {
  throw new UsageError(
    `${how} is root, and actions run as root only when asked for by name: set container.user ` +
      '(ACTION_WORKER_CONTAINER_USER) to "root" to accept that (unsafe: a root action can write and chmod ' +
      'everything it is given), or to "auto" or a uid[:gid]',
  );
}

/**
 * The uid:gid the action runs as (`container.user`): `auto` (the default) is `unprivilegedUser` when the
 * worker is root and the worker's own uid:gid otherwise; `worker` the worker's; `image` the image's USER
 * resolved inside the image; `root` root; or a number. Root only by name (`root`, `0`, `0:0`): `worker`
 * or `image` that turn out to be root are refused.
 */
export async function resolveActionUser(
  deps: PipelineDeps,
  image: ImageInfo,
  /** The attempt, whose labels any helper container carries. */
  plan: { invocationId: string; attempt: number; action: { name: string } },
): Promise<ActionUser> {
  const workerUid = process.getuid?.();
  const workerGid = process.getgid?.();
  const { user: setting, unprivilegedUser } = deps.settings.container;
  const numeric = (value: string) => {
    const [uid = '0', gid] = value.split(':');
    return { uid: Number(uid), gid: Number(gid ?? 0) };
  };
  switch (setting) {
    case 'root':
      return { uid: 0, gid: 0 };
    case 'auto':
      if (workerUid === undefined) return null;
      return workerUid === 0 ? numeric(unprivilegedUser) : { uid: workerUid, gid: workerGid ?? workerUid };
    case 'worker':
      if (workerUid === undefined) return null;
      if (workerUid === 0) refuseRoot('container.user "worker": this worker');
      return { uid: workerUid, gid: workerGid ?? workerUid };
    case 'image': {
      const target = await deps.runtime.resolveImageUser(
        image.id,
        image.user,
        helperLabels(
          HelperPurpose.imageUser,
          {
            workerId: deps.settings.workerId,
            invocationId: plan.invocationId,
            attempt: plan.attempt,
            actionName: plan.action.name,
          },
          deps.settings.owner,
        ),
      );
      if (target.uid === 0) refuseRoot(`container.user "image": the USER of ${image.reference}`);
      return target;
    }
    default:
      return numeric(setting);
  }
}

/**
 * Hands the workspace (and secrets.json) to the action's user when that is not the worker; only a root
 * worker can.
 */
export async function handOverWorkspace(
  deps: PipelineDeps,
  user: ActionUser,
  layout: WorkspaceLayout,
  hasSecrets: boolean,
): Promise<void> {
  const workerUid = process.getuid?.();
  if (user === null || user.uid === workerUid) return;
  if (workerUid !== 0) {
    throw new UsageError(
      `the action would run as uid ${user.uid}, but only a worker running as root can hand it the workspace; ` +
        'run the worker as that user or set the container user to "auto" or "worker"',
    );
  }
  await chownWorkspace(layout, user.uid, user.gid);
  if (hasSecrets) await chownSecretsFile(deps.settings.secretsTmpfsDir, layout, user.uid, user.gid);
}

/** The container for one attempt: contract environment, workspace mount, limits, hardening, labels. */
export function buildContainerSpec(
  plan: InvocationPlan,
  deps: Pick<PipelineDeps, 'settings'>,
  hostLayout: WorkspaceLayout,
  env: string[],
  image: ImageInfo,
  user: ActionUser,
  /** The tmpfs file holding secrets.json, bind-mounted read-only at .roboto/secrets.json. */
  secretsFile: string | null = null,
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
    user: user === null ? null : `${user.uid}:${user.gid}`,
    labels: {
      ...containerLabels({
        workerId: deps.settings.workerId,
        invocationId: plan.invocationId,
        attempt: plan.attempt,
        actionName: plan.action.name,
      }),
      ...ownerLabels(deps.settings.owner),
    },
    mounts: [
      { hostPath: hostLayout.root, containerPath: CONTAINER_WORKSPACE_ROOT, readOnly: false },
      ...(secretsFile === null
        ? []
        : [{ hostPath: secretsFile, containerPath: containerWorkspaceLayout().secretsFile, readOnly: true }]),
    ],
    limits: {
      nanoCpus: Math.round((compute.vCPU / 1024) * 1e9),
      memoryBytes: compute.memory * MIB,
      pidsLimit: container.pidsLimit,
      storageBytes: container.storageQuota === 'auto' ? compute.storage * GIB : null,
    },
    security: {
      capAdd: capabilitiesFor(user, container.capAdd),
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
    return await superviseContainer(deps.runtime, spec, {
      signal: AbortSignal.any([signal, guard.signal]),
      ...(deps.forceSignal ? { forceSignal: deps.forceSignal } : {}),
      onOutput: (stream, chunk) => log.write(stream, chunk),
      onStarted: (containerId) => {
        deps.logger.info({ containerId, containerName: spec.name }, 'container.started');
      },
      logger: deps.logger,
    });
  } finally {
    stopWatching();
  }
}
