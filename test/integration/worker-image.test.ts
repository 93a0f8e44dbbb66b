import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../support/paths.js';

const BASE = 'action-worker/node-base:20';
const IMAGE = 'action-worker/worker:test';
const version = (
  JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }
).version;

describe('the worker image', () => {
  it(
    'builds from a locally made Node.js base, production dependencies only, and runs as non-root',
    { timeout: 600_000 },
    async () => {
      // No registry: the base image is made from this machine's Node.js (docker/node-base/build.sh).
      await execa('bash', [path.join(projectRoot, 'docker', 'node-base', 'build.sh'), BASE]);
      // The build stage runs `npm ci`, which needs the registry: the host's network.
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
          '-t',
          IMAGE,
          projectRoot,
        ],
        { reject: false, all: true },
      );
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
