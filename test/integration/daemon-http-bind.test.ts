import { describe, expect, it } from 'vitest';
import { useTestQueue } from '../support/daemon-harness.js';

describe("the daemon's health and metrics server, with no address configured", () => {
  const queue = useTestQueue();

  it('is bound to loopback only, where probes on the host still reach it', async () => {
    // Empty is unset: the default applies.
    const daemon = queue().startDaemon({ ACTION_WORKER_HTTP_HOST: '' });
    const listening = await daemon.waitForLog('http.listening');
    // The address the kernel reports for the socket: not 0.0.0.0 or ::, so an action on the bridge
    // network (or anyone on the host's networks) cannot read /metrics.
    expect(listening.host).toBe('127.0.0.1');
    const answer = await fetch(`http://127.0.0.1:${String(listening.port)}/healthz`);
    expect(answer.status).toBe(200);
  });
});
