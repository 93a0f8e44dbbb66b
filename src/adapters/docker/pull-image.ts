import type Docker from 'dockerode';
import { ActionWorkerError, InfrastructureError, UsageError } from '../../domain/errors.js';
import type { PullImageRequest } from '../../ports/container-runtime.js';

interface ProgressEvent {
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string };
}

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
  if (
    statusCode === 404 ||
    /not found|manifest unknown|repository does not exist|no such image|name unknown/.test(text)
  ) {
    return new UsageError(`pulling ${reference}: image not found (${message.trim()})`, 'E_IMAGE_NOT_FOUND');
  }
  return new ActionWorkerError(`pulling ${reference} failed: ${message.trim()}`, {
    code: 'E_IMAGE_PULL',
    retryable: true,
  });
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
    await new Promise<void>((resolve, reject) => {
      const onAbortStream = (): void => {
        (stream as NodeJS.ReadableStream & { destroy?: (error?: Error) => void }).destroy?.();
        reject(new Error('aborted'));
      };
      controller.signal.addEventListener('abort', onAbortStream, { once: true });
      docker.modem.followProgress(
        stream,
        (error: Error | null) => {
          controller.signal.removeEventListener('abort', onAbortStream);
          if (error) reject(error);
          else resolve();
        },
        (event: ProgressEvent) => {
          touch();
          if (event.error) failure = event.errorDetail?.message ?? event.error;
          else if (event.status) request.onProgress?.(`${event.id ? `${event.id}: ` : ''}${event.status}`);
        },
      );
    });
  } catch (error) {
    request.signal.throwIfAborted();
    if (deadline.stalled) {
      throw new ActionWorkerError(
        `pulling ${request.reference}: no progress for ${Math.round(request.noProgressTimeoutMs / 1000)} s`,
        { code: 'E_IMAGE_PULL', retryable: true },
      );
    }
    if (deadline.timedOut) {
      throw new ActionWorkerError(
        `pulling ${request.reference}: not done after ${Math.round(request.timeoutMs / 1000)} s`,
        { code: 'E_IMAGE_PULL', retryable: true },
      );
    }
    const dockerError = error as {
      statusCode?: number;
      json?: { message?: string } | null;
      message: string;
      code?: string;
    };
    if (dockerError.code === 'ECONNREFUSED' || dockerError.code === 'ENOENT') {
      throw new InfrastructureError(
        `pulling ${request.reference}: the Docker engine is not reachable`,
        'E_DOCKER',
        error,
      );
    }
    throw classifyPullError(
      request.reference,
      dockerError.json?.message ?? dockerError.message,
      dockerError.statusCode,
    );
  } finally {
    clearTimeout(overall);
    clearTimeout(idle);
    request.signal.removeEventListener('abort', onAbort);
  }
  if (failure !== undefined) throw classifyPullError(request.reference, failure);
}
