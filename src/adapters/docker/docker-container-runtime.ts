import { setTimeout as delay } from 'node:timers/promises';
import Docker from 'dockerode';
import { ActionWorkerError, InfrastructureError, UsageError } from '../../domain/errors.js';
import type {
  BuildImageRequest,
  ContainerExit,
  ContainerRuntime,
  ContainerSpec,
  ImageInfo,
  RunContainerOptions,
} from '../../ports/container-runtime.js';
import { packBuildContext } from './build-context.js';
import { demuxStream } from './demux-stream.js';

export interface DockerContainerRuntimeOptions {
  /** A dockerode instance; by default one from DOCKER_HOST or the local socket. */
  docker?: Docker;
  /** How long to wait for a container to be gone after SIGKILL before giving up. */
  killTimeoutMs?: number;
}

interface DockerError {
  statusCode?: number;
  json?: { message?: string } | null;
  code?: string;
  message: string;
}

function statusOf(error: unknown): number | undefined {
  return (error as DockerError | undefined)?.statusCode;
}

function describe(error: unknown): string {
  const dockerError = error as DockerError;
  return dockerError.json?.message ?? dockerError.message;
}

/** Wraps an engine error: anything that is not ours is infrastructure trouble, hence retryable. */
function engineError(what: string, error: unknown): ActionWorkerError {
  if (error instanceof ActionWorkerError) return error;
  const code = (error as DockerError).code;
  if (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'EACCES') {
    return new InfrastructureError(
      `${what}: the Docker engine is not reachable (${code})`,
      'E_DOCKER',
      error,
    );
  }
  return new InfrastructureError(`${what}: ${describe(error)}`, 'E_DOCKER', error);
}

/** The ContainerRuntime on a Docker engine, through dockerode. */
export class DockerContainerRuntime implements ContainerRuntime {
  private readonly docker: Docker;
  private readonly killTimeoutMs: number;

  constructor(options: DockerContainerRuntimeOptions = {}) {
    this.docker = options.docker ?? new Docker();
    this.killTimeoutMs = options.killTimeoutMs ?? 30_000;
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (error) {
      throw engineError('ping', error);
    }
  }

