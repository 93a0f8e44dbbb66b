import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InfrastructureError, UsageError } from '../../src/domain/errors.js';
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
  OutputStream,
  PullImageRequest,
} from '../../src/ports/container-runtime.js';

/** How a scripted container behaves once started. */
export interface FakeBehaviour {
  /** Files it writes once started, by container path (under one of its mounts). */
  files?: Record<string, string>;
  /** Written in order once it has started. */
  output?: { stream: OutputStream; text: string }[];
  /** Exit code when it ends by itself (default 0). */
  exitCode?: number;
  /** How long it runs after writing its output before it exits by itself; Infinity: until a signal ends it. */
  runMs?: number;
  /** Signals it ignores (SIGKILL cannot be ignored). */
  ignores?: string[];
  /** After its output, the kernel's OOM killer ends it (exit 137, reported as OOM-killed). */
  oom?: boolean;
  /** After its output, its engine shuts down: the container is stopped (143) and the event stream ends. */
  engineStops?: boolean;
  /** Its attachments get none of its output (an engine answering the attach before connecting the
   * streams); its log has it all. */
  attachMisses?: boolean;
  /** Reading its log never ends by itself (a half-alive engine): only the reader's signal ends it. */
  logsHang?: boolean;
  /** Every removal of it fails (an engine error). */
  failRemove?: boolean;
  /** Its creation fails with this error. */
  createError?: Error;
}

export type FakeCall =
  | { method: 'create'; name: string }
  | { method: 'attach' | 'start' | 'wait' | 'inspect' | 'watch' | 'logs' | 'remove'; id: string }
  | { method: 'kill'; id: string; signal: string };

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
};

interface FakeContainer {
  id: string;
  spec: ContainerSpec;
  behaviour: FakeBehaviour;
  state: 'created' | 'running' | 'exited';
  exitCode: number;
  oomKilled: boolean;
  /** All it wrote, as the engine's log keeps it. */
  log: { stream: OutputStream; text: string }[];
  consumers: { onOutput: OutputConsumer; end: () => void; fail: (error: unknown) => void }[];
  exited: Promise<void>;
  /** The output being written: attachments end once it is. */
  writing: Promise<void>;
  markExited: () => void;
  /** Ends the timer of a container running for `runMs`. */
  stopRunning: AbortController;
  watches: FakeWatch[];
}

class FakeWatch implements ContainerEventWatch {
  hasSeenOom = false;
  hasSeenOutsideKill = false;
  isEngineGone = false;
  private readonly goneController = new AbortController();
  stopped = false;

  constructor(private readonly container: FakeContainer) {}

  get gone(): AbortSignal {
    return this.goneController.signal;
  }

  engineWentAway(): void {
    this.isEngineGone = true;
    this.goneController.abort();
  }

  async dieSeen(ms: number): Promise<void> {
    await Promise.race([this.container.exited, new Promise((resolve) => setTimeout(resolve, ms).unref())]);
  }

  engineGoneWithin(): Promise<boolean> {
    return Promise.resolve(this.isEngineGone);
  }

  stop(): void {
    this.stopped = true;
  }
}

/**
 * A ContainerRuntime without an engine, for unit tests: containers follow a script (see FakeBehaviour),
 * chosen by container name (`script`), else the next queued one (`scriptNext`), else the default. Every
 * call is recorded in `calls`.
 */
export class FakeContainerRuntime implements ContainerRuntime {
  readonly calls: FakeCall[] = [];
  readonly images = new Map<string, ImageInfo>();
  private readonly containers = new Map<string, FakeContainer>();
  private readonly byName = new Map<string, FakeBehaviour>();
  private readonly queue: FakeBehaviour[] = [];

  constructor(
    images: string[] = ['fake/action:1'],
    private readonly defaultBehaviour: FakeBehaviour = {},
  ) {
    for (const reference of images) this.addImage(reference);
  }

  addImage(reference: string): ImageInfo {
    const info: ImageInfo = {
      id: `sha256:${randomBytes(32).toString('hex')}`,
      reference,
      repoDigests: [],
      user: '',
      stopSignal: null,
    };
    this.images.set(reference, info);
    return info;
  }

  /** The behaviour of the container created with this name. */
  script(name: string, behaviour: FakeBehaviour): void {
    this.byName.set(name, behaviour);
  }

  /** The behaviour of the next container created without a script of its own. */
  scriptNext(behaviour: FakeBehaviour): void {
    this.queue.push(behaviour);
  }

  /** The containers that exist now (created and not removed). */
  get liveContainers(): ContainerState[] {
    return [...this.containers.values()].map((container) => stateOf(container));
  }

