import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectorySecretStore } from '../../src/adapters/local/directory-secret-store.js';
import { buildInvocationRequest } from '../../src/app/invocations.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { invokeOptions } from '../support/invoke-options.js';

const base = invokeOptions();

async function actionDir(config: Record<string, unknown>): Promise<string> {
  const dir = await tempDir('invoke-action');
  await writeFile(path.join(dir, 'action.json'), JSON.stringify(config));
  return dir;
}

afterAll(removeTempDirs);

describe('buildInvocationRequest', () => {
  it('builds the request from an action directory, with secrets as references only', async () => {
    const dir = await actionDir({
      name: 'act',
      image_uri: 'registry.example/act:1',
      parameters: [{ name: 'mode', required: true }, { name: 'token' }],
      timeout: 30,
    });
    const request = await buildInvocationRequest(
      {
        ...base,
        actionDir: dir,
        datasets: ['ds_one'],
        files: ['**/*.bag'],
        params: ['mode=fast'],
        secrets: ['token=api-token'],
        timeout: '90s',
        idempotencyId: 'nightly',
      },
      { ROBOTO_ORG_ID: 'og_team' },
    );
    expect(request).toMatchObject({
      action: { image: 'registry.example/act:1' },
      parameter_values: { mode: 'fast', token: 'roboto-secret://api-token' },
      secret_parameters: ['token'],
      data_source_id: 'ds_one',
      timeout_minutes: 2,
      org_id: 'og_team',
      idempotency_id: 'nightly',
    });
    expect(request.input?.files?.[0]).toMatchObject({ dataset_id: 'ds_one', paths: ['**/*.bag'] });
  });

  it.each([
    [{ secrets: ['token=env:API_TOKEN'] }, /invoke sends references, never values/],
    [{ secrets: ['token=literal:abc'] }, /invoke sends references, never values/],
    [{ params: ['token=x'], secrets: ['token=api-token'] }, /parameter "token" is given twice/],
    [{ query: 'size >' }, /query/i],
  ])('refuses %j', async (extra, message) => {
    await expect(buildInvocationRequest({ ...base, image: 'img:1', ...extra }, {})).rejects.toThrow(message);
  });

  it('needs an image the workers can get: invoke builds nothing', async () => {
    const dir = await actionDir({ name: 'act' });
    await expect(buildInvocationRequest({ ...base, actionDir: dir }, {})).rejects.toThrow(
      /has no image_uri in action.json: give --image REF/,
    );
    await expect(buildInvocationRequest(base, {})).rejects.toThrow(
      /give an action directory, --image, or both/,
    );
  });

  it('refuses a missing required parameter before anything is stored', async () => {
    const dir = await actionDir({
      name: 'act',
      image_uri: 'img:1',
      parameters: [{ name: 'mode', required: true }],
    });
    await expect(buildInvocationRequest({ ...base, actionDir: dir }, {})).rejects.toThrow(/mode/);
  });
});

describe('DirectorySecretStore', () => {
  it('reads <dir>/<org>/<name> before <dir>/<name>, without the trailing newline', async () => {
    const dir = await tempDir('secrets');
    await mkdir(path.join(dir, 'og_a'));
    await writeFile(path.join(dir, 'token'), 'shared\n');
    await writeFile(path.join(dir, 'og_a', 'token'), 'org-a');
    const store = new DirectorySecretStore(dir);
    expect(await store.resolve('token', 'og_a')).toBe('org-a');
    expect(await store.resolve('token', 'og_b')).toBe('shared');
    expect(await store.resolve('missing', 'og_a')).toBeUndefined();
    // A name is a file name, never a path.
    expect(await store.resolve('../token', 'og_a')).toBeUndefined();
    expect(await store.resolve('..', 'og_a')).toBeUndefined();
    expect(await new DirectorySecretStore(null).resolve('token', 'og_a')).toBeUndefined();
  });
});
