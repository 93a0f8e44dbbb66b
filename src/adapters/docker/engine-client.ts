import Docker from 'dockerode';
import { InfrastructureError } from '../../domain/errors.js';

type RequestCallback = (error: unknown, data?: unknown) => void;

/** The part of docker-modem this file relies on: every engine request goes through `buildRequest`. */
interface ModemInternals {
  buildRequest: (
    options: Record<string, unknown>,
    context: unknown,
    data: unknown,
    callback: RequestCallback,
  ) => void;
  [REDIRECTS_REFUSED]?: true;
}

const REDIRECTS_REFUSED = Symbol('action-worker.redirects-refused');

/**
 * The engine answered a request with a redirect, which is never followed: the engine API has no reason to
 * redirect, and following one sends a request to wherever the Location header points (a crafted image
 * reference made the engine's path cleaning answer 301 to an address of the attacker's choosing).
 */
export class EngineRedirectError extends InfrastructureError {
  constructor(cause: unknown) {
    super('the Docker engine answered with a redirect, which is never followed', 'E_DOCKER', cause);
  }
}

/**
 * Makes a dockerode client refuse redirects. docker-modem sends each request through its own copy of an old
 * follow-redirects, which by default follows up to 5 redirects to any host, with a new request that has no
 * error listener (a failure of it crashes the process). With `maxRedirects: 0` on every request, a 3xx is
 * turned into an error of the original request before any second request is made. Idempotent.
 */
export function refuseRedirects(docker: Docker): Docker {
  const modem = docker.modem as unknown as ModemInternals;
  if (modem[REDIRECTS_REFUSED]) return docker;
  const buildRequest = modem.buildRequest.bind(modem);
  modem.buildRequest = (options, context, data, callback) => {
    options.maxRedirects = 0;
    buildRequest(options, context, data, (error: unknown, result?: unknown) => {
      // docker-modem reports the refused redirect only as this text, without a status code.
      const isRedirect =
        error instanceof Error &&
        (error as { statusCode?: number }).statusCode === undefined &&
        error.message.startsWith('Max redirects exceeded');
      callback(isRedirect ? new EngineRedirectError(error) : error, result);
    });
  };
  modem[REDIRECTS_REFUSED] = true;
  return docker;
}

/** The engine client: dockerode on DOCKER_HOST or the local socket (or the given options), never following a redirect. */
export function createEngineClient(options?: Docker.DockerOptions): Docker {
  return refuseRedirects(new Docker(options));
}
