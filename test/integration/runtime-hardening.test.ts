import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES, NON_ROOT_CAPABILITIES } from '../../src/config/worker-settings.js';
import {
  makeAction,
  ownRunningContainer,
  removeTempDirs,
  runInProcess,
  tempDir,
} from '../support/harness.js';

// Reports, from inside the container, what a hardened container looks like, then lingers for the inspect.
const REPORT = [
  'out="$ROBOTO_OUTPUT_DIR"',
  'grep -E "^(CapEff|CapBnd|NoNewPrivs):" /proc/self/status > "$out/status.txt"',
  'ls /sys/class/net > "$out/net.txt"',
  'if touch /etc/probe 2>/dev/null; then echo writable; else echo read-only; fi > "$out/rootfs.txt"',
  'if touch /tmp/probe; then echo writable; else echo read-only; fi > "$out/tmp.txt"',
  'ps -o pid,comm | sed -n 2p > "$out/pid1.txt"',
  'sleep 3',
].join('; ');

describe('hardening', () => {
  afterAll(removeTempDirs);

  it('drops all capabilities but the allowlist, forbids new privileges, runs an init, and applies the settings', async () => {
    const actionDir = await makeAction(
      'hardening',
      { container_parameters: { entry_point: ['/bin/sh', '-c'], command: [REPORT] } },
      [],
    );
    const running = runInProcess(
      { actionDir, outputDir: path.join(await tempDir('out'), 'o') },
      { settings: { container: { user: '0:0', readOnlyRootfs: true, networkMode: 'none', pidsLimit: 321 } } },
    );
    const inspect = await ownRunningContainer();
    const run = await running;
    expect(run.result.outcome.status, run.stderr).toBe(5);

    const host = inspect.HostConfig;
    expect(host.CapDrop).toEqual(['ALL']);
    expect([...(host.CapAdd ?? [])].sort()).toEqual([...DEFAULT_CAPABILITIES].sort());
    expect(host.SecurityOpt).toContain('no-new-privileges');
    expect(host.Privileged).toBe(false);
    expect(host.Init).toBe(true);
    expect(host.PidsLimit).toBe(321);
    expect(host.ReadonlyRootfs).toBe(true);
    expect(Object.keys(host.Tmpfs ?? {})).toEqual(['/tmp']);
    expect(host.NetworkMode).toBe('none');
    // The only mount is the workspace: never the engine's socket.
    expect(inspect.Mounts.map((mount) => mount.Destination)).toEqual(['/roboto/ws']);
    expect(JSON.stringify(inspect.Mounts)).not.toContain('docker.sock');
    expect(inspect.Config.Labels).toMatchObject({
      'dev.action-worker.invocation-id': run.result.invocationId,
      'dev.action-worker.attempt': '1',
      'dev.action-worker.owner-pid': String(process.pid),
    });
    expect(inspect.Name).toBe(`/action-worker-${run.result.invocationId}-1`);

    const read = (file: string) => readFile(path.join(run.result.outputDir!, file), 'utf8');
    // CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, NET_BIND_SERVICE = bits 0,1,3,4,5,6,7,10.
    expect(await read('status.txt')).toMatch(
      /CapEff:\s+00000000000004fb\nCapBnd:\s+00000000000004fb\nNoNewPrivs:\s+1/,
    );
    expect((await read('net.txt')).trim()).toBe('lo');
    expect((await read('rootfs.txt')).trim()).toBe('read-only');
    expect((await read('tmp.txt')).trim()).toBe('writable');
    expect(await read('pid1.txt')).toMatch(/^\s*1\s+(docker-init|tini)/);
  });

  it('gives a non-root action (the default) no capability to change files it does not own', async () => {
    const actionDir = await makeAction(
      'hardening-nonroot',
      { container_parameters: { entry_point: ['/bin/sh', '-c'], command: [REPORT] } },
      [],
    );
    const running = runInProcess({ actionDir, outputDir: path.join(await tempDir('out'), 'o') });
    const inspect = await ownRunningContainer();
    const run = await running;
    expect(run.result.outcome.status, run.stderr).toBe(5);
    expect(inspect.HostConfig.CapDrop).toEqual(['ALL']);
    expect([...(inspect.HostConfig.CapAdd ?? [])].sort()).toEqual([...NON_ROOT_CAPABILITIES].sort());
    expect(inspect.HostConfig.SecurityOpt).toContain('no-new-privileges');
    if (process.getuid?.() === 0) expect(inspect.Config.User).toBe('65532:65532');
    // Nothing effective, and not even in the bounding set: KILL, SETGID, SETUID, NET_BIND_SERVICE only
    // (bits 5, 6, 7, 10), so no file capability could bring CHOWN, DAC_OVERRIDE, FOWNER or FSETID back.
    const status = await readFile(path.join(run.result.outputDir!, 'status.txt'), 'utf8');
    expect(status).toMatch(/CapEff:\s+0000000000000000\nCapBnd:\s+00000000000004e0\nNoNewPrivs:\s+1/);
  });
});
