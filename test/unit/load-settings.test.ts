import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSettings, redactSettings } from '../../src/config/load-settings.js';
import { ENVIRONMENT_VARIABLES, WorkerSettings } from '../../src/config/worker-settings.js';
import { UsageError } from '../../src/domain/errors.js';
import { projectRoot } from '../support/paths.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const EXAMPLE = path.join(projectRoot, 'config', 'worker.example.yaml');

async function configFile(text: string): Promise<string> {
  const file = path.join(await tempDir('config'), 'worker.yaml');
  await writeFile(file, text);
  return file;
}

/** Every leaf setting as a dotted path. */
function leafPaths(value: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(value).flatMap(([key, child]) =>
    typeof child === 'object' && child !== null && !Array.isArray(child)
      ? leafPaths(child as Record<string, unknown>, `${prefix}${key}.`)
      : [`${prefix}${key}`],
  );
}

describe('loadSettings', () => {
  afterAll(removeTempDirs);

  it('reads the example file as exactly the defaults', () => {
    expect(loadSettings({ configFile: EXAMPLE, env: {} }).settings).toEqual(WorkerSettings.parse({}));
  });

  it('has every setting documented in the example file and every variable in the README', () => {
    const example = readFileSync(EXAMPLE, 'utf8');
    const readme = readFileSync(path.join(projectRoot, 'README.md'), 'utf8');
    for (const leaf of leafPaths(WorkerSettings.parse({}))) {
      const key = leaf.split('.').pop() ?? '';
      expect(example, leaf).toMatch(new RegExp(`^\\s*#?${key}:`, 'm'));
    }
    for (const variable of ENVIRONMENT_VARIABLES.keys())
      expect(readme, variable).toContain(`\`${variable}\``);
  });

  it('lays the environment over the file and flags over both', async () => {
    const file = await configFile(
      'daemon:\n  concurrency: 3\n  maxAttempts: 5\ncontainer:\n  pidsLimit: 100\n',
    );
    const { settings, configFile: used } = loadSettings({
      configFile: file,
      env: { ACTION_WORKER_CONCURRENCY: '4', ACTION_WORKER_PIDS_LIMIT: '200' },
      flags: { daemon: { concurrency: 6 } },
    });
    expect(used).toBe(file);
    expect(settings.daemon).toMatchObject({ concurrency: 6, maxAttempts: 5 });
    expect(settings.container.pidsLimit).toBe(200);
    // The rest of the group keeps its defaults.
    expect(settings.container.stopGraceMs).toBe(10_000);
  });

  it('finds the file through ACTION_WORKER_CONFIG', async () => {
    const file = await configFile('redis:\n  queue: from-env-file\n');
    expect(loadSettings({ env: { ACTION_WORKER_CONFIG: file } }).settings.redis.queue).toBe('from-env-file');
  });

  it('names the key, the file and the line of every problem, and where the environment set one', async () => {
    const file = await configFile(
      ['daemon:', '  concurrency: 0', '  lockDuration: 5000', 'images:', '  pullPolicy: sometimes', ''].join(
        '\n',
      ),
    );
    let message = '';
    try {
      loadSettings({
        configFile: file,
        env: { ACTION_WORKER_NETWORK: '', ACTION_WORKER_CONTAINER_USER: 'bob' },
      });
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      message = (error as Error).message;
    }
    expect(message).toContain(`daemon.concurrency (${file}, line 2, column 16): Too small`);
    expect(message).toContain(`daemon.lockDuration (${file}, line 3, column 17): not a setting`);
    expect(message).toContain(`images.pullPolicy (${file}, line 5, column 15): Invalid option`);
    expect(message).toContain(
      'container.user (from ACTION_WORKER_CONTAINER_USER): must be auto, worker, image, root, or uid[:gid]',
    );
  });

  it.each([
    ['daemon: [\n', /is not valid YAML:\n.*at line 2, column 1/],
    ['- a\n- b\n', /must hold a mapping of settings/],
  ])('refuses a file that is not a mapping of settings: %j', async (text, message) => {
    const file = await configFile(text);
    expect(() => loadSettings({ configFile: file, env: {} })).toThrow(message);
  });

  it('says which file cannot be read', () => {
    expect(() => loadSettings({ configFile: '/no/such/worker.yaml', env: {} })).toThrow(
      'configuration file "/no/such/worker.yaml" cannot be read: ENOENT',
    );
  });
});

