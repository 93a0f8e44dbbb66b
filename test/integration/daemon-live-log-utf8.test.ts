import { beforeAll, describe, expect, it } from 'vitest';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { type DaemonProcess, shellAction, useTestQueue } from '../support/daemon-harness.js';

// "grüße 😀", its 'ü' and its emoji each split by a pause longer than the live log's one-second flush, so
// the daemon flushes while only part of a character has come.
const SPLIT = [
  "printf 'gr\\303'",
  'sleep 2',
  "printf '\\274\\303\\237e \\360\\237'",
  'sleep 2',
  "printf '\\230\\200\\n'",
].join('; ');

describe('the daemon, with a character split across flushes of the live log', () => {
  const queue = useTestQueue({ ACTION_WORKER_NETWORK: 'none' });
  let daemon: DaemonProcess;

  beforeAll(async () => {
    daemon = queue().startDaemon();
    await daemon.waitForLog('daemon.started');
  });

  it('delivers it whole to a follower and in the live entries', async () => {
    const invocationId = await queue().invoke([await shellAction('split-utf8', SPLIT)]);
    await queue().waitStatus(invocationId, InvocationStatus.Processing);
    const followed = await queue().cli(['invocations', 'logs', invocationId, '--follow']);
    expect(followed.exitCode, followed.stderr).toBe(0);
    // (execa drops the last newline.)
    expect(followed.stdout).toBe('grüße 😀');
    const record = await queue().waitFinished(invocationId);
    expect(record.last_status, daemon.dump()).toBe(InvocationStatus.Completed);
    const { entries } = await queue().store().readLiveLog(invocationId, '0', 0);
    // It was flushed while characters were incomplete, and no entry holds a replacement character.
    expect(entries.length).toBeGreaterThan(1);
    expect(entries.map((entry) => entry.text).join('')).toBe('grüße 😀\n');
    for (const entry of entries) expect(entry.text).not.toContain('\ufffd');
  });
});
