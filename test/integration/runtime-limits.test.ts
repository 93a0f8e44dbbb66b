import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  makeAction,
  ownRunningContainer,
  removeTempDirs,
  runInProcess,
  tempDir,
} from '../support/harness.js';

// cgroup v1 and v2 spell the limits differently; report whichever this host has.
const REPORT = [
  'out="$ROBOTO_OUTPUT_DIR"',
  'cat /sys/fs/cgroup/memory/memory.limit_in_bytes > "$out/memory.txt" 2>/dev/null || cat /sys/fs/cgroup/memory.max > "$out/memory.txt"',
  'cat /sys/fs/cgroup/pids/pids.max > "$out/pids.txt" 2>/dev/null || cat /sys/fs/cgroup/pids.max > "$out/pids.txt"',
  '{ cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max; } | tr "\\n" " " > "$out/cpu.txt"',
  'sleep 2',
].join('; ');

describe('compute limits', () => {
  afterAll(removeTempDirs);

  it('turns compute requirements into CPU, memory (no swap) and pids limits that hold inside the container', async () => {
    const actionDir = await makeAction(
      'limits',
      {
        compute_requirements: { vCPU: 256, memory: 512 },
        container_parameters: { entry_point: ['/bin/sh', '-c'], command: [REPORT] },
      },
      [],
    );
    const running = runInProcess(
      { actionDir, outputDir: path.join(await tempDir('out'), 'o') },
      { settings: { container: { pidsLimit: 200 } } },
    );
    const inspect = await ownRunningContainer();
    const run = await running;
    expect(run.result.outcome.status, run.stderr).toBe(5);

    expect(inspect.HostConfig.NanoCpus).toBe(250_000_000);
    expect(inspect.HostConfig.Memory).toBe(512 * 1024 * 1024);
    expect(inspect.HostConfig.MemorySwap).toBe(512 * 1024 * 1024);

    const read = async (file: string) =>
      (await readFile(path.join(run.result.outputDir!, file), 'utf8')).trim();
    expect(await read('memory.txt')).toBe(String(512 * 1024 * 1024));
    expect(await read('pids.txt')).toBe('200');
    const [quota = 0, period = 1] = (await read('cpu.txt')).split(/\s+/).map(Number);
    expect(quota / period).toBeCloseTo(0.25, 5);
  });
});
