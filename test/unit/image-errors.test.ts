import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { classifyPullError } from '../../src/adapters/docker/pull-image.js';
import { registryAuthFor, registryOf } from '../../src/adapters/docker/registry-auth.js';

describe('classifyPullError', () => {
  it.each([
    ['no basic auth credentials', undefined, 'E_IMAGE_UNAUTHORIZED', false],
    ['unauthorized: authentication required', 500, 'E_IMAGE_UNAUTHORIZED', false],
    ['denied: requested access to the resource is denied', undefined, 'E_IMAGE_UNAUTHORIZED', false],
    ['manifest unknown', 404, 'E_IMAGE_NOT_FOUND', false],
    ['pull access denied for x, repository does not exist', 404, 'E_IMAGE_UNAUTHORIZED', false],
    ['Get "https://r/v2/": dial tcp: i/o timeout', 500, 'E_IMAGE_PULL', true],
    ['received unexpected HTTP status: 503 Service Unavailable', 500, 'E_IMAGE_PULL', true],
    // The engine refusing the reference itself is bad input, not a registry hiccup.
    ['invalid reference format', 400, 'E_INVALID_IMAGE_REFERENCE', false],
    [
      'invalid reference format: repository name must be lowercase',
      undefined,
      'E_INVALID_IMAGE_REFERENCE',
      false,
    ],
  ])('%s → %s', (message, status, code, retryable) => {
    expect(classifyPullError('img', message, status)).toMatchObject({ code, retryable });
  });
});

describe('registry credentials', () => {
  afterAll(removeTempDirs);

  it('finds the registry of a reference', () => {
    expect(registryOf('ubuntu:22.04')).toBe('docker.io');
    expect(registryOf('library/ubuntu')).toBe('docker.io');
    expect(registryOf('ghcr.io/org/img:1')).toBe('ghcr.io');
    expect(registryOf('localhost:5000/img')).toBe('localhost:5000');
  });

  it('reads the registry host as Docker and the reference parser do', () => {
    // An uppercase first component can only be a host: Docker pulls `Registry/x` from "Registry".
    expect(registryOf('Registry/x')).toBe('Registry');
    expect(registryOf('localhost:5000/x')).toBe('localhost:5000');
    expect(registryOf('docker.io/library/x')).toBe('docker.io');
    expect(registryOf('index.docker.io/library/x')).toBe('docker.io');
    expect(registryOf('x')).toBe('docker.io');
    expect(registryOf('a.b/x')).toBe('a.b');
    // Not a reference at all: no registry, so no credentials.
    expect(registryOf('../x')).toBeUndefined();
  });

  it('never sends Docker Hub credentials to a host the enqueuer names', async () => {
    const dir = await tempDir('docker-config');
    await writeFile(
      path.join(dir, 'config.json'),
      JSON.stringify({
        auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('hub:secret').toString('base64') } },
      }),
    );
    // The attack: a reference whose registry Docker reads as "Registry", not Docker Hub.
    expect(await registryAuthFor('Registry/x', dir)).toBeUndefined();
    expect(await registryAuthFor('Registry:5000/x:1', dir)).toBeUndefined();
    expect(await registryAuthFor('x', dir)).toMatchObject({ username: 'hub' });
    expect(await registryAuthFor('docker.io/library/x', dir)).toMatchObject({ username: 'hub' });
  });

  it('reads auths entries from config.json, and nothing when there is none', async () => {
    const dir = await tempDir('docker-config');
    expect(await registryAuthFor('ghcr.io/x/y', dir)).toBeUndefined();
    await writeFile(
      path.join(dir, 'config.json'),
      JSON.stringify({
        auths: {
          'ghcr.io': { auth: Buffer.from('me:pa:ss').toString('base64') },
          'https://index.docker.io/v1/': { identitytoken: 'tok' },
        },
      }),
    );
    expect(await registryAuthFor('ghcr.io/x/y:1', dir)).toEqual({
      username: 'me',
      password: 'pa:ss',
      serveraddress: 'ghcr.io',
    });
    expect(await registryAuthFor('ubuntu', dir)).toEqual({
      identitytoken: 'tok',
      serveraddress: 'https://index.docker.io/v1/',
    });
    expect(await registryAuthFor('quay.io/x/y', dir)).toBeUndefined();
  });
});
