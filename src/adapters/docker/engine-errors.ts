import type Docker from 'dockerode';
import { ActionWorkerError, InfrastructureError } from '../../domain/errors.js';

/** What dockerode and docker-modem throw. */
export interface DockerError {
  statusCode?: number;
  json?: { message?: string } | null;
  code?: string;
  message: string;
}

export function statusOf(error: unknown): number | undefined {
  return (error as DockerError | undefined)?.statusCode;
}

/** The engine's own message when it sent one. */
export function describe(error: unknown): string {
  const dockerError = error as DockerError;
  return dockerError.json?.message ?? dockerError.message;
}

/** What connecting to the engine's socket fails with: nothing listens, no socket, not allowed to use it. */
const UNREACHABLE: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES']);

/** Wraps an engine error: anything that is not ours is infrastructure trouble, hence retryable. */
export function engineError(what: string, error: unknown): ActionWorkerError {
  if (error instanceof ActionWorkerError) return error;
  if (isUnreachable(error)) {
    return new InfrastructureError(
      `${what}: the Docker engine is not reachable (${String((error as DockerError).code)})`,
      'E_DOCKER',
      error,
    );
  }
  return new InfrastructureError(`${what}: ${describe(error)}`, 'E_DOCKER', error);
}

/** Whether the engine could not be reached at all (as opposed to answering with an error). */
export function isUnreachable(error: unknown): boolean {
  const code = (error as DockerError | undefined)?.code;
  return code !== undefined && UNREACHABLE.has(code);
}

/** One event of a build or pull progress stream. */
export interface ProgressEvent {
  stream?: string;
  status?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/**
 * Follows a build or pull progress stream to its end; aborting the signal destroys the stream and rejects.
 */
export async function followProgress(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  signal: AbortSignal,
  onEvent: (event: ProgressEvent) => void,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      reject(new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    docker.modem.followProgress(
      stream,
      (error: Error | null) => {
        signal.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      },
      onEvent,
    );
  });
}
