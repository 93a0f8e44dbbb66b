import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { InfrastructureError, UsageError } from '../../domain/errors.js';
import { assertImageReference } from '../../domain/image-reference.js';
import type {
  BuildImageRequest,
  ContainerAttachment,
  ContainerEventWatch,
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
  ImageInfo,
  LabelledContainer,
  OutputConsumer,
  PullImageRequest,
} from '../../ports/container-runtime.js';
import { packBuildContext } from './build-context.js';
import { assertNotEngineSocket, containerCreateBody } from './container-create-body.js';
import { ContainerEvents } from './container-events.js';
import { demuxStream } from './demux-stream.js';
import { createEngineClient, refuseRedirects } from './engine-client.js';
import {
  type ProgressEvent,
  describe,
  engineError,
  followProgress,
  isUnreachable,
  statusOf,
} from './engine-errors.js';
import { resolveImageUser } from './image-user.js';
import { pullImage } from './pull-image.js';
import { registryAuthFor } from './registry-auth.js';
import { SharedPulls } from './shared-pulls.js';

export interface DockerContainerRuntimeOptions {
  /** A dockerode instance; by default one from DOCKER_HOST or the local socket. Either way it is made to
   * refuse redirects. */
  docker?: Docker;
  /** Docker's config directory, whose config.json holds registry credentials (`auths`). */
  dockerConfigDir?: string;
}

/** The ContainerRuntime on a Docker engine, through dockerode. */
export class DockerContainerRuntime implements ContainerRuntime {
  private readonly docker: Docker;
  private readonly dockerConfigDir: string | undefined;
  private readonly pulls = new SharedPulls<ImageInfo>();
  private storageOptSupported: boolean | undefined;

  constructor(options: DockerContainerRuntimeOptions = {}) {
    this.docker = options.docker === undefined ? createEngineClient() : refuseRedirects(options.docker);
    this.dockerConfigDir = options.dockerConfigDir;
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (error) {
      throw engineError('ping', error);
    }
  }

