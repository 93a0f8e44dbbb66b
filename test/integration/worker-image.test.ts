import { createReadStream, readFileSync, statSync } from 'node:fs';
import { mkdir, copyFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../support/paths.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const BASE = 'action-worker/node-base:20';
const IMAGE = 'action-worker/worker:test';
const version = (
  JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }
).version;

afterAll(removeTempDirs);

/**
 * better-sqlite3's prebuilt binary as its release host would serve it, made from the one built here (the
 * base image runs this machine's Node.js, so the ABI and libc match), on a loopback HTTP server: the
 * build's `npm ci` cannot reach the release host from here, and the base has no compiler.
 */
async function serveSqlitePrebuilt(): Promise<{ url: string; close: () => Promise<void> }> {
  const packageDir = path.join(projectRoot, 'node_modules', 'better-sqlite3');
  const { version: sqliteVersion } = JSON.parse(
    readFileSync(path.join(packageDir, 'package.json'), 'utf8'),
  ) as { version: string };
  const dir = await tempDir('sqlite-prebuilt');
  await mkdir(path.join(dir, 'build', 'Release'), { recursive: true });
  await copyFile(
    path.join(packageDir, 'build', 'Release', 'better_sqlite3.node'),
    path.join(dir, 'build', 'Release', 'better_sqlite3.node'),
  );
  const name = `better-sqlite3-v${sqliteVersion}-node-v${process.versions.modules}-linux-x64.tar.gz`;
  await execa('tar', ['-czf', path.join(dir, name), '-C', dir, 'build']);
  const server = createServer((request, response) => {
    if (request.url !== `/v${sqliteVersion}/${name}`) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/gzip' });
    createReadStream(path.join(dir, name)).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) =>
        server.close(() => {
          resolve();
        }),
      ),
  };
}

describe('the worker image', () => {
  it(
    'builds from a locally made Node.js base, production dependencies only, and runs as non-root',
    { timeout: 600_000 },
    async () => {
      // No registry: the base image is made from this machine's Node.js (docker/node-base/build.sh).
      await execa('bash', [path.join(projectRoot, 'docker', 'node-base', 'build.sh'), BASE]);
      // The build stage runs `npm ci`, which needs the registry (and the SQLite binary): the host's network.
      const prebuilt = await serveSqlitePrebuilt();
      const build = await execa(
        'docker',
        // --force-rm: a failed step leaves no container behind.
        [
          'build',
          '--force-rm',
          '--network',
          'host',
          '--build-arg',
          `NODE_IMAGE=${BASE}`,
          '--build-arg',
          `BETTER_SQLITE3_BINARY_HOST=${prebuilt.url}`,
          '-t',
          IMAGE,
          projectRoot,
        ],
        { reject: false, all: true },
      ).finally(() => prebuilt.close());
      expect(build.exitCode, build.all).toBe(0);

      const run = await execa('docker', ['run', '--rm', IMAGE, '--version']);
      expect(run.stdout.trim()).toBe(version);

      const inspect = await execa('docker', ['image', 'inspect', IMAGE, '--format', '{{json .Config}}']);
      const config = JSON.parse(inspect.stdout) as { User: string; Entrypoint: string[]; Env: string[] };
      expect(config.User).toBe('node');
      expect(config.Entrypoint).toEqual(['node', '/app/bin/action-worker.js']);
      expect(config.Env).toContain('NODE_ENV=production');

      const modules = await execa('docker', [
        'run',
        '--rm',
        '--entrypoint',
        'node',
        IMAGE,
        '-e',
        "const fs = require('fs'); console.log(['bullmq', 'dockerode', 'vitest', 'typescript', 'eslint'].map((m) => m + '=' + fs.existsSync('/app/node_modules/' + m)).join(' '))",
      ]);
      expect(modules.stdout.trim()).toBe(
        'bullmq=true dockerode=true vitest=false typescript=false eslint=false',
      );
      // The embedded metadata store's native addon loads and works in the image.
      const sqlite = await execa('docker', [
        'run',
        '--rm',
        '--entrypoint',
        'node',
        IMAGE,
        '-e',
        "const D = require('/app/node_modules/better-sqlite3'); console.log(new D(':memory:').prepare('select 41 + 1 as n').get().n)",
      ]);
      expect(sqlite.stdout.trim()).toBe('42');
    },
  );

  it(
    'reaches the Docker engine through a mounted socket, given the socket’s group',
    { timeout: 120_000 },
    async () => {
      const socket = '/var/run/docker.sock';
      const gid = statSync(socket).gid;
      const gc = await execa(
        'docker',
        [
          'run',
          '--rm',
          '-v',
          `${socket}:${socket}`,
          '--group-add',
          String(gid),
          IMAGE,
          'gc',
          '--dry-run',
          '--json',
        ],
        { reject: false, all: true },
      );
      expect(gc.exitCode, gc.all).toBe(0);
      expect(JSON.parse(gc.stdout)).toMatchObject({
        removedContainers: expect.any(Array),
        kept: expect.any(Array),
      });
    },
  );
});
