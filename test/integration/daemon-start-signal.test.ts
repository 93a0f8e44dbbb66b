import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTestQueue } from '../support/daemon-harness.js';
import { tempDir } from '../support/harness.js';

describe('SIGTERM while the daemon waits for Docker at start-up', () => {
  const queue = useTestQueue();

  it('stops cleanly: exit 0 and daemon.stopped, having started nothing', async () => {
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
});
