import { statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { InfrastructureError, UsageError } from '../../domain/errors.js';
import { assertImageReference } from '../../domain/image-reference.js';
import type {
  BuildImageRequest,
  ContainerExit,
  ContainerRuntime,
  ContainerSpec,
  ImageInfo,
  LabelledContainer,
  PullImageRequest,
  RunContainerOptions,
} from '../../ports/container-runtime.js';
import { packBuildContext } from './build-context.js';
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

export interface DockerContainerRuntimeOptions {
  /** A dockerode instance; by default one from DOCKER_HOST or the local socket. Either way it is made to
   * refuse redirects. */
  docker?: Docker;
  /** How long to wait for a container to be gone after SIGKILL before giving up. */
  killTimeoutMs?: number;
  /** Docker's config directory, whose config.json holds registry credentials (`auths`). */
  dockerConfigDir?: string;
}

/** A pull shared by everyone asking for the same reference at once; aborted only when all have given up. */
interface SharedPull {
  promise: Promise<ImageInfo>;
  controller: AbortController;
  waiters: number;
}

/** The ContainerRuntime on a Docker engine, through dockerode. */
export class DockerContainerRuntime implements ContainerRuntime {
  private readonly docker: Docker;
  private readonly killTimeoutMs: number;
  private readonly dockerConfigDir: string | undefined;
  private readonly pulls = new Map<string, SharedPull>();
  private storageOptSupported: boolean | undefined;

  constructor(options: DockerContainerRuntimeOptions = {}) {
    this.docker = options.docker === undefined ? createEngineClient() : refuseRedirects(options.docker);
    this.killTimeoutMs = options.killTimeoutMs ?? 30_000;
    this.dockerConfigDir = options.dockerConfigDir;
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (error) {
      throw engineError('ping', error);
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
    let shared = this.pulls.get(request.reference);
    if (shared === undefined) {
      const controller = new AbortController();
      // Nothing is awaited between the lookup above and the set below: one pull per reference.
      const promise = this.pullAndInspect(request, controller.signal).finally(() =>
        this.pulls.delete(request.reference),
      );
      // Observed here too, so a pull every waiter gave up on does not reject unhandled.
      promise.catch(() => undefined);
      shared = { promise, controller, waiters: 0 };
      this.pulls.set(request.reference, shared);
    }
    const pull = shared;
    pull.waiters += 1;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        pull.waiters -= 1;
        if (pull.waiters === 0) {
          // Nobody wants it any more: a caller arriving now starts a fresh pull instead of joining this one.
          if (this.pulls.get(request.reference) === pull) this.pulls.delete(request.reference);
          pull.controller.abort();
        }
        reject(request.signal.reason as Error);
      };
      request.signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      return await Promise.race([pull.promise, aborted]);
    } finally {
      if (onAbort) request.signal.removeEventListener('abort', onAbort);
      if (!request.signal.aborted) pull.waiters -= 1;
    }
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

  async runContainer(spec: ContainerSpec, options: RunContainerOptions): Promise<ContainerExit> {
    options.signal.throwIfAborted();
    const container = await this.createContainer(spec);
    try {
      return await this.superviseContainer(container, spec, options);
    } finally {
      // A failed removal must not replace the run's result (an exit 0 turned into a retryable failure runs
      // the action again): the container carries our labels, and the sweep and the next create's name
      // conflict handling remove it.
      await this.removeContainer(container.id).catch(() => undefined);
    }
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

  private async createContainer(spec: ContainerSpec): Promise<Docker.Container> {
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
    const events = await ContainerEvents.watch(this.docker, container.id);
    // A consumer that fails (a full disk under the log file) must not stop the reading: the container would
    // block on a full pipe. Its error is kept and raised once the container has exited.
    let consumerError: unknown;
    const onOutput = async (stream: 'stdout' | 'stderr', chunk: Buffer): Promise<void> => {
      if (consumerError !== undefined) return;
      try {
        await options.onOutput(stream, chunk);
      } catch (error) {
        consumerError = error;
      }
    };
    try {
      const pump = demuxStream(attach as AsyncIterable<Buffer>, onOutput);
      // Keep a failure of the pump from going unobserved until it is awaited.
      pump.catch(() => undefined);
      try {
        // A cancel that arrived while the container was being created or attached: never start it.
        options.signal.throwIfAborted();
        await container.start();
      } catch (error) {
        if (options.signal.aborted) throw options.signal.reason;
        (attach as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        throw engineError(`start container ${spec.name}`, error);
      }
      options.onStarted?.(container.id);

      // Waiting after start with the default condition cannot miss an exit: an exited container answers at once.
      const exited = this.waitUntilExited(container, spec, events);
      exited.catch(() => undefined);
      const stopReason = await waitForExitOrStop(exited, spec.timeoutMs, options.signal);
      if (stopReason !== undefined) await this.stopLadder(container, spec, exited, options.forceSignal);
      const { exitCode, engine } = await exited;
      // Not stopped by us, so not the action's doing either when the engine ended it: another attempt may
      // well complete. Checked before anything else asks an engine that may be gone.
      if (stopReason === undefined && (await this.engineEnded(events, engine))) {
        throw new InfrastructureError(
          `the Docker engine stopped or restarted while the action ran (its container ended with code ${exitCode})`,
          'E_ENGINE_RESTARTED',
        );
      }
      try {
        await pump;
      } catch (error) {
        throw engineError(`read the output of ${spec.name}`, error);
      }
      if (consumerError !== undefined) {
        throw new InfrastructureError(
          `handling the output of ${spec.name} failed: ${consumerError instanceof Error ? consumerError.message : 'unknown error'}`,
          'E_IO',
          consumerError,
        );
      }
      let state: Docker.ContainerInspectInfo['State'];
      try {
        state = (await container.inspect()).State;
      } catch (error) {
        throw engineError(`inspect ${spec.name} after it exited`, error);
      }
      if (stopReason === 'stopped') return { kind: 'stopped', exitCode, reason: options.signal.reason };
      if (stopReason === 'timed-out') return { kind: 'timed-out', timeoutMs: spec.timeoutMs, exitCode };
      // Never concluded from exit code 137 alone: the engine must say the kernel's OOM killer acted.
      if (state.ExitCode !== 0 && (state.OOMKilled || events.hasSeenOom)) {
        return { kind: 'oom', exitCode: state.ExitCode, memoryLimitBytes: spec.limits.memoryBytes };
      }
      return { kind: 'exited', exitCode: state.ExitCode };
    } finally {
      events.stop();
    }
  }

  /**
   * The exit code. A wait whose connection breaks (an engine restart) does not mean the container died: the
   * container is inspected until it has really exited. A killed engine breaks the wait without ending it,
   * so the event stream breaking abandons the wait too. `engine`: `steady` when the wait answered;
   * `went-away` when the engine went away meanwhile and, once it answered again, the container had ended
   * (an engine without live restore stops its containers); `came-back` when the container still ran once
   * the engine answered again (live restore), and was followed to its own end.
   */
  private async waitUntilExited(
    container: Docker.Container,
    spec: ContainerSpec,
    events: ContainerEvents,
  ): Promise<{ exitCode: number; engine: EngineCourse }> {
    // A killed engine leaves the wait's response unfinished for ever: its end is not waited for then.
    const abandon = new AbortController();
    const engineGone = new Promise<undefined>((resolve) => {
      const onGone = (): void => {
        abandon.abort();
        resolve(undefined);
      };
      if (events.gone.aborted) onGone();
      else events.gone.addEventListener('abort', onGone, { once: true });
    });
    try {
      const waited = container.wait({ abortSignal: abandon.signal }) as Promise<{ StatusCode: number }>;
      waited.catch(() => undefined);
      const result = await Promise.race([waited, engineGone]);
      if (result !== undefined) return { exitCode: result.StatusCode, engine: 'steady' };
    } catch {
      // Followed by inspecting it below.
    }
    const deadline = Date.now() + spec.timeoutMs + spec.stopGraceMs + this.killTimeoutMs;
    const engineDeadline = Date.now() + ENGINE_RETURN_MS;
    let hasAnsweredSince = false;
    while (Date.now() < deadline) {
      let state: Docker.ContainerInspectInfo['State'] | undefined;
      try {
        state = (await container.inspect()).State;
      } catch (error) {
        if (statusOf(error) === 404) {
          throw new InfrastructureError(
            events.isEngineGone
              ? `the Docker engine restarted while the action ran and lost its container ${spec.name}`
              : `container ${spec.name} disappeared while it ran`,
            events.isEngineGone ? 'E_ENGINE_RESTARTED' : 'E_DOCKER',
            error,
          );
        }
      }
      if (state !== undefined) {
        if (!state.Running && !state.Restarting) {
          if (hasAnsweredSince) return { exitCode: state.ExitCode, engine: 'came-back' };
          return { exitCode: state.ExitCode, engine: events.isEngineGone ? 'went-away' : 'steady' };
        }
        hasAnsweredSince = true;
      } else if (!hasAnsweredSince && Date.now() > engineDeadline) {
        throw new InfrastructureError(
          `the Docker engine went away while ${spec.name} ran and has not answered for ${ENGINE_RETURN_MS / 1000} s`,
          'E_ENGINE_RESTARTED',
        );
      }
      await delay(1000);
    }
    throw new InfrastructureError(`lost track of container ${spec.name}: the engine stopped answering`);
  }

  /**
   * Whether the container ended because its engine did: the engine went away while waiting (and did not
   * come back to a container still running), or its event
   * stream ends (or the engine stops answering) shortly after a kill the worker did not send. An engine
   * shutting down first stops every container (its STOPSIGNAL, then SIGKILL after the container's stop
   * timeout), then closes its streams; anyone else's `docker stop` leaves the engine running, and the exit
   * stays the action's. An action killing itself leaves no kill event at all.
   */
  private async engineEnded(events: ContainerEvents, engine: EngineCourse): Promise<boolean> {
    if (engine !== 'steady') return engine === 'went-away';
    await events.dieSeen(DIE_EVENT_WAIT_MS);
    if (events.isEngineGone) return true;
    if (!events.hasSeenOutsideKill) return false;
    return await events.goneWithin(ENGINE_SHUTDOWN_MS, () =>
      this.docker.ping().then(
        () => false,
        (error: unknown) => isUnreachable(error),
      ),
    );
  }

  /** STOPSIGNAL (or SIGTERM) → grace (cut short by the force signal) → SIGKILL → until it has exited. */
  private async stopLadder(
    container: Docker.Container,
    spec: ContainerSpec,
    exited: Promise<unknown>,
    force: AbortSignal | undefined,
  ): Promise<void> {
    if (!force?.aborted) {
      await this.kill(container, spec.stopSignal);
      if (await settlesWithin(exited, spec.stopGraceMs, force)) return;
    }
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

/** The Engine API body for a container spec: limits, hardening, labels. */
function containerCreateBody(spec: ContainerSpec, useStorageOpt: boolean): Docker.ContainerCreateOptions {
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
function assertNotEngineSocket(hostPath: string): void {
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

async function waitForExitOrStop(
  exited: Promise<unknown>,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<'timed-out' | 'stopped' | undefined> {
  if (signal.aborted) return 'stopped';
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
      longDelay(timeoutMs, timer.signal).then(
        () => 'timed-out' as const,
        () => (signal.aborted ? ('stopped' as const) : undefined),
      ),
    ]);
  } finally {
    timer.abort();
    signal.removeEventListener('abort', onAbort);
  }
}

/** What the engine did while a container ran: see `waitUntilExited`. */
type EngineCourse = 'steady' | 'went-away' | 'came-back';

/** How long a container is followed while its engine does not answer, before the attempt gives up on it. */
const ENGINE_RETURN_MS = 120_000;
/** How long the `die` event may trail the wait's answer (both are the same moment on the engine). */
const DIE_EVENT_WAIT_MS = 5_000;
/**
 * How long an engine shutting down may take to close its streams after it stopped a container: the other
 * containers' stop timeouts (10 s by default), then its own shutdown.
 */
const ENGINE_SHUTDOWN_MS = 20_000;

/** Node cuts a timer over 2^31 - 1 ms (24.8 days) to 1 ms: a long timeout is waited out in steps. */
const MAX_TIMER_MS = 2_147_483_647;

async function longDelay(ms: number, signal: AbortSignal): Promise<void> {
  let remaining = ms;
  while (remaining > 0) {
    const step = Math.min(remaining, MAX_TIMER_MS);
    await delay(step, undefined, { signal });
    remaining -= step;
  }
}

/** True when the promise settles within `ms`; false on the deadline or when `cutShort` is aborted. */
async function settlesWithin(
  promise: Promise<unknown>,
  ms: number,
  cutShort?: AbortSignal,
): Promise<boolean> {
  const settled = promise.then(
    () => true,
    () => true,
  );
  const controller = new AbortController();
  const onCut = (): void => {
    controller.abort();
  };
  cutShort?.addEventListener('abort', onCut, { once: true });
  try {
    return await Promise.race([settled, delay(ms, false, { signal: controller.signal }).catch(() => false)]);
  } finally {
    controller.abort();
    cutShort?.removeEventListener('abort', onCut);
  }
}
