import type Docker from 'dockerode';
import { ActionWorkerError, UsageError } from '../../domain/errors.js';
import {
  type ProgressEvent,
  describe,
  engineError,
  followProgress,
  isUnreachable,
  statusOf,
} from './engine-errors.js';
import type { PullImageRequest } from '../../ports/container-runtime.js';

/**
 * Classifies a failed pull. The engine reports these only as text (in the HTTP error or in the progress
 * stream), so this adapter is the one place that reads the message: "not found" and "unauthorized" can
 * never succeed on a retry; anything else (5xx, EOF, timeouts) may.
 */
export function classifyPullError(
  reference: string,
  message: string,
  statusCode?: number,
): ActionWorkerError {
  const text = message.toLowerCase();
  if (
    statusCode === 401 ||
    statusCode === 403 ||
    /unauthorized|authentication required|no basic auth credentials|access denied|denied:|incorrect username or password/.test(
      text,
    )
  ) {
    return new UsageError(`pulling ${reference}: unauthorized (${message.trim()})`, 'E_IMAGE_UNAUTHORIZED');
  }
  if (statusCode === 400 || /invalid reference format/.test(text)) {
    return new UsageError(
      `pulling ${reference}: the engine refused the reference (${message.trim()})`,
      'E_INVALID_IMAGE_REFERENCE',
    );
  }
  if (
    statusCode === 404 ||
    /not found|manifest unknown|repository does not exist|no such image|name unknown/.test(text)
  ) {
    return new UsageError(`pulling ${reference}: image not found (${message.trim()})`, 'E_IMAGE_NOT_FOUND');
  }
  return new ActionWorkerError(`pulling ${reference} failed: ${message.trim()}`, { code: 'E_IMAGE_PULL' });
}

/**
 * Pulls an image with an overall deadline and a no-progress deadline; both, and the caller's signal,
 * abort the HTTP request, which makes the engine stop the pull.
 */
export async function pullImage(docker: Docker, request: PullImageRequest): Promise<void> {
  const controller = new AbortController();
  const onAbort = (): void => {
    controller.abort(request.signal.reason);
  };
  request.signal.addEventListener('abort', onAbort, { once: true });
  // Set from timers; an object so the checks below read the current value.
  const deadline = { stalled: false, timedOut: false };
  const overall = setTimeout(() => {
    deadline.timedOut = true;
    controller.abort();
  }, request.timeoutMs);
  let idle: NodeJS.Timeout | undefined;
  const touch = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => {
      deadline.stalled = true;
      controller.abort();
    }, request.noProgressTimeoutMs);
  };
  touch();
  let failure: string | undefined;
  try {
    const stream = await docker.pull(request.reference, {
      abortSignal: controller.signal,
      ...(request.auth ? { authconfig: request.auth } : {}),
    });
    await followProgress(docker, stream, controller.signal, (event: ProgressEvent) => {
      touch();
      if (event.error) failure = event.errorDetail?.message ?? event.error;
      else if (event.status) request.onProgress?.(`${event.id ? `${event.id}: ` : ''}${event.status}`);
    });
  } catch (error) {
    request.signal.throwIfAborted();
    if (deadline.stalled) {
      throw new ActionWorkerError(
        `pulling ${request.reference}: no progress for ${Math.round(request.noProgressTimeoutMs / 1000)} s`,
        { code: 'E_IMAGE_PULL' },
      );
    }
    if (deadline.timedOut) {
      throw new ActionWorkerError(
        `pulling ${request.reference}: not done after ${Math.round(request.timeoutMs / 1000)} s`,
        { code: 'E_IMAGE_PULL' },
      );
    }
    if (isUnreachable(error)) throw engineError(`pulling ${request.reference}`, error);
    throw classifyPullError(request.reference, describe(error), statusOf(error));
  } finally {
    clearTimeout(overall);
    clearTimeout(idle);
    request.signal.removeEventListener('abort', onAbort);
  }
  if (failure !== undefined) throw classifyPullError(request.reference, failure);
}