describe('redactSettings', () => {
  it('hides the API key and the Redis password, and nothing else', () => {
    const settings = WorkerSettings.parse({
      roboto: { apiKey: 'sk-live-123' },
      redis: { url: 'redis://worker:hunter2@redis.internal:6380/2' },
    });
    const redacted = redactSettings(settings);
    expect(redacted.roboto.apiKey).toBe('***');
    expect(redacted.redis.url).toBe('redis://worker:***@redis.internal:6380/2');
    expect(JSON.stringify(redacted)).not.toMatch(/sk-live-123|hunter2/);
    expect(redacted.daemon).toEqual(settings.daemon);
  });

  it("hides the password of the store's PostgreSQL URL, and leaves a SQLite path as it is", () => {
    const postgres = redactSettings(
      WorkerSettings.parse({ store: { database: 'postgres://worker:s3cr%40t@db.internal:5432/aw' } }),
    );
    expect(postgres.store.database).toBe('postgres://worker:***@db.internal:5432/aw');
    expect(JSON.stringify(postgres)).not.toMatch(/s3cr/);
    const sqlite = WorkerSettings.parse({ store: { database: 'sqlite:/var/lib/aw/meta.sqlite3' } });
    expect(redactSettings(sqlite).store.database).toBe('sqlite:/var/lib/aw/meta.sqlite3');
    expect(redactSettings(WorkerSettings.parse({})).store.database).toBeNull();
  });

  it('hides the password in every URL form the PostgreSQL client accepts, parsed by `new URL` or not', () => {
    const shown = (database: string) =>
      redactSettings(WorkerSettings.parse({ store: { database } })).store.database;
    // A Unix socket (no host before the path): `new URL` refuses it, node-postgres connects with it.
    expect(shown('postgres://worker:hunter2@/aw?host=/var/run/postgresql')).toBe(
      'postgres://worker:***@/aw?host=/var/run/postgresql',
    );
    // The password as a query parameter, as libpq and node-postgres take it.
    expect(shown('postgresql://worker@db.internal/aw?sslmode=require&password=hunter2')).toBe(
      'postgresql://worker@db.internal/aw?sslmode=require&password=***',
    );
    // A URL `new URL` cannot parse (a port out of range) is still shown without its password.
    expect(shown('postgres://worker:hunter2@db.internal:99999/aw')).toBe(
      'postgres://worker:***@db.internal:99999/aw',
    );
    expect(shown('postgres://worker:hun@ter2@db.internal/aw')).toBe('postgres://worker:***@db.internal/aw');
  });
});

describe('store.database', () => {
  it('defaults to a SQLite file in the store directory, and is set by the environment or the file', async () => {
    const { databaseLocation } = await import('../../src/app/local-adapters.js');
    const defaults = loadSettings({ env: { ACTION_WORKER_STORE_DIR: '/srv/store' } }).settings;
    expect(databaseLocation(defaults)).toEqual({ dialect: 'sqlite', file: '/srv/store/metadata.sqlite3' });
    const fromEnv = loadSettings({
      env: { ACTION_WORKER_STORE_DATABASE: 'postgres://aw@127.0.0.1/aw' },
    }).settings;
    expect(databaseLocation(fromEnv)).toEqual({ dialect: 'postgres', url: 'postgres://aw@127.0.0.1/aw' });
    const file = await configFile('store:\n  database: sqlite:/srv/meta.db\n');
    const fromFile = loadSettings({ configFile: file, env: {} }).settings;
    expect(databaseLocation(fromFile)).toEqual({ dialect: 'sqlite', file: '/srv/meta.db' });
  });

  it('refuses a URL of another kind (a typo, another database), not taking it for a SQLite file path', () => {
    for (const database of ['postgress://worker:hunter2@db.internal/aw', 'mysql://worker:hunter2@db/aw']) {
      let error: unknown;
      try {
        loadSettings({ env: { ACTION_WORKER_STORE_DATABASE: database } });
      } catch (caught) {
        error = caught;
      }
      expect(error, database).toMatchObject({ code: 'E_USAGE' });
      expect((error as Error).message).toContain('store.database');
      expect((error as Error).message).not.toContain('hunter2');
    }
    // SQLite paths, `sqlite:` URLs included, are still paths.
    for (const database of ['sqlite:///srv/meta.db', 'relative/meta.db', '/srv/meta.db']) {
      expect(loadSettings({ env: { ACTION_WORKER_STORE_DATABASE: database } }).settings.store.database).toBe(
        database,
      );
    }
  });
});
