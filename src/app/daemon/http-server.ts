import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { TIMED_OUT, withTimeout } from '../../util/with-timeout.js';

export interface ReadinessChecks {
  redis: () => Promise<void>;
  docker: () => Promise<void>;
  /** Fetching recently, or not fetching only because all room is taken. */
  fetching: () => boolean;
  draining: () => boolean;
}

const CHECK_TIMEOUT_MS = 2_000;

async function check(probe: () => Promise<void>): Promise<string> {
  try {
    const answer = await withTimeout(probe(), CHECK_TIMEOUT_MS);
    return answer === TIMED_OUT ? `no answer within ${CHECK_TIMEOUT_MS} ms` : 'ok';
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * `/healthz` (the process answers), `/readyz` (Redis and Docker answer, fetching works, not draining) and
 * `/metrics` (Prometheus text).
 */
export async function startHttpServer(options: {
  host: string;
  port: number;
  registry: Registry;
  checks: ReadinessChecks;
  logger: Logger;
}): Promise<{ port: number; address: string; close: () => Promise<void> }> {
  const { registry, checks } = options;
  const answer = async (method: string | undefined, pathname: string): Promise<[number, string, string?]> => {
    if (method !== 'GET') return [405, JSON.stringify({ error: 'GET only' })];
    switch (pathname) {
      case '/healthz':
        return [200, JSON.stringify({ status: 'ok' })];
      case '/readyz': {
        const [redis, docker] = await Promise.all([check(checks.redis), check(checks.docker)]);
        const fetching = checks.fetching() ? 'ok' : 'no fetch has come back lately';
        const draining = checks.draining() ? 'draining: taking no more invocations' : 'ok';
        const result = { redis, docker, fetching, draining };
        const ready = Object.values(result).every((value) => value === 'ok');
        return [ready ? 200 : 503, JSON.stringify({ status: ready ? 'ready' : 'not ready', ...result })];
      }
      case '/metrics':
        return [200, await registry.metrics(), registry.contentType];
      default:
        return [404, JSON.stringify({ error: `no ${pathname}; try /healthz, /readyz or /metrics` })];
    }
  };
  const server: Server = createServer((request, response) => {
    const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
    answer(request.method, pathname)
      .catch((error: unknown): [number, string] => {
        options.logger.error({ err: error }, 'http.failed');
        return [500, JSON.stringify({ error: (error as Error).message })];
      })
      .then(([status, body, type]) => {
        response.writeHead(status, { 'content-type': type ?? 'application/json' }).end(body);
      })
      .catch(() => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port, address } = server.address() as AddressInfo;
  return {
    port,
    /** The address actually bound, as the kernel reports it. */
    address,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
