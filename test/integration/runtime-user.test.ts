import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { makeAction, removeTempDirs, runInProcess, tempDir } from '../support/harness.js';

// Writes an output, reads its secret, and says who it is.
const SCRIPT = [
  'id -u > "$ROBOTO_OUTPUT_DIR/uid.txt"',
  'id -g >> "$ROBOTO_OUTPUT_DIR/uid.txt"',
  'test -s "$ROBOTO_ACTION_RUNTIME_CONFIG_DIR/secrets.json" && cat "$ROBOTO_ACTION_RUNTIME_CONFIG_DIR/secrets.json" > /dev/null && echo readable > "$ROBOTO_OUTPUT_DIR/secret.txt"',
  'touch "$HOME/.home-writable"',
  'umask 077; echo private > "$ROBOTO_OUTPUT_DIR/private.txt"',
].join(' && ');

async function runAs(user: string, imageUser: string[]) {
  const actionDir = await makeAction(
    'as-user',
    {
      parameters: [{ name: 'token' }],
      container_parameters: { entry_point: ['/bin/sh', '-c'], command: [SCRIPT] },
    },
    imageUser,
  );
  return runInProcess(
    { actionDir, secrets: ['token=literal:user-secret'], outputDir: path.join(await tempDir('out'), 'o') },
    { settings: { container: { user } } },
  );
}

describe('the user an action runs as', () => {
  afterAll(removeTempDirs);

  it.runIf(process.getuid?.() === 0)(
    "runs as the image's named USER with the workspace handed to it, outputs readable afterwards",
    async () => {
      const run = await runAs('image', [
        'RUN echo "app:x:4321:4322:app:/home/app:/bin/sh" >> /etc/passwd && echo "app:x:4322:" >> /etc/group',
        'USER app',
      ]);
      expect(run.result.outcome.status, run.stderr).toBe(5);
      const read = (file: string) => readFile(path.join(run.result.outputDir!, file), 'utf8');
      expect(await read('uid.txt')).toBe('4321\n4322\n');
      expect(await read('secret.txt')).toBe('readable\n');
      // Written 0600 by uid 4321, collected into the store all the same by the worker.
      expect(await read('private.txt')).toBe('private\n');
      const stored = await run.store.listFiles(run.result.outcome.uploadDatasetId!);
      expect(stored.find((file) => file.record.relative_path === 'private.txt')?.record.size).toBe(8);
    },
  );

  it.runIf(process.getuid?.() === 0)('runs as a configured uid:gid', async () => {
    const run = await runAs('2000:2001', []);
    expect(run.result.outcome.status, run.stderr).toBe(5);
    expect(await readFile(path.join(run.result.outputDir!, 'uid.txt'), 'utf8')).toBe('2000\n2001\n');
  });

  it('by default runs as 65532:65532 when the worker is root, else as the worker, whatever the image says', async () => {
    const run = await runAs('auto', ['USER 4321']);
    expect(run.result.outcome.status, run.stderr).toBe(5);
    const isRoot = process.getuid!() === 0;
    expect(await readFile(path.join(run.result.outputDir!, 'uid.txt'), 'utf8')).toBe(
      isRoot ? '65532\n65532\n' : `${process.getuid!()}\n${process.getgid!()}\n`,
    );
    // The secret is readable by that user, 0600, and the worker still collects what it wrote 0600.
    expect(await readFile(path.join(run.result.outputDir!, 'secret.txt'), 'utf8')).toBe('readable\n');
    expect(await readFile(path.join(run.result.outputDir!, 'private.txt'), 'utf8')).toBe('private\n');
  });

  it.runIf(process.getuid?.() === 0)(
    'runs as root only when asked for by name: "worker" and "image" that turn out to be root are refused',
    async () => {
      const asWorker = await runAs('worker', []);
      expect(asWorker.result.outcome.status).toBe(InvocationStatus.Failed);
      expect(asWorker.result.outcome.failure?.code).toBe('E_USAGE');
      expect(asWorker.result.outcome.detail).toMatch(
        /container.user "worker": this worker is root, and actions run as root only when asked for by name/,
      );
      // The local busybox image has no USER: root.
      const asImage = await runAs('image', []);
      expect(asImage.result.outcome.status).toBe(InvocationStatus.Failed);
      expect(asImage.result.outcome.detail).toMatch(/container.user "image": the USER of .* is root/);

      const asRoot = await runAs('root', []);
      expect(asRoot.result.outcome.status, asRoot.stderr).toBe(5);
      expect(await readFile(path.join(asRoot.result.outputDir!, 'uid.txt'), 'utf8')).toBe('0\n0\n');
    },
  );
});