  async inspectImage(reference: string): Promise<ImageInfo | undefined> {
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
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(
          stream,
          (error: Error | null) => {
            if (error) reject(error);
            else resolve();
          },
          (event: { stream?: string; error?: string; errorDetail?: { message?: string } }) => {
            if (event.stream) for (const line of event.stream.split('\n')) if (line.trim()) remember(line);
            if (event.error) failure = event.errorDetail?.message ?? event.error;
          },
        );
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

  async runContainer(spec: ContainerSpec, options: RunContainerOptions): Promise<ContainerExit> {
    options.signal.throwIfAborted();
    const container = await this.createContainer(spec);
    try {
      return await this.superviseContainer(container, spec, options);
    } finally {
      await container.remove({ force: true, v: true }).catch((error: unknown) => {
        if (statusOf(error) !== 404) throw engineError(`remove container ${spec.name}`, error);
      });
    }
  }

  private async createContainer(spec: ContainerSpec): Promise<Docker.Container> {
    const body: Docker.ContainerCreateOptions = {
      name: spec.name,
      Image: spec.image,
      Env: spec.env,
      Labels: spec.labels,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      OpenStdin: false,
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
        // An init process forwards signals and reaps zombies: a shell as PID 1 ignores SIGTERM.
        Init: true,
        SecurityOpt: ['no-new-privileges'],
        Privileged: false,
        // The worker keeps the log itself; Docker's copy stays small.
        LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '1' } },
      },
    };
    if (spec.entrypoint !== null) body.Entrypoint = spec.entrypoint;
    if (spec.command !== null) body.Cmd = spec.command;
    if (spec.workdir !== null) body.WorkingDir = spec.workdir;
    if (spec.user !== null) body.User = spec.user;
    try {
      return await this.docker.createContainer(body);
    } catch (error) {
      if (statusOf(error) === 409) {
        await this.resolveNameConflict(spec.name);
        try {
          return await this.docker.createContainer(body);
        } catch (retryError) {
          throw engineError(`create container ${spec.name}`, retryError);
        }
      }
      if (statusOf(error) === 404) {
        throw new UsageError(
          `image "${spec.image}" is not present on this Docker engine`,
          'E_IMAGE_NOT_FOUND',
          error,
        );
      }
      throw engineError(`create container ${spec.name}`, error);
    }
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
    await existing.remove({ force: true, v: true }).catch((error: unknown) => {
      if (statusOf(error) !== 404) throw engineError(`remove leftover container ${name}`, error);
    });
  }

  private async superviseContainer(
    container: Docker.Container,
    spec: ContainerSpec,
    options: RunContainerOptions,
  ): Promise<ContainerExit> {
    let attach: NodeJS.ReadableStream;
    try {
      // Attach before start so no output is lost.
      attach = await container.attach({
        stream: true,
        stdout: true,
        stderr: true,
      });
    } catch (error) {
      throw engineError(`attach to ${spec.name}`, error);
    }
    const pump = demuxStream(attach as AsyncIterable<Buffer>, options.onOutput);
    // Keep a failure of the pump from going unobserved until it is awaited.
    pump.catch(() => undefined);
    try {
      await container.start();
    } catch (error) {
      (attach as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      throw engineError(`start container ${spec.name}`, error);
    }
    options.onStarted?.(container.id);

    // Waiting after start with the default condition cannot miss an exit: an exited container answers at once.
    const exited = container.wait() as Promise<{ StatusCode: number }>;
    exited.catch(() => undefined);
    const stopReason = await this.waitForExitOrStop(exited, spec.timeoutMs, options.signal);
    if (stopReason !== undefined) await this.stopLadder(container, spec, exited);
    let exitCode: number | null;
    try {
      exitCode = (await exited).StatusCode;
    } catch (error) {
      throw engineError(`wait for container ${spec.name}`, error);
    }
    await pump;

    const state = (await container.inspect()).State;
    if (stopReason === 'cancelled') return { kind: 'cancelled', exitCode };
    if (stopReason === 'timed-out') return { kind: 'timed-out', timeoutMs: spec.timeoutMs, exitCode };
    if (state.OOMKilled)
      return { kind: 'oom', exitCode: state.ExitCode, memoryLimitBytes: spec.limits.memoryBytes };
    return { kind: 'exited', exitCode: state.ExitCode };
  }

  private async waitForExitOrStop(
    exited: Promise<unknown>,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<'timed-out' | 'cancelled' | undefined> {
    const timer = new AbortController();
    const onAbort = (): void => {
      timer.abort();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.race([
        exited.then(
          () => undefined,
          () => undefined,
        ),
        delay(timeoutMs, 'timed-out' as const, { signal: timer.signal }).catch(() =>
          signal.aborted ? ('cancelled' as const) : undefined,
        ),
      ]);
    } finally {
      timer.abort();
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** STOPSIGNAL (or SIGTERM) → grace → SIGKILL → until the container has exited. */
  private async stopLadder(
    container: Docker.Container,
    spec: ContainerSpec,
    exited: Promise<unknown>,
  ): Promise<void> {
    const image = await this.inspectImage(spec.image);
    await this.kill(container, image?.stopSignal ?? 'SIGTERM');
    if (await settlesWithin(exited, spec.stopGraceMs)) return;
    await this.kill(container, 'SIGKILL');
    if (!(await settlesWithin(exited, this.killTimeoutMs))) {
      throw new InfrastructureError(
        `container ${spec.name} did not exit ${this.killTimeoutMs} ms after SIGKILL`,
      );
    }
  }

  private async kill(container: Docker.Container, signal: string): Promise<void> {
    try {
      await container.kill({ signal });
    } catch (error) {
      // 409: it is not running any more, which is what we wanted.
      if (statusOf(error) !== 409 && statusOf(error) !== 404) throw engineError(`send ${signal}`, error);
    }
  }
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = promise.then(
    () => true,
    () => true,
  );
  const controller = new AbortController();
  try {
    return await Promise.race([settled, delay(ms, false, { signal: controller.signal })]);
  } finally {
    controller.abort();
  }
}
