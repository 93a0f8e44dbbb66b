import { open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { eventually } from './poll.js';
import { projectRoot } from './paths.js';

/**
 * A Python 3 image with only the standard library, for actions that call the API the way the SDK does
 * (urllib): Debian minbase + python3-minimal + libpython3.11-stdlib, made by debootstrap from the Debian
 * mirror and `docker import`ed (docker/python-test/build.sh) — no image registry. Built once per machine.
 */
export const PYTHON_IMAGE = 'action-worker-test/python3:1';

/** Generous: the first build downloads about 30 MB of packages and unpacks them (1–2 minutes here). */
export const PYTHON_IMAGE_BUILD_TIMEOUT_MS = 600_000;

const LOCK = path.join(os.tmpdir(), 'action-worker-python-test-image.lock');

async function imageExists(): Promise<boolean> {
  const inspect = await execa('docker', ['image', 'inspect', PYTHON_IMAGE], { reject: false });
  return inspect.exitCode === 0;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Makes sure {@link PYTHON_IMAGE} exists: nothing to do when it does; otherwise builds it under a lock file
 * (holding the builder's pid) so that two test files do not build it at once — the second waits for the
 * first, and takes over a lock whose holder died.
 */
export async function ensurePythonImage(): Promise<string> {
  for (;;) {
    if (await imageExists()) return PYTHON_IMAGE;
    let lock;
    try {
      lock = await open(LOCK, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number((await readFile(LOCK, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) {
        await rm(LOCK, { force: true });
        continue;
      }
      await eventually(
        async () =>
          (await imageExists()) ||
          (await readFile(LOCK, 'utf8').then(
            () => undefined,
            () => true,
          )),
        PYTHON_IMAGE_BUILD_TIMEOUT_MS,
        `${PYTHON_IMAGE} being built by another test file`,
        1_000,
      );
      continue;
    }
    try {
      await lock.writeFile(String(process.pid));
      await lock.close();
      await execa('bash', [path.join(projectRoot, 'docker', 'python-test', 'build.sh'), PYTHON_IMAGE]);
      return PYTHON_IMAGE;
    } finally {
      await rm(LOCK, { force: true });
    }
  }
}
