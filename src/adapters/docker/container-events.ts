import type Docker from 'dockerode';
import type { ContainerEventWatch } from '../../ports/container-runtime.js';

/** One line of the engine's event stream (the fields used here). */
interface EngineEvent {
  Action?: string;
  status?: string;
}

/**
 * The engine's events about one running container, and the stream itself as a sign of the engine's life:
 *
 * - `oom`: on cgroup v2 State.OOMKilled misses a kill of a child process, the event does not;
 * - `kill`: a kill request through the engine. The worker watches only while it sends none itself, so one
 *   seen here came from elsewhere: the engine stopping its containers as it shuts down, or someone else;
 * - `die`: the container's end; every event before it has been delivered once it is seen;
 * - the stream ending or breaking: the engine went away (shut down, crashed, restarted). A shutdown closes it
 *   once the engine has stopped every container; a killed engine breaks it at once.
 */
export class ContainerEvents implements ContainerEventWatch {
  private oom = false;
  private outsideKill = false;
  private engineGone = false;
  private isStopped = false;
  private stream: (NodeJS.ReadableStream & { destroy: () => void }) | undefined;
  private readonly diedSignal = new AbortController();
  private readonly goneSignal = new AbortController();

  private constructor(private readonly isUnreachable: () => Promise<boolean>) {}

  /**
   * Subscribes to the container's events; without them (an engine refusing), every question answers no.
   * `isUnreachable`: whether the engine has stopped answering (asked by `engineGoneWithin`).
   */
  static async watch(
    docker: Docker,
    containerId: string,
    isUnreachable: () => Promise<boolean> = () => Promise.resolve(false),
  ): Promise<ContainerEvents> {
    const events = new ContainerEvents(isUnreachable);
    try {
      const stream = (await docker.getEvents({
        filters: { type: ['container'], event: ['oom', 'kill', 'die'], container: [containerId] },
      })) as NodeJS.ReadableStream & { destroy: () => void };
      events.follow(stream);
    } catch {
      // Without events, State.OOMKilled and the exit code still answer.
    }
    return events;
  }

  private follow(stream: NodeJS.ReadableStream & { destroy: () => void }): void {
    this.stream = stream;
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') this.onEvent(line);
    });
    const ended = (): void => {
      if (this.isStopped) return;
      this.engineGone = true;
      this.goneSignal.abort();
    };
    stream.on('end', ended);
    stream.on('close', ended);
    stream.on('error', ended);
  }

  private onEvent(line: string): void {
    let event: EngineEvent;
    try {
      event = JSON.parse(line) as EngineEvent;
    } catch {
      return;
    }
    const action = event.Action ?? event.status;
    if (action === 'oom') this.oom = true;
    else if (action === 'kill') this.outsideKill = true;
    else if (action === 'die') this.diedSignal.abort();
  }

  get hasSeenOom(): boolean {
    return this.oom;
  }

  /** A kill request the worker did not send (it watches only while it sends none). */
  get hasSeenOutsideKill(): boolean {
    return this.outsideKill;
  }

  /** The event stream ended or broke: the engine went away. */
  get isEngineGone(): boolean {
    return this.engineGone;
  }

  /** Aborted when the engine goes away. */
  get gone(): AbortSignal {
    return this.goneSignal.signal;
  }

  /** Resolves once the `die` event has come (or the engine went away), or after `ms`. */
  async dieSeen(ms: number): Promise<void> {
    if (this.stream === undefined) return;
    await firstOf([this.diedSignal.signal, this.goneSignal.signal], ms);
  }

  /** Whether the engine goes away within `ms`, or `alsoGone` answers true first (checked every 500 ms). */
  async goneWithin(ms: number, alsoGone: () => Promise<boolean>): Promise<boolean> {
    if (this.stream === undefined) return false;
    const deadline = Date.now() + ms;
    while (!this.engineGone && Date.now() < deadline) {
      if (await alsoGone()) return true;
      await firstOf([this.goneSignal.signal], Math.min(500, deadline - Date.now()));
    }
    return this.engineGone;
  }

  /** Whether the engine goes away within `ms`, or stops answering. */
  async engineGoneWithin(ms: number): Promise<boolean> {
    return this.goneWithin(ms, this.isUnreachable);
  }

  stop(): void {
    this.isStopped = true;
    this.stream?.destroy();
  }
}

/**
 * Resolves when any of the signals aborts, or after `ms`. (Not through `AbortSignal.any`: Node 20 may
 * collect such a composite signal while it is awaited, and the wait never ends.)
 */
async function firstOf(signals: AbortSignal[], ms: number): Promise<void> {
  if (signals.some((signal) => signal.aborted)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      for (const signal of signals) signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    for (const signal of signals) signal.addEventListener('abort', done, { once: true });
  });
}
