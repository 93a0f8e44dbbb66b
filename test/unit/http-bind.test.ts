import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { startHttpServer } from '../../src/app/daemon/http-server.js';
import { settingsFromEnv } from '../../src/config/worker-settings.js';

describe("the daemon's health and metrics server", () => {
  it('listens on loopback only unless told otherwise', async () => {
    const { daemon } = settingsFromEnv({});
    expect(daemon.httpHost).toBe('127.0.0.1');
    const server = await startHttpServer({
      host: daemon.httpHost,
      port: 0,
      registry: new Registry(),
      checks: {
        redis: () => Promise.resolve(),
        docker: () => Promise.resolve(),
        fetching: () => true,
        draining: () => false,
      },
      logger: pino({ level: 'silent' }),
    });
    try {
      // Bound to the loopback address itself, not to every interface (0.0.0.0 / ::).
      expect(server.address).toBe('127.0.0.1');
      const answer = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      expect(answer.status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('listens where it is told to', () => {
    expect(settingsFromEnv({ ACTION_WORKER_HTTP_HOST: '0.0.0.0' }).daemon.httpHost).toBe('0.0.0.0');
  });
});