  /** Resolves once a container has started (polls, with a deadline). */
  async started(timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = [...this.containers.values()].find((container) => container.state === 'running');
      if (running) return running.id;
      if (Date.now() > deadline) throw new Error('no container started');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  inspectImage(reference: string): Promise<ImageInfo | undefined> {
    return Promise.resolve(this.findImage(reference));
  }

  buildImage(request: BuildImageRequest): Promise<ImageInfo> {
    return Promise.resolve(this.addImage(request.tag));
  }

  pullImage(request: PullImageRequest): Promise<ImageInfo> {
    return Promise.resolve(this.findImage(request.reference) ?? this.addImage(request.reference));
  }

  resolveImageUser(): Promise<{ uid: number; gid: number }> {
    return Promise.resolve({ uid: 65534, gid: 65534 });
  }

  listLabelledContainers(label: string): Promise<LabelledContainer[]> {
    const [key, value] = label.split('=');
    return Promise.resolve(
      [...this.containers.values()]
        .filter(
          (container) =>
            key !== undefined &&
            (value === undefined ? key in container.spec.labels : container.spec.labels[key] === value),
        )
        .map((container) => ({
          id: container.id,
          name: container.spec.name,
          labels: container.spec.labels,
          isRunning: container.state === 'running',
        })),
    );
  }

  /** No networks here: a local run over the fake starts no in-process API on a gateway. */
  networkGateway(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    this.calls.push({ method: 'create', name: spec.name });
    const behaviour = this.byName.get(spec.name) ?? this.queue.shift() ?? this.defaultBehaviour;
    if (behaviour.createError) throw behaviour.createError;
    if (this.findImage(spec.image) === undefined) {
      throw new UsageError(`image "${spec.image}" is not present on this Docker engine`, 'E_IMAGE_NOT_FOUND');
    }
    const existing = [...this.containers.values()].find((container) => container.spec.name === spec.name);
    if (existing?.state === 'running') {
      throw new InfrastructureError(
        `a live container named ${spec.name} already runs this attempt; not starting another`,
      );
    }
    if (existing) this.containers.delete(existing.id);
    let markExited: () => void = () => undefined;
    const exited = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    const container: FakeContainer = {
      id: randomBytes(32).toString('hex'),
      spec,
      behaviour,
      state: 'created',
      exitCode: 0,
      oomKilled: false,
      log: [],
      consumers: [],
      exited,
      writing: Promise.resolve(),
      markExited,
      stopRunning: new AbortController(),
      watches: [],
    };
    this.containers.set(container.id, container);
    await Promise.resolve();
    return container.id;
  }

  attachContainer(id: string, onOutput: OutputConsumer): Promise<ContainerAttachment> {
    this.calls.push({ method: 'attach', id });
    const container = this.get(id);
    let end: () => void = () => undefined;
    let fail: (error: unknown) => void = () => undefined;
    const done = new Promise<void>((resolve, reject) => {
      end = resolve;
      fail = reject;
    });
    done.catch(() => undefined);
    const consumer = { onOutput, end, fail };
    if (container.state === 'exited') end();
    else container.consumers.push(consumer);
    return Promise.resolve({
      done,
      close: () => {
        container.consumers = container.consumers.filter((c) => c !== consumer);
        end();
      },
    });
  }

  async readContainerLogs(id: string, onOutput: OutputConsumer, signal: AbortSignal): Promise<void> {
    this.calls.push({ method: 'logs', id });
    const container = this.get(id);
    for (const { stream, text } of container.log) await onOutput(stream, Buffer.from(text));
    if (container.behaviour.logsHang === true) {
      await new Promise<never>((_resolve, reject) => {
        const abandon = (): void => {
          reject(new InfrastructureError(`reading the logs of container ${id} was abandoned`, 'E_DOCKER'));
        };
        if (signal.aborted) abandon();
        else signal.addEventListener('abort', abandon, { once: true });
      });
    }
  }

  startContainer(id: string): Promise<void> {
    this.calls.push({ method: 'start', id });
    const container = this.get(id);
    if (container.state !== 'created') return Promise.resolve();
    container.state = 'running';
    void this.run(container);
    return Promise.resolve();
  }

  async waitContainer(id: string, signal?: AbortSignal): Promise<number> {
    this.calls.push({ method: 'wait', id });
    const container = this.get(id);
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        reject(new InfrastructureError(`waiting for container ${id} was abandoned`, 'E_DOCKER'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      void container.exited.then(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
    return container.exitCode;
  }

  killContainer(id: string, signal: string): Promise<void> {
    this.calls.push({ method: 'kill', id, signal });
    const container = this.containers.get(id);
    if (container?.state !== 'running') return Promise.resolve();
    // An engine reports every kill request; who sent it, it cannot say.
    for (const watch of container.watches) watch.hasSeenOutsideKill = true;
    if (signal !== 'SIGKILL' && container.behaviour.ignores?.includes(signal)) return Promise.resolve();
    this.exit(container, 128 + (SIGNAL_NUMBERS[signal] ?? 15));
    return Promise.resolve();
  }

  inspectContainer(id: string): Promise<ContainerState | undefined> {
    this.calls.push({ method: 'inspect', id });
    const container = this.containers.get(id);
    return Promise.resolve(container === undefined ? undefined : stateOf(container));
  }

  watchContainer(id: string): Promise<ContainerEventWatch> {
    this.calls.push({ method: 'watch', id });
    const container = this.get(id);
    const watch = new FakeWatch(container);
    container.watches.push(watch);
    return Promise.resolve(watch);
  }

  removeContainer(id: string): Promise<void> {
    this.calls.push({ method: 'remove', id });
    const container = this.containers.get(id);
    if (container === undefined) return Promise.resolve();
    if (container.behaviour.failRemove) {
      return Promise.reject(
        new InfrastructureError(`remove container ${id}: device or resource busy`, 'E_DOCKER'),
      );
    }
    if (container.state === 'running') this.exit(container, 137);
    this.containers.delete(id);
    return Promise.resolve();
  }

  /** The calls' method names, in order. */
  get methods(): string[] {
    return this.calls.map((call) => (call.method === 'kill' ? `kill ${call.signal}` : call.method));
  }

  private async write(container: FakeContainer): Promise<void> {
    for (const [file, content] of Object.entries(container.behaviour.files ?? {})) {
      const mount = container.spec.mounts.find((m) => file.startsWith(`${m.containerPath}/`));
      if (mount === undefined) throw new Error(`${file} is under none of the container's mounts`);
      const hostPath = path.join(mount.hostPath, path.posix.relative(mount.containerPath, file));
      await mkdir(path.dirname(hostPath), { recursive: true });
      await writeFile(hostPath, content);
    }
    for (const { stream, text } of container.behaviour.output ?? []) {
      if (container.state !== 'running') return;
      container.log.push({ stream, text });
      if (container.behaviour.attachMisses) continue;
      for (const consumer of container.consumers) {
        try {
          await consumer.onOutput(stream, Buffer.from(text));
        } catch (error) {
          consumer.fail(error);
          container.consumers = container.consumers.filter((c) => c !== consumer);
        }
      }
    }
  }

  private async run(container: FakeContainer): Promise<void> {
    const { behaviour } = container;
    container.writing = this.write(container);
    await container.writing;
    if (container.state !== 'running') return;
    if (behaviour.oom) {
      for (const watch of container.watches) watch.hasSeenOom = true;
      this.exit(container, 137, true);
      return;
    }
    if (behaviour.engineStops) {
      for (const watch of container.watches) watch.engineWentAway();
      this.exit(container, 143);
      return;
    }
    const runMs = behaviour.runMs ?? 0;
    if (runMs === Infinity) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, runMs);
      container.stopRunning.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
    // Unless a signal ended it meanwhile.
    if (isRunning(container)) this.exit(container, behaviour.exitCode ?? 0);
  }

  private exit(container: FakeContainer, exitCode: number, oomKilled = false): void {
    container.state = 'exited';
    container.exitCode = exitCode;
    container.oomKilled = oomKilled;
    container.stopRunning.abort();
    container.markExited();
    // Like an engine, the output ends once all the container wrote has been delivered.
    void container.writing.then(() => {
      for (const consumer of container.consumers) consumer.end();
      container.consumers = [];
    });
  }

  private get(id: string): FakeContainer {
    const container = this.containers.get(id);
    if (container === undefined) throw new InfrastructureError(`no such container: ${id}`, 'E_DOCKER');
    return container;
  }

  private findImage(reference: string): ImageInfo | undefined {
    return this.images.get(reference) ?? [...this.images.values()].find((image) => image.id === reference);
  }
}

function isRunning(container: FakeContainer): boolean {
  return container.state === 'running';
}

function stateOf(container: FakeContainer): ContainerState {
  return {
    id: container.id,
    running: container.state === 'running',
    exitCode: container.exitCode,
    oomKilled: container.oomKilled,
  };
}
