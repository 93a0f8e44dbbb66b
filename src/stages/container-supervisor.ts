import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { InfrastructureError } from '../domain/errors.js';
import type {
  ContainerEventWatch,
  ContainerExit,
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
  OutputConsumer,
} from '../ports/container-runtime.js';

export interface SupervisorOptions {
  /** Aborting stops the container with the ladder; the abort reason comes back in the result. */
  signal: AbortSignal;
  /** Aborting skips what is left of the grace period: SIGKILL now. */
  forceSignal?: AbortSignal;
  /** Called for every chunk the container writes; awaited, so a slow consumer slows the reader. */
  onOutput: OutputConsumer;
  /** Called once the container has started. */
  onStarted?: (containerId: string) => void;
  /** Where a failed removal is reported (it never replaces the run's result). */
  logger?: Pick<Logger, 'warn'>;
  timings?: Partial<SupervisorTimings>;
}

export interface SupervisorTimings {
  /** How long to wait for a container to be gone after SIGKILL before giving up. */
  killTimeoutMs: number;
  /** How long a container is followed while its engine does not answer, before the attempt gives up on it. */
  engineReturnMs: number;
  /** How long the `die` event may trail the wait's answer (both are the same moment on the engine). */
  dieEventWaitMs: number;
  /**
   * How long an engine shutting down may take to close its streams after it stopped a container: the other
   * containers' stop timeouts (10 s by default), then its own shutdown.
   */
  engineShutdownMs: number;
  /** How often a container is inspected while its wait cannot be trusted (the engine went away). */
  inspectIntervalMs: number;
  /** How long reading an exited container's log (see `recoverOutput`) may take before it is given up. */
  logsRecoveryMs: number;
}

export const DEFAULT_SUPERVISOR_TIMINGS: SupervisorTimings = {
  killTimeoutMs: 30_000,
  engineReturnMs: 120_000,
  dieEventWaitMs: 5_000,
  engineShutdownMs: 20_000,
  inspectIntervalMs: 1_000,
  logsRecoveryMs: 15_000,
};

/** What the engine did while a container ran: see `waitUntilExited`. */
type EngineCourse = 'steady' | 'went-away' | 'came-back';

/**
 * Runs one container to its end and always removes it: creates it, attaches before start so no output is
 * lost, starts it, applies the timeout and the stop ladder (STOPSIGNAL → grace → SIGKILL; the force signal
 * skips the grace), and says how it ended — exited, OOM-killed, timed out, or stopped on purpose. An engine
 * that went away under the container is an InfrastructureError E_ENGINE_RESTARTED (retryable), not the
 * action's exit.
 */
export async function superviseContainer(
  runtime: ContainerRuntime,
  spec: ContainerSpec,
  options: SupervisorOptions,
): Promise<ContainerExit> {
  options.signal.throwIfAborted();
  const timings = { ...DEFAULT_SUPERVISOR_TIMINGS, ...options.timings };
  const id = await runtime.createContainer(spec);
  try {
    return await supervise(runtime, id, spec, options, timings);
  } finally {
    // A failed removal must not replace the run's result (an exit 0 turned into a retryable failure runs
    // the action again): the container carries our labels, and the sweep and the next create's name
    // conflict handling remove it.
    await runtime.removeContainer(id).catch((error: unknown) => {
      options.logger?.warn(
        { err: error, containerId: id, containerName: spec.name },
        'container.remove_failed',
      );
    });
  }
}

