import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { makeAction, removeTempDirs, tempDir } from '../support/harness.js';
import { cliPath } from '../support/paths.js';

const FLOOD_BYTES = 1_100_000_000;
const FILE_CAP = 20 * 1024 * 1024;

async function rssKiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const match = status && /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) : undefined;
}

describe('a log flood', () => {
  afterAll(removeTempDirs);

  it('streams more than 1 GiB of output with the worker memory bounded and the stored log capped', async () => {
    // 1.1 GB of 100-byte lines, plus one 100 kB line to exercise the line cap.
    const actionDir = await makeAction('flood', {}, [
      `ENTRYPOINT ["/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\\\0' 'y'; echo; head -c ${FLOOD_BYTES} /dev/zero | tr '\\\\0' 'x' | fold -w 99; echo flood-done"]`,
    ]);
    const output = path.join(await tempDir('flood-out'), 'o');
    const child = execa('node', [cliPath, 'run', actionDir, '--output', output], {
      env: {
        ACTION_WORKER_WORKSPACE_DIR: await tempDir('flood-ws'),
        // No API of its own on the bridge gateway: tests keep to loopback.
        ACTION_WORKER_LOCAL_API: 'false',
        ACTION_WORKER_LOG_FILE_BYTES: String(FILE_CAP),
      },
      stdout: 'ignore',
      stderr: 'pipe',
      reject: false,
      timeout: 300_000,
    });
    let peakKiB = 0;
    const sampler = setInterval(() => {
      void rssKiB(child.pid!).then((kib) => {
        if (kib !== undefined) peakKiB = Math.max(peakKiB, kib);
      });
    }, 100);
    const result = await child;
    clearInterval(sampler);

    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('Completed');
    // Node's own baseline is ~60 MiB; 1.1 GB went through.
    expect(peakKiB).toBeGreaterThan(0);
    expect(peakKiB / 1024).toBeLessThan(200);

    const log = path.join(output, '.metadata', 'action.log');
    expect((await stat(log)).size).toBeLessThan(FILE_CAP + 1024);
    const text = await readFile(log, 'utf8');
    expect(text).toMatch(/… log file cut off at 20971520 bytes/);
    // The 100 kB line was cut into 16 KiB pieces, each marked as partial.
    expect(text.split('\n')[0]).toMatch(/^\S+Z stdout\+ y{16384}$/);
  });
});
