import { existsSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { composeDaemon } from '../../src/app/daemon/compose-daemon.js';
import { settingsFromEnv } from '../../src/config/worker-settings.js';
import { TEST_REDIS_URL } from '../support/daemon-harness.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

afterAll(removeTempDirs);

describe("the daemon's data store", () => {
  it('is opened when the daemon is composed and closed when it is', async () => {
    const storeDir = await tempDir('close-store');
    const id = `close${process.pid}x${Date.now().toString(36)}`;
    const settings = settingsFromEnv({
      ACTION_WORKER_STORE_DIR: storeDir,
      ACTION_WORKER_REDIS_URL: TEST_REDIS_URL,
      ACTION_WORKER_QUEUE: `q-${id}`,
      ACTION_WORKER_KEY_PREFIX: `awtest-${id}`,
      ACTION_WORKER_HTTP_PORT: '0',
    });
    const composed = await composeDaemon(settings, pino({ level: 'silent' }));
    // Open in WAL mode: SQLite keeps a write-ahead log beside the file while a connection is open…
    const wal = path.join(storeDir, 'metadata.sqlite3-wal');
    expect(existsSync(wal)).toBe(true);
    await composed.close();
    // …and removes it when the last connection closes.
    expect(existsSync(wal)).toBe(false);
  });
});