async function supervise(
  runtime: ContainerRuntime,
  id: string,
  spec: ContainerSpec,
  options: SupervisorOptions,
  timings: SupervisorTimings,
): Promise<ContainerExit> {
  // A consumer that fails (a full disk under the log file) must not stop the reading: the container would
  // block on a full pipe. Its error is kept and raised once the container has exited.
  let consumerError: unknown;
  let deliveredBytes = 0;
  const onOutput: OutputConsumer = async (stream, chunk) => {
    deliveredBytes += chunk.length;
    if (consumerError !== undefined) return;
    try {
      await options.onOutput(stream, chunk);
    } catch (error) {
      consumerError = error;
    }
  };
  // Attach before start so no output is lost.
  const attachment = await runtime.attachContainer(id, onOutput);
  // Keep a failure of the reading from going unobserved until it is awaited.
  attachment.done.catch(() => undefined);
  let events: ContainerEventWatch | undefined;
  try {
    events = await runtime.watchContainer(id);
    try {
      // A cancel that arrived while the container was being created or attached: never start it.
      options.signal.throwIfAborted();
      await runtime.startContainer(id);
    } catch (error) {
      if (options.signal.aborted) throw options.signal.reason;
      throw error;
    }
    options.onStarted?.(id);

    // Waiting after start cannot miss an exit: an exited container answers at once.
    const exited = waitUntilExited(runtime, id, spec, events, timings);
    exited.catch(() => undefined);
    const stopReason = await waitForExitOrStop(exited, spec.timeoutMs, options.signal);
    if (stopReason !== undefined) await stopLadder(runtime, id, spec, exited, options.forceSignal, timings);
    const { exitCode, engine } = await exited;
    // Not stopped by us, so not the action's doing either when the engine ended it: another attempt may
    // well complete. Checked before anything else asks an engine that may be gone.
    if (stopReason === undefined && (await engineEnded(events, engine, timings))) {
      throw new InfrastructureError(
        `the Docker engine stopped or restarted while the action ran (its container ended with code ${exitCode})`,
        'E_ENGINE_RESTARTED',
      );
    }
    await attachment.done;
    if (deliveredBytes === 0) {
      await recoverOutput(runtime, id, spec, onOutput, options, timings.logsRecoveryMs);
    }
    if (consumerError !== undefined) {
      throw new InfrastructureError(
        `handling the output of ${spec.name} failed: ${consumerError instanceof Error ? consumerError.message : 'unknown error'}`,
        'E_IO',
        consumerError,
      );
    }
    const state = await runtime.inspectContainer(id);
    if (state === undefined) {
      throw new InfrastructureError(`container ${spec.name} disappeared right after it exited`, 'E_DOCKER');
    }
    if (stopReason === 'stopped') return { kind: 'stopped', exitCode, reason: options.signal.reason };
    if (stopReason === 'timed-out') return { kind: 'timed-out', timeoutMs: spec.timeoutMs, exitCode };
    // Never concluded from exit code 137 alone: the engine must say the kernel's OOM killer acted.
    if (state.exitCode !== 0 && (state.oomKilled || events.hasSeenOom)) {
      return { kind: 'oom', exitCode: state.exitCode, memoryLimitBytes: spec.limits.memoryBytes };
    }
    return { kind: 'exited', exitCode: state.exitCode };
  } finally {
    events?.stop();
    attachment.close();
  }
}

/**
 * An attachment that delivered nothing may have missed everything: an engine can answer the attach before
 * it has connected the container's streams to it. The engine's own copy of the output (its log) has it
 * then; read once the container has exited, and only when the attachment delivered nothing, so that no
 * byte comes twice. Best effort: a failure to read it leaves the run's result alone, and so does a read
 * that takes longer than `limitMs` or is forced (a half-alive engine must not hold the attempt's slot).
 */
