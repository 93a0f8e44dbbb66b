import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { removeTempDirs, runCli, tempDir } from '../support/harness.js';

describe('action-worker config check', () => {
  afterAll(removeTempDirs);

  it('prints the effective settings (file < environment), secrets redacted', async () => {
    const file = path.join(await tempDir('config'), 'worker.yaml');
    await writeFile(
      file,
      'roboto:\n  apiKey: sk-live-secret\nredis:\n  url: redis://:hunter2@redis.internal:6379\ndaemon:\n  concurrency: 3\n',
    );
    const result = await runCli(['config', 'check', '--config', file], {
      env: {
        ACTION_WORKER_DRAIN_WINDOW: '90s',
        ACTION_WORKER_STORE_DATABASE: 'postgres://worker:pg-secret@db.internal/aw',
      },
    });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).not.toMatch(/sk-live-secret|hunter2|pg-secret/);
    expect(result.stdout.split('\n')[0]).toBe(
      `# action-worker configuration: defaults < ${file} < environment`,
    );
    const printed = parse(result.stdout) as {
      roboto: { apiKey: string };
      redis: { url: string };
      store: { database: string };
      daemon: { concurrency: number; drainWindowMs: number };
    };
    expect(printed.roboto.apiKey).toBe('***');
    expect(printed.redis.url).toBe('redis://:***@redis.internal:6379');
    expect(printed.store.database).toBe('postgres://worker:***@db.internal/aw');
    expect(printed.daemon).toMatchObject({ concurrency: 3, drainWindowMs: 90_000 });
  });

  it('exits 64 naming the key and the line of an invalid setting', async () => {
    const file = path.join(await tempDir('config'), 'bad.yaml');
    await writeFile(file, 'images:\n  pullPolicy: sometimes\n');
    const result = await runCli(['--config', file, 'config', 'check']);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toContain(`images.pullPolicy (${file}, line 2, column 15)`);
    expect(result.stdout).toBe('');
  });
});