  async networkGateway(network: string): Promise<string | undefined> {
    // The name becomes part of the request's URL path.
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(network)) return undefined;
    try {
      const info = (await this.docker.getNetwork(network).inspect()) as {
        IPAM?: { Config?: { Gateway?: string }[] | null };
      };
      return (info.IPAM?.Config ?? [])
        .map((config) => config.Gateway)
        .find((gateway): gateway is string => gateway !== undefined && /^\d+\.\d+\.\d+\.\d+$/.test(gateway));
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw engineError('inspect network', error);
    }
  }

  async inspectImage(reference: string): Promise<ImageInfo | undefined> {
    // The reference becomes part of the request's URL path: never one that is not a reference.
    assertImageReference(reference, 'image');
    try {
      const info = await this.docker.getImage(reference).inspect();
      return {
        id: info.Id,
        reference,
        repoDigests: info.RepoDigests,
        user: info.Config.User,
        stopSignal: (info.Config as { StopSignal?: string }).StopSignal ?? null,
      };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw engineError(`inspect image ${reference}`, error);
    }
  }

  async buildImage(request: BuildImageRequest): Promise<ImageInfo> {
    const context = await packBuildContext(request.contextDir, request.dockerfile);
    const lastLines: string[] = [];
    const remember = (line: string): void => {
      lastLines.push(line);
      if (lastLines.length > 20) lastLines.shift();
      request.onProgress?.(line);
    };
    let failure: string | undefined;
    try {
      const stream = await this.docker.buildImage(context, {
        t: request.tag,
        dockerfile: request.dockerfile,
        rm: true,
        forcerm: true,
        abortSignal: request.signal,
      } as Docker.ImageBuildOptions);
      await followProgress(this.docker, stream, request.signal, (event: ProgressEvent) => {
        if (event.stream) for (const line of event.stream.split('\n')) if (line.trim()) remember(line);
        if (event.error) failure = event.errorDetail?.message ?? event.error;
      });
    } catch (error) {
      request.signal.throwIfAborted();
      throw engineError(`build ${request.tag}`, error);
    } finally {
      context.destroy();
    }
    request.signal.throwIfAborted();
    if (failure !== undefined) {
      throw new UsageError(
        `building image ${request.tag} from ${request.contextDir} failed: ${failure}\n${lastLines.join('\n')}`,
        'E_IMAGE_BUILD_FAILED',
      );
    }
    const info = await this.inspectImage(request.tag);
    if (info === undefined)
      throw new InfrastructureError(`image ${request.tag} is missing right after its build`);
    return info;
  }

  /** One pull at a time per reference: later callers wait for the pull under way. */
  async pullImage(request: PullImageRequest): Promise<ImageInfo> {
    request.signal.throwIfAborted();
    assertImageReference(request.reference, 'image');
    return this.pulls.join(request.reference, request.signal, (signal) =>
      this.pullAndInspect(request, signal),
    );
  }

  private async pullAndInspect(request: PullImageRequest, signal: AbortSignal): Promise<ImageInfo> {
    const auth =
      request.auth ??
      (this.dockerConfigDir === undefined
        ? undefined
        : await registryAuthFor(request.reference, this.dockerConfigDir));
    await pullImage(this.docker, { ...request, ...(auth ? { auth } : {}), signal });
    const info = await this.inspectImage(request.reference);
    if (info === undefined)
      throw new InfrastructureError(`image ${request.reference} is missing right after its pull`);
    return info;
  }

  async resolveImageUser(
    imageId: string,
    user: string,
    labels: Record<string, string>,
  ): Promise<{ uid: number; gid: number }> {
    try {
      return await resolveImageUser(this.docker, imageId, user, labels);
    } catch (error) {
      throw engineError(`resolve user "${user}" of ${imageId}`, error);
    }
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    return (await this.createOnEngine(spec)).id;
  }

  async attachContainer(id: string, onOutput: OutputConsumer): Promise<ContainerAttachment> {
    let stream: NodeJS.ReadableStream & { destroy?: () => void };
    try {
      stream = await this.docker.getContainer(id).attach({ stream: true, stdout: true, stderr: true });
    } catch (error) {
      throw engineError(`attach to container ${id}`, error);
    }
    const done = demuxStream(stream as AsyncIterable<Buffer>, onOutput).catch((error: unknown) => {
      throw engineError(`read the output of container ${id}`, error);
    });
    done.catch(() => undefined);
    return { done, close: () => stream.destroy?.() };
  }

  async readContainerLogs(id: string, onOutput: OutputConsumer, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    let stream: Readable | undefined;
    const onAbort = (): void => {
      stream?.destroy(new Error(`reading the logs of container ${id} was abandoned`));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      // Followed, so it comes as a stream (multiplexed like the attach): an exited container's ends at once.
      stream = (await this.docker
        .getContainer(id)
        .logs({ stdout: true, stderr: true, follow: true, abortSignal: signal })) as unknown as Readable;
      signal.throwIfAborted();
      await demuxStream(stream, onOutput);
    } catch (error) {
      throw engineError(`read the logs of container ${id}`, error);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async startContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (error) {
      throw engineError(`start container ${id}`, error);
    }
  }

  async waitContainer(id: string, signal?: AbortSignal): Promise<number> {
    try {
      const result = (await this.docker
        .getContainer(id)
        .wait(signal === undefined ? {} : { abortSignal: signal })) as { StatusCode: number };
      return result.StatusCode;
    } catch (error) {
      throw engineError(`wait for container ${id}`, error);
    }
  }

  async killContainer(id: string, signal: string): Promise<void> {
    try {
      await this.docker.getContainer(id).kill({ signal });
    } catch (error) {
      // 409: it is not running any more, which is what we wanted.
      if (statusOf(error) !== 409 && statusOf(error) !== 404) throw engineError(`send ${signal}`, error);
    }
  }

  async inspectContainer(id: string): Promise<ContainerState | undefined> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      return {
        id: info.Id,
        running: info.State.Running || info.State.Restarting,
        exitCode: info.State.ExitCode,
        oomKilled: info.State.OOMKilled,
      };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw engineError(`inspect container ${id}`, error);
    }
  }

  /** The engine's oom, kill and die events about the container; the event stream ending means the engine went. */
  async watchContainer(id: string): Promise<ContainerEventWatch> {
    return ContainerEvents.watch(this.docker, id, () =>
      this.docker.ping().then(
        () => false,
        (error: unknown) => isUnreachable(error),
      ),
    );
  }

  async listLabelledContainers(label: string): Promise<LabelledContainer[]> {
    try {
      const containers = await this.docker.listContainers({ all: true, filters: { label: [label] } });
      return containers.map((info) => ({
        id: info.Id,
        name: (info.Names[0] ?? '').replace(/^\//, ''),
        labels: info.Labels,
        isRunning: info.State === 'running' || info.State === 'restarting',
      }));
    } catch (error) {
      throw engineError('list containers', error);
    }
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (error) {
      if (statusOf(error) !== 404) throw engineError(`remove container ${id}`, error);
    }
  }

  private async createOnEngine(spec: ContainerSpec): Promise<Docker.Container> {
    for (const mount of spec.mounts) assertNotEngineSocket(mount.hostPath);
    const useStorageOpt = spec.limits.storageBytes !== null && (await this.supportsStorageOpt());
    const body = containerCreateBody(spec, useStorageOpt);
    try {
      return await this.docker.createContainer(body);
    } catch (error) {
      if (statusOf(error) === 409) {
        await this.resolveNameConflict(spec.name);
        return this.createOnce(body, spec);
      }
      if (statusOf(error) === 404) {
        throw new UsageError(
          `image "${spec.image}" is not present on this Docker engine`,
          'E_IMAGE_NOT_FOUND',
          error,
        );
      }
      if (useStorageOpt && /storage.?opt|quota/i.test(describe(error))) {
        // The driver looked capable but the filesystem is not (e.g. xfs without pquota): fall back to the
        // workspace size check for good.
        this.storageOptSupported = false;
        return this.createOnce(containerCreateBody(spec, false), spec);
      }
      if (statusOf(error) === 400) {
        // The engine refuses the container's configuration (an invalid environment variable…): the same
        // request fails the same way on every attempt.
        throw new UsageError(
          `the Docker engine refused the container's configuration: ${describe(error)}`,
          'E_INVALID_INPUT',
          error,
        );
      }
      throw engineError(`create container ${spec.name}`, error);
    }
  }

  private async createOnce(
    body: Docker.ContainerCreateOptions,
    spec: ContainerSpec,
  ): Promise<Docker.Container> {
    try {
      return await this.docker.createContainer(body);
    } catch (error) {
      throw engineError(`create container ${spec.name}`, error);
    }
  }

  /** overlay2 can size a container's writable layer only on xfs (with pquota); these drivers always can. */
  private async supportsStorageOpt(): Promise<boolean> {
    if (this.storageOptSupported === undefined) {
      const info = (await this.docker.info()) as { Driver?: string; DriverStatus?: [string, string][] };
      const backing = info.DriverStatus?.find(([key]) => key === 'Backing Filesystem')?.[1];
      this.storageOptSupported =
        ['devicemapper', 'btrfs', 'zfs', 'windowsfilter'].includes(info.Driver ?? '') ||
        (info.Driver === 'overlay2' && backing === 'xfs');
    }
    return this.storageOptSupported;
  }

  /** A leftover with our name: a dead one is removed; a live one is never duplicated. */
  private async resolveNameConflict(name: string): Promise<void> {
    const existing = this.docker.getContainer(name);
    const info = await existing.inspect().catch((error: unknown) => {
      if (statusOf(error) === 404) return undefined;
      throw engineError(`inspect container ${name}`, error);
    });
    if (info === undefined) return;
    if (info.State.Running || info.State.Restarting) {
      throw new InfrastructureError(
        `a live container named ${name} already runs this attempt; not starting another`,
      );
    }
    await this.removeContainer(info.Id);
  }
}
