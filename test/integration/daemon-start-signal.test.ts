import { createServer } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTestQueue } from '../support/daemon-harness.js';
import { tempDir } from '../support/harness.js';

/** A loopback port nothing listens on (one just freed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('SIGTERM while the daemon waits at start-up', () => {
  const queue = useTestQueue();

  it('for Docker: stops cleanly, exit 0 and daemon.stopped, having started nothing', async () => {
    // A socket path that does not exist: the engine never answers, so the daemon keeps waiting for it.
    const socket = path.join(await tempDir('no-engine'), 'nothing.sock');
    const daemon = queue().startDaemon({ DOCKER_HOST: `unix://${socket}` });
    await daemon.waitForLog('docker.unreachable');
    const signalledAt = Date.now();
    daemon.kill('SIGTERM');
    const exited = await Promise.race([
      daemon.exited,
      new Promise<undefined>((resolve) => setTimeout(resolve, 30_000, undefined)),
    ]);
    expect(exited, daemon.dump()).toBeDefined();
    expect(exited?.exitCode, daemon.dump()).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(30_000);
    expect(daemon.lines.some((line) => line.msg === 'daemon.stopped')).toBe(true);
    expect(daemon.lines.some((line) => line.msg === 'daemon.started')).toBe(false);
  });

  it('for Redis: stops cleanly, exit 0 and daemon.stopped, having started nothing', async () => {
    const daemon = queue().startDaemon({
      ACTION_WORKER_REDIS_URL: `redis://127.0.0.1:${await closedPort()}`,
    });
    await daemon.waitForLog('redis.connection_error');
    const signalledAt = Date.now();
    daemon.kill('SIGTERM');
    const exited = await Promise.race([
      daemon.exited,
      new Promise<undefined>((resolve) => setTimeout(resolve, 30_000, undefined)),
    ]);
    const events = daemon.lines.filter((line) => line.msg !== 'redis.connection_error');
    const dump = events.map((line) => JSON.stringify(line)).join('\n');
    expect(exited, dump).toBeDefined();
    expect(exited?.exitCode, dump).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(30_000);
    expect(events.some((line) => line.msg === 'daemon.stopped')).toBe(true);
    expect(events.some((line) => line.msg === 'daemon.started')).toBe(false);
  });
});
