import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { openSqlDataStore } from '../../src/app/local-adapters.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { type DaemonProcess, shellAction, useTestQueue } from '../support/daemon-harness.js';
import { PrivatePostgres } from '../support/private-postgres.js';
import { tempDir } from '../support/temp-dirs.js';

// The test cluster trusts loopback connections, so any password is accepted: it is here to be masked.
const PASSWORD = 'pg-pass-w0rd';

let server: PrivatePostgres;
beforeAll(async () => {
  server = await PrivatePostgres.create();
});
afterAll(async () => {
  await server.stop();
});

/** A fresh database's URL, with a password in it. */
async function databaseUrl(): Promise<string> {
  return (await server.database()).replace('postgres@', `postgres:${PASSWORD}@`);
}

describe('the store with its metadata in PostgreSQL (store.database)', () => {
  const queue = useTestQueue({ ACTION_WORKER_NETWORK: 'none' });
  let daemon: DaemonProcess;
  let url: string;

  beforeAll(async () => {
    url = await databaseUrl();
    queue().env.ACTION_WORKER_STORE_DATABASE = url;
    daemon = queue().startDaemon();
    await daemon.waitForLog('daemon.started');
  });

  it('imports through the CLI into PostgreSQL, not a SQLite file, and re-imports an unchanged folder', async () => {
    const folder = path.join(await tempDir('pg-import'), 'data');
    await mkdir(path.join(folder, 'sub'), { recursive: true });
    await writeFile(path.join(folder, 'a.txt'), 'one');
    await writeFile(path.join(folder, 'sub', 'b.txt'), 'two');
    const imported = await queue().cli(['datasets', 'import', folder]);
    expect(imported.exitCode, imported.all).toBe(0);
    const datasetId = imported.stdout.trim();
    expect(imported.stderr).toContain(`imported 2 file(s) into new dataset ${datasetId}`);
    const again = await queue().cli(['datasets', 'import', folder]);
    expect(again.exitCode, again.all).toBe(0);
    expect([imported.stdout, imported.stderr, again.stdout, again.stderr].join('\n')).not.toContain(PASSWORD);

    const storeDir = queue().env.ACTION_WORKER_STORE_DIR ?? '';
    expect(existsSync(path.join(storeDir, 'metadata.sqlite3'))).toBe(false);
    const store = await openSqlDataStore({ dialect: 'postgres', url }, storeDir);
    onTestFinished(() => store.close());
    const files = await store.listFiles(datasetId);
    expect(files.map((file) => [file.record.relative_path, file.record.version])).toEqual([
      ['a.txt', 1],
      ['sub/b.txt', 1],
    ]);
  });

  it('stores a daemon invocation’s outputs there, and never logs the URL’s password', async () => {
    const action = await shellAction('pg-outputs', 'echo report > "$ROBOTO_OUTPUT_DIR/report.txt"');
    const invocationId = await queue().invoke([action]);
    const record = await queue().waitFinished(invocationId);
    expect(record.last_status, daemon.dump()).toBe(InvocationStatus.Completed);
    const datasetId = /uploaded to a new dataset, (ds_\w+)$/.exec(record.status.at(-1)?.detail ?? '')?.[1];
    const store = await openSqlDataStore(
      { dialect: 'postgres', url },
      queue().env.ACTION_WORKER_STORE_DIR ?? '',
    );
    onTestFinished(() => store.close());
    expect((await store.listFiles(datasetId ?? '')).map((file) => file.record.relative_path)).toEqual([
      'report.txt',
    ]);
    expect(daemon.dump()).not.toContain(PASSWORD);
  });

  it('names an unreachable database without its password', async () => {
    const result = await queue().cli(['datasets', 'list'], {
      ACTION_WORKER_STORE_DATABASE: `postgres://worker:${PASSWORD}@127.0.0.1:1/none`,
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('could not reach the PostgreSQL metadata database');
    expect(`${result.stdout}\n${result.stderr}`).not.toContain(PASSWORD);
  });
});