async function recoverOutput(
  runtime: ContainerRuntime,
  id: string,
  spec: ContainerSpec,
  onOutput: OutputConsumer,
  { logger, forceSignal }: SupervisorOptions,
  limitMs: number,
): Promise<void> {
  const limit = AbortSignal.timeout(limitMs);
  const signal = forceSignal === undefined ? limit : AbortSignal.any([limit, forceSignal]);
  let recoveredBytes = 0;
  try {
    await runtime.readContainerLogs(
      id,
      (stream, chunk) => {
        recoveredBytes += chunk.length;
        return onOutput(stream, chunk);
      },
      signal,
    );
  } catch (error) {
    logger?.warn({ err: error, containerId: id, containerName: spec.name }, 'container.logs_unreadable');
    return;
  }
  if (recoveredBytes > 0) {
    logger?.warn(
      { containerId: id, containerName: spec.name, bytes: recoveredBytes },
      'container.output_recovered_from_logs',
    );
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
async function waitUntilExited(
  runtime: ContainerRuntime,
  id: string,
  spec: ContainerSpec,
  events: ContainerEventWatch,
  timings: SupervisorTimings,
): Promise<{ exitCode: number; engine: EngineCourse }> {
  // A killed engine leaves the wait's response unfinished for ever: its end is not waited for then.
  const abandon = new AbortController();
  const onGone = (): void => {
    abandon.abort();
  };
  const engineGone = new Promise<undefined>((resolve) => {
    abandon.signal.addEventListener(
      'abort',
      () => {
        resolve(undefined);
      },
      { once: true },
    );
    if (events.gone.aborted) onGone();
    else events.gone.addEventListener('abort', onGone, { once: true });
  });
  try {
    const waited = runtime.waitContainer(id, abandon.signal);
    waited.catch(() => undefined);
    const exitCode = await Promise.race([waited, engineGone]);
    if (exitCode !== undefined) return { exitCode, engine: 'steady' };
  } catch {
    // Followed by inspecting it below.
  } finally {
    events.gone.removeEventListener('abort', onGone);
  }
  const deadline = Date.now() + spec.timeoutMs + spec.stopGraceMs + timings.killTimeoutMs;
  const engineDeadline = Date.now() + timings.engineReturnMs;
  let hasAnsweredSince = false;
  while (Date.now() < deadline) {
    let state: ContainerState | undefined | 'no-answer';
    try {
      state = await runtime.inspectContainer(id);
    } catch {
      state = 'no-answer';
    }
    if (state === undefined) {
      throw new InfrastructureError(
        events.isEngineGone
          ? `the Docker engine restarted while the action ran and lost its container ${spec.name}`
          : `container ${spec.name} disappeared while it ran`,
        events.isEngineGone ? 'E_ENGINE_RESTARTED' : 'E_DOCKER',
      );
    }
    if (state !== 'no-answer') {
      if (!state.running) {
        if (hasAnsweredSince) return { exitCode: state.exitCode, engine: 'came-back' };
        return { exitCode: state.exitCode, engine: events.isEngineGone ? 'went-away' : 'steady' };
      }
      hasAnsweredSince = true;
    } else if (!hasAnsweredSince && Date.now() > engineDeadline) {
      throw new InfrastructureError(
        `the Docker engine went away while ${spec.name} ran and has not answered for ${timings.engineReturnMs / 1000} s`,
        'E_ENGINE_RESTARTED',
      );
    }
    await delay(timings.inspectIntervalMs);
  }
  throw new InfrastructureError(`lost track of container ${spec.name}: the engine stopped answering`);
}

/**
 * Whether the container ended because its engine did: the engine went away while waiting (and did not
 * come back to a container still running), or its event stream ends (or the engine stops answering)
 * shortly after a kill the worker did not send. An engine shutting down first stops every container (its
 * STOPSIGNAL, then SIGKILL after the container's stop timeout), then closes its streams; anyone else's
 * `docker stop` leaves the engine running, and the exit stays the action's. An action killing itself
 * leaves no kill event at all.
 */
async function engineEnded(
  events: ContainerEventWatch,
  engine: EngineCourse,
  timings: SupervisorTimings,
): Promise<boolean> {
  if (engine !== 'steady') return engine === 'went-away';
  await events.dieSeen(timings.dieEventWaitMs);
  if (events.isEngineGone) return true;
  if (!events.hasSeenOutsideKill) return false;
  return await events.engineGoneWithin(timings.engineShutdownMs);
}

/** STOPSIGNAL (or SIGTERM) → grace (cut short by the force signal) → SIGKILL → until it has exited. */
async function stopLadder(
  runtime: ContainerRuntime,
  id: string,
  spec: ContainerSpec,
  exited: Promise<unknown>,
  force: AbortSignal | undefined,
  timings: SupervisorTimings,
): Promise<void> {
  if (!force?.aborted) {
    await runtime.killContainer(id, spec.stopSignal);
    if (await settlesWithin(exited, spec.stopGraceMs, force)) return;
  }
  await runtime.killContainer(id, 'SIGKILL');
  if (!(await settlesWithin(exited, timings.killTimeoutMs))) {
    throw new InfrastructureError(
      `container ${spec.name} did not exit ${timings.killTimeoutMs} ms after SIGKILL`,
    );
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
