import { readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

/** Debian's PostgreSQL server binaries (package postgresql, installed by scripts/provision.sh): the newest. */
const BIN_DIR = process.env.ACTION_WORKER_PG_BIN ?? serverBinDir();
/** The server refuses to run as root: it runs as Debian's `postgres` user. */
const SERVER_USER = 'postgres';

/**
 * A PostgreSQL server of one test file's own: a new cluster in a temporary directory, listening on a free
 * loopback port only, with trust authentication (nothing but this machine's loopback reaches it). `fsync`
 * is off: the tests check behaviour, not durability across power loss. `database()` gives each fixture a
 * fresh database, so tests never see each other's rows.
 */
export class PrivatePostgres {
  private databases = 0;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async create(): Promise<PrivatePostgres> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aw-pg-'));
    const { uid, gid } = await serverUser();
    await chown(dir, uid, gid);
    const server = new PrivatePostgres(await freePort(), dir);
    await server.asServerUser(path.join(BIN_DIR, 'initdb'), [
      '--pgdata',
      server.dataDir,
      '--auth',
      'trust',
      '--username',
      'postgres',
      '--encoding',
      'UTF8',
      '--no-sync',
    ]);
    await server.asServerUser(path.join(BIN_DIR, 'pg_ctl'), [
      'start',
      '--pgdata',
      server.dataDir,
      '--wait',
      '--timeout',
      '60',
      '--log',
      path.join(dir, 'server.log'),
      '--options',
      `-c listen_addresses=127.0.0.1 -c port=${server.port} -c unix_socket_directories=${dir} -c fsync=off -c full_page_writes=off -c max_connections=100`,
    ]);
    return server;
  }

  private get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  /** A URL for the cluster's `postgres` database. */
  get adminUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Creates a new empty database and returns its URL. */
  async database(): Promise<string> {
    this.databases += 1;
    const name = `test_${process.pid}_${this.databases}`;
    await execa('psql', [this.adminUrl, '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE ${name}`]);
    return `postgres://postgres@127.0.0.1:${this.port}/${name}`;
  }

  /** Stops the server and removes its cluster. */
  async stop(): Promise<void> {
    await this.asServerUser(path.join(BIN_DIR, 'pg_ctl'), [
      'stop',
      '--pgdata',
      this.dataDir,
      '--mode',
      'immediate',
      '--wait',
    ]).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }

  private async asServerUser(command: string, args: string[]): Promise<void> {
    if (process.getuid?.() === 0) await execa('runuser', ['-u', SERVER_USER, '--', command, ...args]);
    else await execa(command, args);
  }
}

function serverBinDir(): string {
  const versions = readdirSync('/usr/lib/postgresql', { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && /^\d+$/.test(entry.name))
    .map((entry) => Number(entry.name))
    .sort((a, b) => b - a);
  if (versions[0] === undefined) throw new Error('no PostgreSQL server installed: run scripts/provision.sh');
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

async function serverUser(): Promise<{ uid: number; gid: number }> {
  if (process.getuid?.() !== 0) return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const { stdout } = await execa('id', ['-u', SERVER_USER]);
  const { stdout: group } = await execa('id', ['-g', SERVER_USER]);
  return { uid: Number(stdout.trim()), gid: Number(group.trim()) };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
