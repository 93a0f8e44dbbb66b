import { containerLabels, containerName } from '../domain/container-labels.js';
import { UsageError } from '../domain/errors.js';
import { StreamMasker } from '../domain/secret-masker.js';
import { CONTAINER_WORKSPACE_ROOT, type WorkspaceLayout } from '../domain/workspace-layout.js';
import type { ContainerExit, ContainerSpec, ImageInfo, OutputStream } from '../ports/container-runtime.js';
import type { InvocationPlan, PipelineDeps } from './invocation-plan.js';

const MIB = 1024 * 1024;

/** Builds the image of a local action directory, or checks that the referenced image is present. */
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
  const info = await deps.runtime.inspectImage(image.reference);
  if (info === undefined) {
    throw new UsageError(
      `image "${image.reference}" is not present on this Docker engine`,
      'E_IMAGE_NOT_FOUND',
    );
  }
  return info;
}

/** The container for one attempt: contract environment, workspace mount, limits, labels. */
export function buildContainerSpec(
  plan: InvocationPlan,
  deps: Pick<PipelineDeps, 'settings'>,
  hostLayout: WorkspaceLayout,
  env: string[],
  image: ImageInfo,
): ContainerSpec {
  const { containerParameters: params, computeRequirements: compute } = plan;
  return {
    name: containerName(plan.invocationId, plan.attempt),
    image: image.id,
    env,
    // Docker semantics: an empty entry_point clears the image's ENTRYPOINT, which the API spells [""].
    entrypoint:
      params.entry_point === null ? null : params.entry_point.length === 0 ? [''] : params.entry_point,
    command: params.command,
    workdir: params.workdir,
    user: deps.settings.containerUser,
    labels: containerLabels({
      workerId: deps.settings.workerId,
      invocationId: plan.invocationId,
      attempt: plan.attempt,
      actionName: plan.action.name,
    }),
    mounts: [{ hostPath: hostLayout.root, containerPath: CONTAINER_WORKSPACE_ROOT, readOnly: false }],
    limits: {
      nanoCpus: Math.round((compute.vCPU / 1024) * 1e9),
      memoryBytes: compute.memory * MIB,
      pidsLimit: deps.settings.pidsLimit,
    },
    timeoutMs: plan.timeoutMs,
    stopGraceMs: deps.settings.stopGraceMs,
  };
}

/** Runs the container, masking every secret value in its output before anyone sees it. */
export async function runContainer(
  spec: ContainerSpec,
  deps: PipelineDeps,
  secretValues: readonly string[],
  signal: AbortSignal,
): Promise<ContainerExit> {
  const maskers: Record<OutputStream, StreamMasker> = {
    stdout: new StreamMasker(secretValues),
    stderr: new StreamMasker(secretValues),
  };
  try {
    return await deps.runtime.runContainer(spec, {
      signal,
      onOutput: async (stream, chunk) => {
        const masked = maskers[stream].push(chunk);
        if (masked.length > 0) await deps.onOutput(stream, masked);
      },
      onStarted: (containerId) => {
        deps.logger.info({ containerId, containerName: spec.name }, 'container.started');
      },
    });
  } finally {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = maskers[stream].flush();
      if (rest.length > 0) await deps.onOutput(stream, rest);
    }
  }
}
