import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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

  it('runs as the worker by default', async () => {
    const run = await runAs('worker', ['USER 4321']);
    expect(run.result.outcome.status, run.stderr).toBe(5);
    expect(await readFile(path.join(run.result.outputDir!, 'uid.txt'), 'utf8')).toBe(
      `${process.getuid!()}\n${process.getgid!()}\n`,
    );
  });
});
